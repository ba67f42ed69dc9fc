//! `POST /hooks/{app}/{secret}`: the deployment webhook a Git host calls on a push (GitHub's and
//! GitLab's payloads). No admin token: the secret in the URL is the app's webhook secret.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiResult;
use super::AppState;
use crate::error::Error;
use crate::service::hooks::{HookEvent, HookOutcome};

/// `202 Accepted` with the deployment it started, or `200` with why nothing was deployed.
pub async fn deploy_hook(
    State(state): State<AppState>,
    Path((app, secret)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let body = json_body(header("content-type"), body)?;
    let event = HookEvent::parse(header("x-github-event"), header("x-gitlab-event"), &body)?;
    Ok(match state.service.run_hook(&app, &secret, event).await? {
        HookOutcome::Deployed(deployment) => {
            (StatusCode::ACCEPTED, Json(json!({ "deployment": deployment }))).into_response()
        }
        HookOutcome::Ignored(why) => Json(json!({ "ignored": why })).into_response(),
    })
}

/// The payload's JSON: the body itself, or GitHub's form-encoded `payload=` field (the content
/// type a new GitHub webhook starts with).
fn json_body(content_type: Option<&str>, body: Bytes) -> Result<Bytes, Error> {
    if !content_type.is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")) {
        return Ok(body);
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| Error::Invalid(format!("the form-encoded webhook body cannot be read: {e}")))?;
    // Without the field (a ping needs none) the body is read as it is.
    Ok(fields.into_iter().find(|(name, _)| name == "payload").map_or(body, |(_, payload)| Bytes::from(payload)))
}
