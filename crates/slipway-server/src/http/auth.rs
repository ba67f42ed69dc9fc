//! Who is asking: the operator (bearer admin token) or an app's deployer (basic auth with the
//! app's deployment credentials, for git).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::error::ApiError;
use super::AppState;
use crate::app_name::AppName;

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

/// Whether the request carries the app's deployment credentials (the user must be the app).
pub async fn is_deployer(state: &AppState, app: &AppName, headers: &HeaderMap) -> bool {
    match basic_credentials(headers) {
        Some((user, password)) if user == app.as_str() => {
            state.service.check_password(app, &password).await.unwrap_or(false)
        }
        _ => false,
    }
}

pub fn basic_challenge(app: &AppName) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, format!("Basic realm=\"slipway {app}\""))],
        "authentication required: use the app's deployment credentials (user = app name)\n",
    )
        .into_response()
}
