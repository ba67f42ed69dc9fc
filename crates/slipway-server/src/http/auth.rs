//! Who is asking: the operator (bearer admin token) or an app's deployer (basic auth with the
//! app's deployment credentials, for git).

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::error::ApiError;
use super::AppState;
use crate::app_name::AppName;
use crate::service::credentials::{Refused, Via};

/// Middleware for `/api`: requires `Authorization: Bearer <admin token>`.
pub async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(token) if state.service.is_admin_token(token) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid admin token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing admin token: send `Authorization: Bearer <token>` (the token is in <data-dir>/admin-token)",
        )
        .into_response(),
    }
}

/// `(user, password)` from `Authorization: Basic …`.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Lets a request with the app's deployment credentials through (the user must be the app);
/// otherwise the answer to send: a challenge (401), or 429 for a locked-out address or too many
/// checks at once.
pub async fn require_deployer(
    state: &AppState,
    app: &AppName,
    ip: IpAddr,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let Some((user, password)) = basic_credentials(headers) else { return Err(basic_challenge(app)) };
    if user != app.as_str() {
        return Err(basic_challenge(app));
    }
    match state.service.deployer_login(Via::Git, ip, &user, &password).await {
        Ok(_) => Ok(()),
        Err(Refused::Wrong) => Err(basic_challenge(app)),
        Err(Refused::LockedOut(left)) => Err(too_many(
            format!("too many failed logins for `{app}` from your address: try again in {}s", left.as_secs().max(1)),
            left,
        )),
        Err(Refused::Busy) => {
            Err(too_many("too many logins at once: try again in a moment".into(), Duration::from_secs(1)))
        }
    }
}

fn too_many(message: String, retry_after: Duration) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message).into_response();
    if let Ok(value) = header::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

pub fn basic_challenge(app: &AppName) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, format!("Basic realm=\"slipway {app}\""))],
        "authentication required: use the app's deployment credentials (user = app name)\n",
    )
        .into_response()
}
