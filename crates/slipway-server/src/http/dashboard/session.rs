//! Dashboard sessions and CSRF protection.
//!
//! Logging in with the admin token gives the browser a random session id in an `HttpOnly`,
//! `SameSite=Strict` cookie; the store keeps the session (its expiry and CSRF token), keyed by the
//! id's SHA-256, so the admin token itself never travels in a cookie, logging out really ends the
//! session, and a login holds on every instance sharing the store. The one-time messages to show
//! stay in the memory of the instance that made them.
//!
//! Every state-changing request goes through [`require_session`]: it needs a live session, an
//! `Origin` (when the browser sends one) that is this server, and a `csrf` form field equal to the
//! session's token; anything else is refused with 403 before a handler runs. That makes "every POST
//! form is protected" a property of the router, not of each handler.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::{DashState, Page};
use crate::secrets;
use crate::service::Service;

pub const COOKIE: &str = "slipway_session";
/// A session lasts this long after logging in, however busy it is.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many live sessions; the oldest go first.
const MAX_SESSIONS: usize = 256;
/// Largest form body the dashboard reads (settings values are the largest thing in a form).
pub const MAX_FORM_BODY: usize = 256 * 1024;

/// Something to show once on the next page: a notice, an error, or a new deployment password.
#[derive(Debug, Clone)]
pub enum Flash {
    Notice(String),
    Error(String),
    /// The password of `app`, shown once, after creating it or resetting its credentials.
    Password {
        app: String,
        password: String,
    },
}

struct Session {
    csrf: String,
    expires: Instant,
    flashes: Vec<Flash>,
}

/// The live sessions: in the store (the server's), or in memory (unit tests).
pub struct Sessions {
    ttl: Duration,
    by_id_hash: Mutex<HashMap<String, Session>>,
    store: Option<Service>,
}

/// The session of the request being handled (put in its extensions by [`require_session`]).
#[derive(Debug, Clone)]
pub struct CurrentSession {
    id_hash: String,
    pub csrf: String,
}

impl Sessions {
    /// Sessions kept in the service's store.
    pub fn new(ttl: Duration, service: Service) -> Self {
        Sessions { ttl, by_id_hash: Mutex::default(), store: Some(service) }
    }

    #[cfg(test)]
    fn in_memory(ttl: Duration) -> Self {
        Sessions { ttl, by_id_hash: Mutex::default(), store: None }
    }

    /// A new session; returns its id (for the cookie).
    pub fn create(&self) -> String {
        let id = secrets::generate_token();
        let (id_hash, csrf) = (secrets::token_sha256(&id), secrets::generate_token());
        if let Some(service) = &self.store {
            let expires = time::OffsetDateTime::now_utc() + self.ttl;
            if let Err(e) = service.shared().store.create_session(&id_hash, &csrf, expires) {
                tracing::warn!("storing a dashboard session: {e}");
            }
        }
        self.remember(id_hash, csrf);
        id
    }

    /// Keeps the session in memory, for its messages (and, without a store, for itself).
    fn remember(&self, id_hash: String, csrf: String) {
        let now = Instant::now();
        let mut sessions = self.by_id_hash.lock().unwrap();
        sessions.retain(|_, s| s.expires > now);
        while sessions.len() >= MAX_SESSIONS {
            let oldest = sessions.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone()).expect("not empty");
            sessions.remove(&oldest);
        }
        sessions.insert(id_hash, Session { csrf, expires: now + self.ttl, flashes: Vec::new() });
    }

    /// The live session with this id; an expired one is forgotten.
    pub fn get(&self, id: &str) -> Option<CurrentSession> {
        let id_hash = secrets::token_sha256(id);
        if let Some(service) = &self.store {
            let store = &service.shared().store;
            let (csrf, expires) = store.session(&id_hash).ok().flatten()?;
            if expires <= time::OffsetDateTime::now_utc() {
                let _ = store.delete_session(&id_hash);
                return None;
            }
            return Some(CurrentSession { csrf, id_hash });
        }
        let mut sessions = self.by_id_hash.lock().unwrap();
        let session = sessions.get(&id_hash)?;
        if session.expires <= Instant::now() {
            sessions.remove(&id_hash);
            return None;
        }
        Some(CurrentSession { csrf: session.csrf.clone(), id_hash })
    }

    pub fn remove(&self, session: &CurrentSession) {
        if let Some(service) = &self.store {
            if let Err(e) = service.shared().store.delete_session(&session.id_hash) {
                tracing::warn!("ending a dashboard session: {e}");
            }
        }
        self.by_id_hash.lock().unwrap().remove(&session.id_hash);
    }

    pub fn flash(&self, session: &CurrentSession, flash: Flash) {
        if !self.by_id_hash.lock().unwrap().contains_key(&session.id_hash) {
            // A session made on another instance.
            self.remember(session.id_hash.clone(), session.csrf.clone());
        }
        if let Some(s) = self.by_id_hash.lock().unwrap().get_mut(&session.id_hash) {
            s.flashes.push(flash);
        }
    }

    /// The messages waiting for this session; each is shown once.
    pub fn take_flashes(&self, session: &CurrentSession) -> Vec<Flash> {
        self.by_id_hash
            .lock()
            .unwrap()
            .get_mut(&session.id_hash)
            .map(|s| std::mem::take(&mut s.flashes))
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn expire_all_now(&self) {
        for s in self.by_id_hash.lock().unwrap().values_mut() {
            s.expires = Instant::now();
        }
    }
}

/// The session id from the request's `Cookie` headers.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
}

/// `Set-Cookie` for a new session. `Secure` when slipway serves HTTPS.
pub fn session_cookie(id: &str, ttl: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        ttl.as_secs()
    ))
    .expect("cookie is ASCII")
}

pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("slipway_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// A form's CSRF field; other fields are the handler's business.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Middleware for every dashboard route but the login page and the assets: no session → the
/// login page (GET) or 303 to it (a form sent after the session ended); a state-changing request
/// whose origin or CSRF token is wrong → 403.
pub async fn require_session(State(dash): State<DashState>, request: Request, next: Next) -> Response {
    let session = session_id(request.headers()).and_then(|id| dash.sessions.get(&id));
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
    let Some(session) = session else {
        let target = if is_read {
            login_url(request.uri().path_and_query().map(|p| p.as_str()))
        } else {
            "/login?expired=1".to_string()
        };
        let mut response = Redirect::to(&target).into_response();
        // A cookie that names no live session (forged, expired, logged out) is dropped.
        if session_id(request.headers()).is_some() {
            response.headers_mut().insert(header::SET_COOKIE, clear_cookie());
        }
        return response;
    };
    let mut request = request;
    if !is_read {
        if !same_origin(&dash, request.headers()) {
            return forbidden("This form was sent from another site, so slipway did not act on it.");
        }
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BODY).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return Page::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Form too large",
                    &format!("Forms are limited to {} KiB.", MAX_FORM_BODY / 1024),
                )
            }
        };
        let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        let sent = Form::<CsrfField>::from_request(probe, &()).await.map(|Form(f)| f.csrf).unwrap_or_default();
        if sent.is_empty() || !secrets::constant_time_eq(&sent, &session.csrf) {
            return forbidden("The form's security token is missing or out of date (CSRF protection). Go back, reload the page and try again.");
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// `/login?next=<path>`, only for paths on this site.
fn login_url(next: Option<&str>) -> String {
    match next {
        Some(next) if next != "/" && is_local_path(next) => format!("/login?next={}", encode_component(next)),
        _ => "/login".to_string(),
    }
}

/// A path on this server (not `//host` or `/\host`, which browsers treat as another site).
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control())
}

fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// When the browser says where a form came from (`Origin`), it must be this server.
pub fn same_origin(dash: &DashState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    origin == crate::http::public_base(&dash.app, headers)
}

fn forbidden(message: &str) -> Response {
    Page::error(StatusCode::FORBIDDEN, "Request refused", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end_at_logout() {
        let sessions = Sessions::in_memory(Duration::from_secs(60));
        let id = sessions.create();
        let session = sessions.get(&id).expect("a new session is live");
        assert_eq!(session.csrf.len(), 43);
        assert!(sessions.get("forged").is_none());
        sessions.remove(&session);
        assert!(sessions.get(&id).is_none(), "logged out");

        let id = sessions.create();
        sessions.expire_all_now();
        assert!(sessions.get(&id).is_none(), "expired");
    }

    #[test]
    fn flashes_are_shown_once() {
        let sessions = Sessions::in_memory(Duration::from_secs(60));
        let session = sessions.get(&sessions.create()).unwrap();
        sessions.flash(&session, Flash::Notice("saved".into()));
        assert_eq!(sessions.take_flashes(&session).len(), 1);
        assert!(sessions.take_flashes(&session).is_empty());
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; slipway_session=abc ; b=2"));
        assert_eq!(session_id(&headers).as_deref(), Some("abc"));
        let cookie = session_cookie("abc", SESSION_TTL, false);
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"));
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert!(is_local_path("/apps/x"));
        for bad in ["//evil.example", "/\\evil.example", "http://evil.example", "evil", "/a\nb"] {
            assert!(!is_local_path(bad), "{bad}");
        }
        assert_eq!(login_url(Some("/apps/x?tab=1")), "/login?next=/apps/x%3Ftab%3D1");
        assert!(
            secrets::constant_time_eq("abc", "abc")
                && !secrets::constant_time_eq("abc", "abd")
                && !secrets::constant_time_eq("abc", "ab")
        );
    }
}
