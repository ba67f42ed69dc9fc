//! Who is asking: the operator (bearer admin token) or an app's deployer (basic auth with the
//! app's deployment credentials, for git).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::ApiError;
use crate::secrets;
use crate::state::AppState;

/// Middleware for `/api`: requires `Authorization: Bearer <admin token>`.
pub async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(token) if is_admin_token(&state, token) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid admin token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing admin token: send `Authorization: Bearer <token>` (the token is in <data-dir>/admin-token)",
        )
        .into_response(),
    }
}

pub fn is_admin_token(state: &AppState, token: &str) -> bool {
    matches!(state.shared.store.admin_token_hash(), Ok(Some(hash)) if hash == secrets::token_sha256(token))
}

/// `(user, password)` from `Authorization: Basic …`.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Checks an app's deployment credentials: the user must be the app itself.
pub fn app_credentials_valid(state: &AppState, app: &str, user: &str, password: &str) -> bool {
    if user != app {
        return false;
    }
    matches!(state.shared.store.password_hash(app), Ok(Some(hash)) if secrets::verify_password(password, &hash))
}

pub fn basic_challenge(app: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, format!("Basic realm=\"slipway {app}\""))],
        "authentication required: use the app's deployment credentials (user = app name)\n",
    )
        .into_response()
}
