//! Outbound deployment webhooks: when a deployment ends, every URL in the app's `WEBHOOK_URLS`
//! gets a `POST` of JSON like Kudu's PostDeployment hook (`id` is the commit, `status` `success`
//! or `failed`, …, plus slipway's `app`, `version` and `reason`). Sent in the background, each
//! URL tried up to [`TRIES`] times with a [`TIMEOUT`] each; how each went is a `webhook` line in
//! the app's log (with the URL cut to its host: a path may be the secret).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::settings::{self, WEBHOOK_URLS};
use crate::state::Shared;
use crate::store::{Deployment, Status};

pub const TRIES: u32 = 3;
pub const TIMEOUT: Duration = Duration::from_secs(10);

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Tells the app's webhooks that `deployment` ended (nothing when it has none).
pub fn deployment_ended(shared: &Arc<Shared>, deployment: &Deployment) {
    let urls = match shared.store.settings(&deployment.app).map(|s| s.get(WEBHOOK_URLS).cloned()) {
        Ok(Some(urls)) => settings::webhook_urls(&urls).unwrap_or_default(),
        _ => return,
    };
    if urls.is_empty() {
        return;
    }
    let body = Bytes::from(payload(deployment).to_string());
    for url in urls {
        let (shared, body, app, number) = (shared.clone(), body.clone(), deployment.app.clone(), deployment.number);
        tokio::spawn(async move {
            let outcome = deliver(&url, body).await;
            let line = format!("POST {} {outcome}", shown(&url));
            shared.placement.log_line(&app, Some(number), "webhook", &line);
        });
    }
}

/// Kudu's PostDeployment fields, and slipway's own.
pub fn payload(d: &Deployment) -> Value {
    let (author, email) = match d.author.rsplit_once(" <") {
        Some((name, email)) => (name.to_string(), email.trim_end_matches('>').to_string()),
        None => (d.author.clone(), String::new()),
    };
    // The record's own serialization writes its times as RFC 3339.
    let record = serde_json::to_value(d).unwrap_or_default();
    json!({
        "id": d.commit,
        "status": if d.status == Status::Success { "success" } else { "failed" },
        "status_text": d.reason.clone().unwrap_or_default(),
        "author": author,
        "author_email": email,
        "message": d.message,
        "deployer": d.trigger.as_str(),
        "start_time": record["started_at"],
        "end_time": record["ended_at"],
        "complete": true,
        "site_name": d.app,
        "app": d.app,
        "version": format!("v{}", d.number),
        "reason": d.reason,
    })
}

/// `→ 200` after the first answer that is not a server error, or why the last try failed.
async fn deliver(url: &str, body: Bytes) -> String {
    let mut outcome = String::new();
    for attempt in 1..=TRIES {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt * attempt))).await;
        }
        let request = axum::http::Request::post(url)
            .header("content-type", "application/json")
            .header("user-agent", "slipway-webhook")
            .body(Full::new(body.clone()));
        let request = match request {
            Ok(request) => request,
            Err(e) => return format!("failed: {e}"),
        };
        outcome = match tokio::time::timeout(TIMEOUT, client().request(request)).await {
            Ok(Ok(response)) if !response.status().is_server_error() => {
                return format!("→ {}", response.status().as_u16())
            }
            Ok(Ok(response)) => format!("→ {} (tried {attempt} times)", response.status().as_u16()),
            Ok(Err(e)) => format!("failed: {e} (tried {attempt} times)"),
            Err(_) => format!("failed: no answer within {}s (tried {attempt} times)", TIMEOUT.as_secs()),
        };
    }
    outcome
}

/// One client for every webhook: https with the system's roots (plain http works too).
fn client() -> &'static HttpsClient {
    static CLIENT: OnceLock<HttpsClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match builder.with_native_roots() {
            Ok(builder) => builder.https_or_http().enable_http1().build(),
            Err(e) => {
                tracing::warn!("webhooks: no system certificates ({e}); https webhooks will fail");
                let config = rustls_config_without_roots();
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_or_http()
                    .enable_http1()
                    .build()
            }
        };
        Client::builder(TokioExecutor::new()).build(connector)
    })
}

fn rustls_config_without_roots() -> tokio_rustls::rustls::ClientConfig {
    tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(tokio_rustls::rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// `https://hooks.example.com/…`: the scheme and host, never the path or a password.
fn shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    format!("{scheme}://{host}/…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_host_of_a_webhook_is_shown() {
        assert_eq!(shown("https://u:pw@hooks.example.com/services/T0/SECRET?x=1"), "https://hooks.example.com/…");
        assert_eq!(shown("http://127.0.0.1:9000"), "http://127.0.0.1:9000/…");
    }
}
