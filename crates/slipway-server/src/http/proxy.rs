//! The reverse proxy: a request whose Host names an app (see [`crate::hosts`]: `<app>.localhost`,
//! `<app>.<base>`, a custom domain) goes to one of its running web processes. Bodies stream both
//! ways, hop-by-hop headers are dropped, `X-Forwarded-For/-Proto/-Host` are set (never passed on
//! from the client), and WebSocket upgrades are passed through. 404 for an unknown host or app,
//! 502 when it is down.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::listen::Scheme;
use super::AppState;
use crate::app_name::AppName;
use crate::hosts::{host_name, Target};
use crate::metrics::RequestRecord;
use crate::settings::FORCE_HTTPS;

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

/// The header that names a request in the app's log (Heroku's and many frameworks' name).
const REQUEST_ID: &str = "x-request-id";

/// 16 random bytes, hex.
fn request_id() -> String {
    rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where ACME servers ask for HTTP-01 challenge responses, on any host.
const ACME_CHALLENGE: &str = "/.well-known/acme-challenge/";

/// Middleware in front of everything: ACME challenges are answered, app hosts are proxied, slipway's
/// own hosts go on to its routes, and any other host gets a 404 page (never the dashboard).
pub async fn route_app_hosts(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let shared = state.service.shared();
    if let Some(token) = request.uri().path().strip_prefix(ACME_CHALLENGE) {
        if let Some(answer) = shared.certs.challenge_response(token) {
            return ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response();
        }
    }
    let host = request_host(request.headers(), request.uri());
    let label = match shared.hosts.target(&host) {
        Target::Admin => return next.run(request).await,
        Target::Unknown => {
            return page(
                StatusCode::NOT_FOUND,
                "No app here",
                &format!("{} is not the name of an app on this slipway.", html_escape(&host_name(&host))),
            )
        }
        Target::App(label) => label,
    };
    // A running app exists; the store is asked only when nothing runs under that name.
    let running = shared.placement.endpoint(&label);
    let app = AppName::parse(&label).ok().filter(|app| running.is_some() || state.service.require_app(app).is_ok());
    let Some(app) = app else {
        return page(
            StatusCode::NOT_FOUND,
            "No such app",
            &format!("There is no app named {} on this slipway.", html_escape(&label)),
        );
    };
    let mut request = request;
    let observation = Observation::start(&state, &app, &mut request, &host);
    let response = serve_app(&state, request, &app, running, &host).await;
    observation.finish(response)
}

/// Passes the request to one of the app's web processes, waking the app if it is idle; an error
/// page when it is not running or does not answer.
async fn serve_app(
    state: &AppState,
    request: Request,
    app: &AppName,
    running: Option<SocketAddr>,
    host: &str,
) -> Response {
    let shared = state.service.shared();
    let label = app.as_str();
    if let Some(redirect) = force_https(state, app, &request, host) {
        return redirect;
    }
    // An app stopped for being idle starts now; the request waits for it.
    let running = match running {
        Some(endpoint) => Some(endpoint),
        None => state.service.web_endpoint(app).await,
    };
    let Some(endpoint) = running else {
        let process = shared.placement.info(app);
        return page(
            StatusCode::BAD_GATEWAY,
            "App not running",
            &format!(
                "{} is not answering right now (its process is {}). Check its deployments and `slipway logs {}`.",
                html_escape(label),
                format!("{:?}", process.state).to_lowercase(),
                html_escape(label)
            ),
        );
    };
    match forward(state, request, endpoint, label).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!("proxy to {label}: {e}");
            page(
                StatusCode::BAD_GATEWAY,
                "App not answering",
                &format!("{} did not answer the request.", html_escape(label)),
            )
        }
    }
}

/// What the proxy notes of a request: when it began, then its status and the bytes sent. When
/// the response body has been sent (or dropped), the request is counted in the app's metrics and
/// logged as a `router` line in its log.
struct Observation {
    service: crate::service::Service,
    app: AppName,
    started: Instant,
    record: RequestRecord,
}

impl Observation {
    /// Gives the request an `X-Request-Id` of slipway's (a client's own is replaced, as the
    /// forwarded headers are), which the app sees and the router line names.
    fn start(state: &AppState, app: &AppName, request: &mut Request, host: &str) -> Self {
        let request_id = request_id();
        let value = HeaderValue::from_str(&request_id).expect("hex is a valid header value");
        request.headers_mut().insert(REQUEST_ID, value);
        let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
        let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let record = RequestRecord {
            method: request.method().to_string(),
            path,
            host: host_name(host),
            client: client.unwrap_or_default(),
            request_id,
            status: 0,
            duration: Duration::ZERO,
            bytes: 0,
        };
        Observation { service: state.service.clone(), app: app.clone(), started: Instant::now(), record }
    }

    fn finish(mut self, mut response: Response) -> Response {
        self.record.status = response.status().as_u16();
        self.record.duration = self.started.elapsed();
        if let Ok(value) = HeaderValue::from_str(&self.record.request_id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        response.map(|body| {
            Body::new(body.map_frame(move |frame| {
                if let Some(data) = frame.data_ref() {
                    self.count(data.len());
                }
                frame
            }))
        })
    }

    fn count(&mut self, bytes: usize) {
        self.record.bytes += bytes as u64;
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        let shared = self.service.shared();
        shared.metrics.record(&self.app, &self.record);
        shared.placement.log_line(&self.app, None, "router", &self.record.log_text());
    }
}

/// The Host a request names (HTTP/1.1's header, or HTTP/2's authority).
fn request_host(headers: &HeaderMap, uri: &Uri) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(String::from)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// With `FORCE_HTTPS=true` and an HTTPS listener: a permanent redirect of a plain-HTTP request to
/// the same URL over HTTPS.
fn force_https(state: &AppState, app: &AppName, request: &Request, host: &str) -> Option<Response> {
    let shared = state.service.shared();
    let https = shared.https_addr?;
    if request.extensions().get::<Scheme>().is_some_and(|s| s.is_https()) {
        return None;
    }
    let forced = state.service.settings(app).ok()?.flag(FORCE_HTTPS).ok().flatten() == Some(true);
    if !forced {
        return None;
    }
    let port = if https.port() == 443 { String::new() } else { format!(":{}", https.port()) };
    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("https://{}{port}{path}", host_name(host));
    Some((StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response())
}

async fn forward(state: &AppState, mut request: Request, endpoint: SocketAddr, app: &str) -> Result<Response, String> {
    let client_addr = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let scheme = request.extensions().get::<Scheme>().copied().unwrap_or(Scheme("http"));
    let original_host = request
        .headers()
        .get(header::HOST)
        .cloned()
        .or_else(|| request.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()));
    let wants_upgrade = request.headers().contains_key(header::UPGRADE);
    let upgrade_value = request.headers().get(header::UPGRADE).cloned();
    let client_upgrade = wants_upgrade.then(|| hyper::upgrade::on(&mut request));

    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let authority = request.uri().authority().map(|a| a.to_string());
    *request.uri_mut() = upstream_uri(endpoint, &path)?;
    // Apps speak HTTP/1.1 whatever the client spoke; an HTTP/2 client's host is its authority.
    *request.version_mut() = axum::http::Version::HTTP_11;
    if !request.headers().contains_key(header::HOST) {
        if let Some(value) = authority.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            request.headers_mut().insert(header::HOST, value);
        }
    }
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    // slipway is the edge: what clients say in these headers is not taken on trust, it is replaced.
    match client_addr.and_then(|ip| HeaderValue::from_str(&ip).ok()) {
        Some(ip) => headers.insert("x-forwarded-for", ip),
        None => headers.remove("x-forwarded-for"),
    };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(scheme.0));
    match original_host {
        Some(host) => headers.insert("x-forwarded-host", host),
        None => headers.remove("x-forwarded-host"),
    };
    // Other names for the same claims, which frameworks read (Django, werkzeug, gunicorn): from a
    // client they would be lies about its address or scheme.
    for spoofable in UNTRUSTED_FORWARDING {
        headers.remove(*spoofable);
    }
    if let Some(upgrade) = upgrade_value {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }

    let (request, body) = buffer_small_body(request, wants_upgrade).await?;
    let replay = Replay::of(&request, &path, wants_upgrade, body);
    let mut response = match (state.proxy.request(request).await, replay) {
        (Ok(response), _) => response,
        (Err(e), Some(replay)) if replay.may_retry(&e) => replay.retry(state, app, e).await?,
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

/// Forwarding headers slipway does not set and does not pass on.
const UNTRUSTED_FORWARDING: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-ssl",
    "x-forwarded-protocol",
    "x-forwarded-scheme",
    "x-url-scheme",
    "front-end-https",
];

fn upstream_uri(endpoint: SocketAddr, path: &str) -> Result<Uri, String> {
    format!("http://{endpoint}{path}").parse().map_err(|e| format!("bad URI: {e}"))
}

/// How many times a request that never reached an app is tried again, at the app's live endpoint.
const RETRIES: u32 = 4;

/// Request bodies up to this size are read before they are sent, so that the request can be
/// sent again if the app's process was gone (a release switch); larger ones stream.
const REPLAYABLE_BODY: usize = 64 * 1024;

/// A request with a small body of known length: read whole, kept for a replay.
async fn buffer_small_body(request: Request, upgrade: bool) -> Result<(Request, Option<Bytes>), String> {
    let length = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    match length {
        Some(n) if n > 0 && n <= REPLAYABLE_BODY && !chunked && !upgrade => {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, REPLAYABLE_BODY)
                .await
                .map_err(|e| format!("reading the request body: {e}"))?;
            Ok((Request::from_parts(parts, Body::from(bytes.clone())), Some(bytes)))
        }
        _ => Ok((request, None)),
    }
}

/// What is needed to send a request again. A GET, HEAD or OPTIONS with no body is sent again
/// whenever it got no answer; any other request with a small body only when it never reached
/// the app (the connection was refused), since the app may have acted on it otherwise.
struct Replay {
    method: axum::http::Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    only_when_unsent: bool,
}

impl Replay {
    fn of(request: &Request, path: &str, upgrade: bool, body: Option<Bytes>) -> Option<Self> {
        use axum::http::Method;
        let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let headers = request.headers();
        let bodyless = !headers.contains_key(header::TRANSFER_ENCODING)
            && headers.get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
        let only_when_unsent = !(safe && bodyless);
        (!upgrade && (bodyless || body.is_some())).then(|| Replay {
            method: request.method().clone(),
            path: path.to_string(),
            headers: headers.clone(),
            body: body.unwrap_or_default(),
            only_when_unsent,
        })
    }

    fn may_retry(&self, error: &hyper_util::client::legacy::Error) -> bool {
        if self.only_when_unsent {
            error.is_connect()
        } else {
            is_retryable(error)
        }
    }

    /// Sends the request again to the app's live endpoint — during a release switch, the new one —
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
            let Some(endpoint) = state.service.shared().placement.endpoint(app) else { continue };
            let mut request = Request::new(Body::from(self.body.clone()));
            *request.method_mut() = self.method.clone();
            *request.uri_mut() = upstream_uri(endpoint, &self.path)?;
            *request.headers_mut() = self.headers.clone();
            match state.proxy.request(request).await {
                Ok(response) => return Ok(response),
                Err(e) if self.may_retry(&e) => last = e.to_string(),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(last)
    }
}

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
