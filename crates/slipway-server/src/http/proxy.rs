//! The reverse proxy: a request whose Host is `<app>.localhost` (any port) goes to that app's
//! running release. Bodies stream both ways, hop-by-hop headers are dropped, `X-Forwarded-*` are
//! set, and WebSocket upgrades are passed through. 404 for an unknown app, 502 when it is down.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::AppState;
use crate::app_name::AppName;

pub type HttpClient = Client<HttpConnector, Body>;

pub fn client() -> HttpClient {
    // Without TCP_NODELAY a response whose head and body arrive separately waits ~40 ms for a
    // delayed ACK (Nagle); the accepting side sets it too (see `serve`).
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// Middleware in front of everything: app hosts are proxied, the rest goes on to slipway's routes.
pub async fn route_app_hosts(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(label) = app_label(request.headers(), request.uri()) else {
        return next.run(request).await;
    };
    // A running app exists; the store is asked only when nothing runs under that name.
    let shared = state.service.shared();
    let running = shared.supervisor.port(&label);
    let app = AppName::parse(&label).ok().filter(|app| running.is_some() || state.service.require_app(app).is_ok());
    let Some(app) = app else {
        return page(
            StatusCode::NOT_FOUND,
            "No such app",
            &format!("There is no app named {} on this slipway.", html_escape(&label)),
        );
    };
    // An app stopped for being idle starts now; the request waits for it.
    let running = match running {
        Some(port) => Some(port),
        None => state.service.web_port(&app).await,
    };
    let Some(port) = running else {
        let process = shared.supervisor.info(&app);
        return page(
            StatusCode::BAD_GATEWAY,
            "App not running",
            &format!(
                "{} is not answering right now (its process is {}). Check its deployments and `slipway logs {} --app`.",
                html_escape(&label),
                format!("{:?}", process.state).to_lowercase(),
                html_escape(&label)
            ),
        );
    };
    match forward(&state, request, port, &label).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!("proxy to {label}: {e}");
            page(
                StatusCode::BAD_GATEWAY,
                "App not answering",
                &format!("{} did not answer the request.", html_escape(&label)),
            )
        }
    }
}

/// `hello` from `Host: hello.localhost:8080`; `None` for any other host (slipway's own pages).
fn app_label(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.host())?;
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host.strip_suffix(".localhost").filter(|label| !label.is_empty()).map(String::from)
}

async fn forward(state: &AppState, mut request: Request, port: u16, app: &str) -> Result<Response, String> {
    let client_addr = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let original_host = request.headers().get(header::HOST).cloned();
    let wants_upgrade = request.headers().contains_key(header::UPGRADE);
    let upgrade_value = request.headers().get(header::UPGRADE).cloned();
    let client_upgrade = wants_upgrade.then(|| hyper::upgrade::on(&mut request));

    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    *request.uri_mut() = upstream_uri(port, &path)?;
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    let forwarded_for = match (headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()), client_addr) {
        (Some(prior), Some(ip)) => Some(format!("{prior}, {ip}")),
        (None, Some(ip)) => Some(ip),
        (prior, None) => prior.map(String::from),
    };
    if let Some(value) = forwarded_for.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert("x-forwarded-for", value);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(state.service.shared().config.http_scheme()));
    if let Some(host) = original_host {
        headers.insert("x-forwarded-host", host);
    }
    if let Some(upgrade) = upgrade_value {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }

    let replay = Replay::of(&request, &path, wants_upgrade);
    let mut response = match (state.proxy.request(request).await, replay) {
        (Ok(response), _) => response,
        (Err(e), Some(replay)) if is_retryable(&e) => replay.retry(state, app, e).await?,
        (Err(e), _) => return Err(e.to_string()),
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else { return Err("the app switched protocols unasked".into()) };
        let app_upgrade = hyper::upgrade::on(&mut response);
        let app = app.to_string();
        tokio::spawn(async move {
            match (client_upgrade.await, app_upgrade.await) {
                (Ok(client), Ok(upstream)) => {
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(upstream)).await;
                }
                (Err(e), _) | (_, Err(e)) => tracing::warn!("websocket upgrade for {app}: {e}"),
            }
        });
        let (parts, _) = response.into_parts();
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    strip_hop_by_hop(response.headers_mut());
    Ok(response.map(Body::new))
}

fn upstream_uri(port: u16, path: &str) -> Result<Uri, String> {
    format!("http://127.0.0.1:{port}{path}").parse().map_err(|e| format!("bad URI: {e}"))
}

/// How many times a request that never reached an app is tried again, on the app's live port.
const RETRIES: u32 = 4;

/// What is needed to send a request again: only for requests that can be sent twice safely —
/// GET, HEAD or OPTIONS, with no body, not an upgrade.
struct Replay {
    method: axum::http::Method,
    path: String,
    headers: HeaderMap,
}

impl Replay {
    fn of(request: &Request, path: &str, upgrade: bool) -> Option<Self> {
        use axum::http::Method;
        let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let headers = request.headers();
        let bodyless = !headers.contains_key(header::TRANSFER_ENCODING)
            && headers.get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
        (safe && bodyless && !upgrade).then(|| Replay {
            method: request.method().clone(),
            path: path.to_string(),
            headers: headers.clone(),
        })
    }

    /// Sends the request again to the app's live port — during a release switch, the new one —
    /// until it gets an answer or the tries run out.
    async fn retry(
        self,
        state: &AppState,
        app: &str,
        first: impl std::fmt::Display,
    ) -> Result<axum::http::Response<hyper::body::Incoming>, String> {
        let mut last = first.to_string();
        for attempt in 1..=RETRIES {
            tokio::time::sleep(std::time::Duration::from_millis(25 * u64::from(attempt))).await;
            let Some(port) = state.service.shared().supervisor.port(app) else { continue };
            let mut request = Request::new(Body::empty());
            *request.method_mut() = self.method.clone();
            *request.uri_mut() = upstream_uri(port, &self.path)?;
            *request.headers_mut() = self.headers.clone();
            match state.proxy.request(request).await {
                Ok(response) => return Ok(response),
                Err(e) if is_retryable(&e) => last = e.to_string(),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(last)
    }
}

/// The request never reached the app: the connection was refused, or closed or reset before any
/// answer (a process that was stopping).
fn is_retryable(error: &hyper_util::client::legacy::Error) -> bool {
    if error.is_connect() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionRefused) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem\"><h1>{} {title}</h1><p>{message}</p><p><small>slipway</small></p></body></html>",
        status.as_u16()
    );
    (status, Html(body)).into_response()
}

pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(host: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        app_label(&headers, &Uri::from_static("/"))
    }

    #[test]
    fn app_hosts_are_recognised_with_any_port() {
        assert_eq!(label("hello.localhost:8080").as_deref(), Some("hello"));
        assert_eq!(label("Hello.LocalHost").as_deref(), Some("hello"));
        assert_eq!(label("127.0.0.1:8080"), None);
        assert_eq!(label("localhost:8080"), None);
        assert_eq!(label("evil.com"), None);
    }

    #[test]
    fn hop_by_hop_headers_go_including_those_named_in_connection() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
