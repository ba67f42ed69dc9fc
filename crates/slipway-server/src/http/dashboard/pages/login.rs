//! Logging in with the admin token, and out.

use askama::Template;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::super::session::{self, CurrentSession};
use super::super::{Chrome, DashState, Page};
use crate::service::credentials::Refused;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: String,
    notice: String,
    next: String,
}

#[derive(Deserialize, Default)]
pub(super) struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    expired: Option<String>,
}

pub(super) async fn login_page(
    State(dash): State<DashState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    if session::session_id(&headers).and_then(|id| dash.sessions.get(&id)).is_some() {
        return Redirect::to("/").into_response();
    }
    let notice =
        if query.expired.is_some() { "Your session ended: log in again, then send the form again." } else { "" };
    let page = LoginPage {
        chrome: Chrome::new("Log in", None),
        error: String::new(),
        notice: notice.to_string(),
        next: local_or_root(&query.next),
    };
    Page::render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn login(
    State(dash): State<DashState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !session::same_origin(&dash, &headers) {
        return Page::error(StatusCode::FORBIDDEN, "Request refused", "This login form was sent from another site.");
    }
    let next = local_or_root(&form.next);
    let token = form.token.trim();
    let refused = if token.is_empty() {
        Some("Enter the admin token.".to_string())
    } else {
        match dash.app.service.admin_login(peer.ip(), token) {
            Ok(()) => None,
            Err(Refused::LockedOut(left)) => Some(format!(
                "Too many wrong tokens from your address: try again in {} minutes.",
                left.as_secs().div_ceil(60)
            )),
            Err(_) => Some("That is not the admin token: no session was started.".to_string()),
        }
    };
    if let Some(error) = refused {
        let page =
            LoginPage { chrome: Chrome::new("Log in", None), error: error.to_string(), notice: String::new(), next };
        return Page::render(StatusCode::UNAUTHORIZED, &page);
    }
    let id = dash.sessions.create();
    let secure = dash.app.service.shared().config.tls.is_some();
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::session_cookie(&id, session::SESSION_TTL, secure));
    response
}

fn local_or_root(next: &str) -> String {
    if session::is_local_path(next) {
        next.to_string()
    } else {
        "/".to_string()
    }
}

pub(super) async fn logout(State(dash): State<DashState>, Extension(session): Extension<CurrentSession>) -> Response {
    dash.sessions.remove(&session);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie());
    response
}
