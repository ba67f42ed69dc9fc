//! The REST API under `/api` (JSON, admin token). Routes are listed in [`router`]; every error is
//! `{"error": "..."}` with a fitting status.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::apps::validate_name;
use crate::deployments::DeployRequest;
use crate::error::{ApiError, ApiResult};
use crate::git::{self, ObjectAccess};
use crate::state::AppState;
use crate::store::Deployment;
use crate::{env_info, secrets, vfs};

/// Largest JSON body the API accepts; VFS uploads have their own limit.
pub const MAX_JSON_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/runtimes", get(runtimes))
        .route("/apps", get(list_apps).post(create_app))
        .route("/apps/{app}", get(show_app).delete(delete_app))
        .route("/apps/{app}/credentials/reset", post(reset_credentials))
        .route("/apps/{app}/settings", get(get_settings).put(put_settings))
        .route("/apps/{app}/settings/{key}", delete(delete_setting))
        .route("/apps/{app}/deployments", get(list_deployments))
        .route("/apps/{app}/deployments/{id}", get(show_deployment))
        .route("/apps/{app}/deployments/{id}/log", get(deployment_log))
        .route("/apps/{app}/deployments/{id}/redeploy", post(redeploy))
        .route("/apps/{app}/env", get(show_env))
        .route("/apps/{app}/env/reset", post(reset_env))
        .route("/apps/{app}/deployment-script", get(deployment_script))
        .route("/apps/{app}/restart", post(restart_app))
        .route("/apps/{app}/start", post(restart_app))
        .route("/apps/{app}/stop", post(stop_app))
        .route("/apps/{app}/logs/app", get(app_log))
        .merge(vfs::router())
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .layer(axum::middleware::from_fn_with_state(state, crate::auth::require_admin))
}

/// `Json<T>` whose rejections are JSON errors naming what was wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("request body too large: at most {MAX_JSON_BODY} bytes"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "expected a JSON body with `Content-Type: application/json`".to_string(),
        _ => format!("invalid JSON body: {}", rejection.body_text()),
    };
    // axum answers 422 for well-formed JSON of the wrong shape; to clients both are bad requests.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
    ApiError::new(status, message)
}

/// Checks that the app exists (and that its name could be one): 404 otherwise.
pub fn known_app(state: &AppState, app: &str) -> ApiResult<()> {
    if validate_name(app).is_ok() && state.shared.app_exists(app)? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no app `{app}`")))
    }
}

async fn runtimes(State(state): State<AppState>) -> Json<Value> {
    Json(json!(state.shared.runtimes.runtimes))
}

#[derive(Serialize)]
pub(crate) struct AppView {
    pub(crate) name: String,
    pub(crate) created_at: String,
    pub(crate) git_url: String,
    pub(crate) ftp_host: String,
    pub(crate) ftp_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) active_deployment: Option<Deployment>,
    pub(crate) process: crate::supervisor::ProcessInfo,
    /// Where the running app answers: `http://<app>.localhost:<port>/`.
    pub(crate) url: String,
}

pub(crate) fn app_view(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    password: Option<String>,
) -> ApiResult<AppView> {
    let created_at =
        state.shared.store.app_created_at(name)?.ok_or_else(|| ApiError::not_found(format!("no app `{name}`")))?;
    Ok(AppView {
        name: name.to_string(),
        created_at,
        git_url: format!("{}/git/{name}.git", public_base(state, headers)),
        ftp_host: format!("ftp://{}", state.shared.ftp_addr),
        ftp_user: name.to_string(),
        password,
        active_deployment: state.shared.store.active_deployment(name)?,
        process: state.shared.supervisor.info(name),
        url: format!("http://{name}.localhost:{}/", state.shared.http_addr.port()),
    })
}

/// `http://host:port` as the client reached us (Host header), else the listening address.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    let scheme = if state.shared.config.tls.is_some() { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .map(str::to_string)
        .unwrap_or_else(|| state.shared.http_addr.to_string());
    format!("{scheme}://{host}")
}

async fn list_apps(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Vec<AppView>>> {
    let names = state.shared.store.app_names()?;
    Ok(Json(names.iter().map(|n| app_view(&state, &headers, n, None)).collect::<ApiResult<_>>()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApp {
    name: String,
}

async fn create_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateApp>,
) -> ApiResult<Response> {
    let password = create_app_named(&state, &body.name).await?;
    Ok((StatusCode::CREATED, Json(app_view(&state, &headers, &body.name, Some(password))?)).into_response())
}

/// Creates the app (record, folders, git repository); returns its deployment password.
pub(crate) async fn create_app_named(state: &AppState, name: &str) -> ApiResult<String> {
    validate_name(name).map_err(ApiError::bad_request)?;
    let password = secrets::generate_password();
    let hash = secrets::hash_password(&password)?;
    let shared = state.shared.clone();
    let owned = name.to_string();
    let created = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        let paths = shared.app_paths(&owned);
        if !shared.store.create_app(&owned, &hash)? {
            return Ok(false);
        }
        let made = (|| {
            std::fs::create_dir_all(paths.wwwroot())?;
            std::fs::create_dir_all(paths.deployments())?;
            std::fs::create_dir_all(paths.log_files())?;
            git::init_repository(&paths.repository(), &shared.config.slipway_exe)
        })();
        if let Err(e) = made {
            let _ = shared.store.delete_app(&owned);
            let _ = std::fs::remove_dir_all(&paths.home);
            return Err(e);
        }
        Ok(true)
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))??;
    if !created {
        return Err(ApiError::conflict(format!("an app named `{name}` already exists")));
    }
    tracing::info!("created app {name}");
    Ok(password)
}

async fn show_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> ApiResult<Json<AppView>> {
    known_app(&state, &app)?;
    Ok(Json(app_view(&state, &headers, &app, None)?))
}

async fn delete_app(State(state): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<Value>> {
    known_app(&state, &app)?;
    state.shared.supervisor.remove(&app).await;
    let shared = state.shared.clone();
    let name = app.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        shared.store.delete_app(&name)?;
        let home = shared.app_paths(&name).home;
        if home.exists() {
            std::fs::remove_dir_all(&home)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))??;
    tracing::info!("deleted app {app}");
    Ok(Json(json!({ "deleted": app })))
}

async fn reset_credentials(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> ApiResult<Json<AppView>> {
    let password = new_password(&state, &app)?;
    Ok(Json(app_view(&state, &headers, &app, Some(password))?))
}

/// Gives the app a new deployment password (the old one stops working); returns it.
pub(crate) fn new_password(state: &AppState, app: &str) -> ApiResult<String> {
    known_app(state, app)?;
    let password = secrets::generate_password();
    state.shared.store.set_password_hash(app, &secrets::hash_password(&password)?)?;
    Ok(password)
}

async fn get_settings(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    known_app(&state, &app)?;
    Ok(Json(state.shared.store.settings(&app)?))
}

/// Setting keys become environment variables: letters, digits and `_`, not starting with a digit.
pub fn validate_setting_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && !key.as_bytes()[0].is_ascii_digit()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid setting name `{}`: expected letters, digits and `_`, not starting with a digit",
            key.escape_debug()
        ))
    }
}

async fn put_settings(
    State(state): State<AppState>,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<BTreeMap<String, Value>>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    known_app(&state, &app)?;
    let mut values = BTreeMap::new();
    for (key, value) in body {
        validate_setting_key(&key).map_err(ApiError::bad_request)?;
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(ApiError::bad_request(format!("setting `{key}`: expected a string, got {other}"))),
        };
        values.insert(key, value);
    }
    store_settings(&state, &app, &values)?;
    Ok(Json(state.shared.store.settings(&app)?))
}

/// Checks every key and value, then stores them all (or none).
pub(crate) fn store_settings(state: &AppState, app: &str, values: &BTreeMap<String, String>) -> ApiResult<()> {
    for (key, value) in values {
        validate_setting_key(key).map_err(ApiError::bad_request)?;
        if value.contains('\0') {
            return Err(ApiError::bad_request(format!("setting `{key}`: values cannot contain NUL")));
        }
    }
    state.shared.store.set_settings(app, values)?;
    Ok(())
}

async fn delete_setting(
    State(state): State<AppState>,
    Path((app, key)): Path<(String, String)>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    known_app(&state, &app)?;
    if !state.shared.store.delete_setting(&app, &key)? {
        return Err(ApiError::not_found(format!("app `{app}` has no setting `{key}`")));
    }
    Ok(Json(state.shared.store.settings(&app)?))
}

async fn list_deployments(State(state): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<Vec<Deployment>>> {
    known_app(&state, &app)?;
    Ok(Json(state.shared.store.deployments(&app)?))
}

pub(crate) fn find_deployment(state: &AppState, app: &str, id: &str) -> ApiResult<Deployment> {
    known_app(state, app)?;
    let id: i64 =
        id.parse().map_err(|_| ApiError::bad_request(format!("invalid deployment id `{id}`: expected a number")))?;
    state
        .shared
        .store
        .deployment(app, id)?
        .ok_or_else(|| ApiError::not_found(format!("app `{app}` has no deployment {id}")))
}

async fn show_deployment(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(find_deployment(&state, &app, &id)?))
}

#[derive(Deserialize)]
struct LogQuery {
    /// Byte offset to start from, to follow a running deployment's log.
    #[serde(default)]
    offset: u64,
}

async fn deployment_log(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> ApiResult<Response> {
    let deployment = find_deployment(&state, &app, &id)?;
    let path = state.shared.app_paths(&app).deployment_log(deployment.id);
    let bytes = tokio::fs::read(&path).await.unwrap_or_default();
    let start = (query.offset as usize).min(bytes.len());
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes[start..].to_vec()).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RedeployBody {
    #[serde(default)]
    clean_env: bool,
}

/// The body is optional: an empty one redeploys as it was.
async fn redeploy(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let deployment = find_deployment(&state, &app, &id)?;
    let clean_env = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        serde_json::from_slice::<RedeployBody>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
            .clean_env
    };
    let started = start_deployment(&state, &app, deployment.commit, clean_env, "redeploy").await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

/// Starts a deployment of a commit already in the repository; it runs on in the background.
pub(crate) async fn start_deployment(
    state: &AppState,
    app: &str,
    commit: String,
    clean_env: bool,
    trigger: &'static str,
) -> ApiResult<Deployment> {
    // Nobody watches this one live: its log is on disk and in the API.
    let (progress, _) = mpsc::unbounded_channel::<String>();
    let request = DeployRequest { app: app.to_string(), commit, clean_env, trigger, access: ObjectAccess::default() };
    let (record, _handle) = state.deployer.start(request, progress).await?;
    Ok(record)
}

async fn show_env(State(state): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<Value>> {
    known_app(&state, &app)?;
    let env = state.shared.app_paths(&app).env();
    let info = tokio::task::spawn_blocking(move || env_info::describe(&env)).await.map_err(|e| anyhow::anyhow!(e))?;
    Ok(Json(info))
}

async fn reset_env(State(state): State<AppState>, Path(app): Path<String>) -> ApiResult<Response> {
    match reset_env_of(&state, &app).await? {
        Some(started) => Ok((StatusCode::ACCEPTED, Json(json!({ "deployment": started }))).into_response()),
        None => {
            Ok(Json(json!({ "deployment": null, "message": "env deleted; there is no active deployment to redeploy" }))
                .into_response())
        }
    }
}

/// Resets env: redeploys the active commit with a fresh env (the deployment started), or, with
/// no active deployment, deletes env (`None`).
pub(crate) async fn reset_env_of(state: &AppState, app: &str) -> ApiResult<Option<Deployment>> {
    known_app(state, app)?;
    match state.shared.store.active_deployment(app)? {
        Some(active) => Ok(Some(start_deployment(state, app, active.commit, true, "env-reset").await?)),
        None => {
            let env = state.shared.app_paths(app).env();
            tokio::task::spawn_blocking(move || slipway_build::env::remove_path(&env))
                .await
                .map_err(|e| anyhow::anyhow!(e))?
                .map_err(|e| anyhow::anyhow!(e))?;
            Ok(None)
        }
    }
}

async fn deployment_script() -> Response {
    ([(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")], slipway_build::custom_script::default_script())
        .into_response()
}

/// Starts the active release again (a new process beside the old one, then the switch).
async fn restart_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> ApiResult<Json<AppView>> {
    known_app(&state, &app)?;
    if state.shared.store.active_deployment(&app)?.is_none() {
        return Err(ApiError::conflict(format!("app `{app}` has no active deployment to start: push one first")));
    }
    let settings = state.shared.store.settings(&app)?;
    let log = |line: &str| tracing::info!("{app}: {line}");
    let request = crate::supervisor::ReleaseRequest { app: &app, settings: &settings, log: &log };
    state.shared.supervisor.release(request).await.map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e))?;
    Ok(Json(app_view(&state, &headers, &app, None)?))
}

async fn stop_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> ApiResult<Json<AppView>> {
    known_app(&state, &app)?;
    state.shared.supervisor.stop(&app).await;
    Ok(Json(app_view(&state, &headers, &app, None)?))
}

#[derive(Deserialize)]
struct AppLogQuery {
    /// Byte offset to read from; without it, the last 64 KiB.
    offset: Option<u64>,
}

/// The running app's output (`LogFiles/app.log`); `X-Log-Offset` is where to continue from.
async fn app_log(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(query): Query<AppLogQuery>,
) -> ApiResult<Response> {
    known_app(&state, &app)?;
    let path = state.shared.app_paths(&app).log_files().join("app.log");
    let bytes = tokio::fs::read(&path).await.unwrap_or_default();
    let len = bytes.len() as u64;
    let start = match query.offset {
        Some(offset) if offset <= len => offset,
        Some(_) => 0, // the log was rotated: start over
        None => len.saturating_sub(64 * 1024),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (HeaderName::from_static("x-log-offset"), len.to_string()),
        ],
        bytes[start as usize..].to_vec(),
    )
        .into_response())
}
