//! Everything on the HTTP port, in front of the service layer: the REST API ([`api`], with
//! Kudu's VFS in [`vfs`]), git smart HTTP ([`git`]), the dashboard ([`dashboard`]) and the reverse
//! proxy to the apps ([`proxy`]), which takes every request whose Host is `<app>.localhost`.
//! [`tls`] serves the same router over HTTPS.

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod git;
pub mod hooks;
pub mod listen;
pub mod proxy;
pub mod tls;
pub mod vfs;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap};
use axum::routing::{any, get};
use axum::Router;

use crate::service::Service;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// The proxy's connection pool to the apps.
    pub proxy: proxy::HttpClient,
}

/// The whole HTTP router: the app hosts first, then slipway's own routes.
pub fn router(service: Service) -> Router {
    let state = AppState { service, proxy: proxy::client() };
    Router::new()
        .nest("/api", api::router(state.clone()).layer(DefaultBodyLimit::max(extract::MAX_JSON_BODY)))
        .route(
            "/metrics",
            get(api::openmetrics).layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_admin)),
        )
        .route("/hooks/{app}/{secret}", axum::routing::post(hooks::deploy_hook))
        .route("/git/{repo}/{*rest}", any(git::handle))
        .merge(dashboard::router(state.clone()))
        // Outside the routes, so that a path no route matches (`/api/`, `/git/x`) answers JSON too.
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), proxy::route_app_hosts))
        .with_state(state)
}

/// `http://host:port` as the client reached us (Host header), else the listening address.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    let shared = state.service.shared();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .map(str::to_string)
        .unwrap_or_else(|| shared.http_addr.to_string());
    format!("{}://{host}", shared.config.http_scheme())
}
