//! The dashboard: server-rendered HTML pages at `/` — the portal's "blade" for each app.
//!
//! Pages are askama templates compiled into the binary (`templates/`), with one stylesheet and
//! one small script embedded from `assets/`, so the binary stays a single file. Every page works
//! without JavaScript; the script only adds conveniences (following a running deployment's log,
//! copy buttons).
//!
//! The operator logs in with the admin token ([`session`]); the pages then call the service layer,
//! as the REST API does, so a button does exactly what its API twin does.
//!
//! Layout: [`session`] (login cookie, CSRF), [`pages`] (the routes and their templates), [`views`]
//! (what the templates print).

mod pages;
pub mod session;
mod views;

use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use super::AppState;
use session::Sessions;

/// What the dashboard's handlers share: the server's state and the live sessions.
#[derive(Clone)]
pub struct DashState {
    pub app: AppState,
    pub sessions: Arc<Sessions>,
}

/// The dashboard's routes, ready to merge into the server's router.
pub fn router(state: AppState) -> Router<AppState> {
    let sessions = Arc::new(Sessions::new(session::SESSION_TTL, state.service.clone()));
    let dash = DashState { app: state, sessions };
    let protected =
        pages::protected_routes().layer(axum::middleware::from_fn_with_state(dash.clone(), session::require_session));
    Router::new()
        .merge(protected)
        .merge(pages::public_routes())
        .route("/assets/{file}", get(asset))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(dash)
}

/// Browsers get no inline script or style, no framing, no referrer to other sites (`same-origin`,
/// not `no-referrer`, which would make Chromium send `Origin: null` on our own forms); pages are never cached
/// (they can show a password).
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

const CSS: &str = include_str!("../../../assets/dashboard.css");
const JS: &str = include_str!("../../../assets/dashboard.js");

/// `?v=<hash of the content>`, so a new binary's assets are never taken from a stale cache.
static ASSET_VERSION: LazyLock<String> =
    LazyLock::new(|| crate::secrets::token_sha256(&format!("{CSS}{JS}"))[..12].to_string());

pub fn css_url() -> String {
    format!("/assets/dashboard.css?v={}", *ASSET_VERSION)
}

pub fn js_url() -> String {
    format!("/assets/dashboard.js?v={}", *ASSET_VERSION)
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

/// What every page's frame needs: its title, the assets, and (when logged in) the CSRF token for
/// the log-out button.
pub struct Chrome {
    pub title: String,
    pub csrf: String,
    pub css: String,
    pub js: String,
}

impl Chrome {
    pub fn new(title: impl Into<String>, csrf: Option<&str>) -> Self {
        Chrome { title: title.into(), csrf: csrf.unwrap_or_default().to_string(), css: css_url(), js: js_url() }
    }

    pub fn logged_in(&self) -> bool {
        !self.csrf.is_empty()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    heading: String,
    message: String,
}

/// Rendering pages.
pub struct Page;

impl Page {
    pub fn render(status: StatusCode, template: &impl Template) -> Response {
        match template.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("rendering a dashboard page: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "slipway could not render this page; the server log says why\n")
                    .into_response()
            }
        }
    }

    pub fn error(status: StatusCode, heading: &str, message: &str) -> Response {
        let page = ErrorPage {
            chrome: Chrome::new(heading, None),
            status: status.as_u16(),
            heading: heading.to_string(),
            message: message.to_string(),
        };
        Self::render(status, &page)
    }
}

/// Path parameters for the dashboard: a wrong one is an error page, not JSON.
pub struct DashPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for DashPath<T> {
    type Rejection = DashError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, DashError> {
        Ok(DashPath(super::extract::path_params(parts, state).await?))
    }
}

/// A failed dashboard request: an HTML page with the status and the reason.
#[derive(Debug)]
pub struct DashError(ApiError);

pub type DashResult<T> = Result<T, DashError>;

impl From<ApiError> for DashError {
    fn from(error: ApiError) -> Self {
        DashError(error)
    }
}

impl From<crate::error::Error> for DashError {
    fn from(error: crate::error::Error) -> Self {
        DashError(error.into())
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let heading = match self.0.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "That did not work",
            StatusCode::CONFLICT => "Conflict",
            s if s.is_server_error() => "Something went wrong",
            _ => "Request refused",
        };
        Page::error(self.0.status, heading, &self.0.message)
    }
}
