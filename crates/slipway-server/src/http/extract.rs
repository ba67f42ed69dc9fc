//! Extractors whose rejections are JSON errors that name what was wrong: [`ApiJson`] for bodies,
//! [`ApiPath`] for path parameters (an invalid app name in a URL is a 404 naming it, a deployment
//! id that is not a number a 400).

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::ApiError;
use crate::app_name::AppName;

/// Largest JSON body the API accepts; VFS uploads have their own limit.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// `Json<T>` whose rejections are JSON errors naming what was wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("request body too large: at most {MAX_JSON_BODY} bytes"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "expected a JSON body with `Content-Type: application/json`".to_string(),
        _ => format!("invalid JSON body: {}", rejection.body_text()),
    };
    // axum answers 422 for well-formed JSON of the wrong shape; to clients both are bad requests.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
    ApiError::new(status, message)
}

/// `Path<T>` whose rejections are JSON errors naming the parameter that was wrong.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        path_params(parts, state).await.map(ApiPath)
    }
}

/// The path parameters, or an error that names the one that was wrong.
pub async fn path_params<S: Send + Sync, T: DeserializeOwned + Send>(
    parts: &mut Parts,
    state: &S,
) -> Result<T, ApiError> {
    let rejection = match Path::<T>::from_request_parts(parts, state).await {
        Ok(Path(value)) => return Ok(value),
        Err(rejection) => rejection,
    };
    // A URL naming an app that cannot exist is answered like one naming an app that does not.
    let raw = RawPathParams::from_request_parts(parts, state).await.ok();
    let app = raw.and_then(|params| params.iter().find(|(name, _)| *name == "app").map(|(_, v)| v.to_string()));
    Err(match app {
        Some(name) if AppName::parse(&name).is_err() => ApiError::not_found(format!("no app `{name}`")),
        _ => path_rejection(rejection),
    })
}

/// The message of a deserializer's error (ours name the parameter and what was expected).
fn path_rejection(rejection: PathRejection) -> ApiError {
    let message = match &rejection {
        PathRejection::FailedToDeserializePathParams(e) => e.body_text(),
        other => other.body_text(),
    };
    ApiError::bad_request(message.trim_start_matches("Invalid URL: ").to_string())
}

/// `/apps/{app}/deployments/{id}`.
#[derive(Deserialize)]
pub struct DeploymentPath {
    pub app: AppName,
    pub id: DeploymentId,
}

/// A deployment as a URL names it: its id (`17`), or its number among the app's (`v3`); or a
/// 400 that says what was expected.
#[derive(Debug, Clone, Copy)]
pub enum DeploymentId {
    Id(i64),
    Number(i64),
}

impl<'de> Deserialize<'de> for DeploymentId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// JSON bodies may name a deployment by its id as a number; URLs always give text.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Id(i64),
            Text(String),
        }
        let text = match Given::deserialize(deserializer)? {
            Given::Id(id) => return Ok(DeploymentId::Id(id)),
            Given::Text(text) => text,
        };
        let parsed = match text.strip_prefix('v') {
            Some(number) => number.parse().map(DeploymentId::Number),
            None => text.parse().map(DeploymentId::Id),
        };
        parsed.map_err(|_| {
            serde::de::Error::custom(format!("invalid deployment `{text}`: expected a number such as `v3` or an id"))
        })
    }
}

impl DeploymentId {
    /// The deployment's id.
    pub fn resolve(self, service: &crate::service::Service, app: &AppName) -> crate::error::Result<i64> {
        match self {
            DeploymentId::Id(id) => Ok(id),
            DeploymentId::Number(number) => service.deployment_by_number(app, number).map(|d| d.id),
        }
    }
}

impl DeploymentPath {
    /// The deployment's id.
    pub fn id(&self, service: &crate::service::Service) -> crate::error::Result<i64> {
        self.id.resolve(service, &self.app)
    }
}
