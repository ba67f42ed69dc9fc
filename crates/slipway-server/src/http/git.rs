//! git smart HTTP at `/git/<app>.git`, served by the real `git http-backend` (CGI): it speaks
//! both protocol versions, handles gzip request bodies and runs receive-pack with our hook.
//! Request and response bodies are streamed; a pack is never held in memory.

use std::process::Stdio;

use axum::body::Body;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::io::ReaderStream;

use super::auth;
use super::error::ApiError;
use super::AppState;
use crate::app_name::AppName;
use crate::git::hook;

pub async fn handle(
    State(state): State<AppState>,
    Path((repo, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(app) = repo.strip_suffix(".git").and_then(|a| AppName::parse(a).ok()) else {
        return ApiError::not_found(format!("no repository `{repo}`: expected /git/<app>.git")).into_response();
    };
    // The password first: without it, whether an app of that name exists is not told (an app
    // that does not exist costs the same check as a wrong password).
    let ip =
        request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if let Err(refusal) = auth::require_deployer(&state, &app, ip, request.headers()).await {
        return refusal;
    }
    if let Err(e) = state.service.require_app(&app) {
        return ApiError::from(e).into_response();
    }
    // Only paths inside the app's repository: no `..` (`..%2F..%2Fother-app%2Frepository`).
    if std::path::Path::new(&rest).components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return ApiError::not_found(format!("no `{rest}` in the repository of `{app}`")).into_response();
    }
    match run_backend(&state, &app, &rest, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("git http-backend for {app}: {e}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed; the server log has the details")
                .into_response()
        }
    }
}

async fn run_backend(state: &AppState, app: &AppName, rest: &str, request: Request) -> std::io::Result<Response> {
    let shared = state.service.shared();
    let (parts, body) = request.into_parts();
    let push_id = crate::secrets::generate_token();
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", shared.data_dir.apps_dir())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{app}/repository/{rest}"))
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("REMOTE_USER", app.as_str())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env(hook::ENV_SOCKET, shared.data_dir.hook_socket())
        .env(hook::ENV_TOKEN, &shared.hook_token)
        .env(hook::ENV_APP, app.as_str())
        .env(hook::ENV_PUSH_ID, &push_id)
        .envs(crate::git::hooks_env(&shared.data_dir.git_hooks()))
        .env_remove("GIT_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, var) in [
        (header::CONTENT_TYPE, "CONTENT_TYPE"),
        (header::CONTENT_LENGTH, "CONTENT_LENGTH"),
        (header::CONTENT_ENCODING, "HTTP_CONTENT_ENCODING"),
    ] {
        if let Some(value) = parts.headers.get(&name).and_then(|v| v.to_str().ok()) {
            command.env(var, value);
        }
    }
    if let Some(protocol) = parts.headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
        command.env("GIT_PROTOCOL", protocol);
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");

    // Request body → backend, as it arrives.
    let has_body = parts.method == Method::POST;
    tokio::spawn(async move {
        if has_body {
            let mut stream = body.into_data_stream();
            while let Some(Ok(chunk)) = stream.next().await {
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
        drop(stdin);
    });
    let app_name = app.to_string();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!("git http-backend ({app_name}): {line}");
        }
    });
    // When git is done, the branch is where the push left it: the app's next push may go.
    let service = state.service.clone();
    tokio::spawn(async move {
        let _ = child.wait().await;
        service.push_ended(&push_id);
    });

    // CGI response: headers, a blank line, then the body, streamed.
    let mut reader = BufReader::new(stdout);
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
            status = code.and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::BAD_GATEWAY);
        } else if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    }
    let mut response = Response::new(Body::from_stream(ReaderStream::new(reader)));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
