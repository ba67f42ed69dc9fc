//! The REST API under `/api` (JSON, admin token). Routes are listed in [`router`]; each handler
//! parses its input, calls the service layer and shapes the answer. Every error is
//! `{"error": "..."}` with a fitting status.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, DeploymentPath};
use super::{public_base, vfs, AppState};
use crate::app_name::AppName;
use crate::service::apps::AppSummary;
use crate::store::Deployment;

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
        .route("/apps/{app}/deployments/{id}/cancel", post(cancel))
        .route("/apps/{app}/releases", get(list_releases))
        .route("/apps/{app}/rollback", post(rollback))
        .route("/apps/{app}/env", get(show_env))
        .route("/apps/{app}/env/reset", post(reset_env))
        .route("/apps/{app}/deployment-script", get(deployment_script))
        .route("/apps/{app}/restart", post(restart_app))
        .route("/apps/{app}/start", post(restart_app))
        .route("/apps/{app}/stop", post(stop_app))
        .route("/apps/{app}/logs/app", get(app_log))
        .merge(vfs::router())
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .layer(axum::middleware::from_fn_with_state(state, super::auth::require_admin))
}

async fn runtimes(State(state): State<AppState>) -> Json<Value> {
    let today = slipway_build::lifecycle::today();
    Json(json!(slipway_build::lifecycle::listing(state.service.runtimes(), today)))
}

/// An app as the API shows it: the summary, the git URL as this client reaches the server, and
/// the password when it was just made.
#[derive(Serialize)]
pub(crate) struct AppView {
    #[serde(flatten)]
    pub(crate) summary: AppSummary,
    pub(crate) git_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<String>,
}

pub(crate) fn app_view(
    state: &AppState,
    headers: &HeaderMap,
    app: &AppName,
    password: Option<String>,
) -> ApiResult<AppView> {
    let summary = state.service.app(app)?;
    Ok(AppView { git_url: format!("{}/git/{app}.git", public_base(state, headers)), summary, password })
}

async fn list_apps(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Vec<AppView>>> {
    let names = state.service.app_names()?;
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
    let name = AppName::parse(&body.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let created = state.service.create_app(name).await?;
    let view = app_view(&state, &headers, &created.name, Some(created.password))?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn show_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<AppView>> {
    Ok(Json(app_view(&state, &headers, &app, None)?))
}

async fn delete_app(State(state): State<AppState>, ApiPath(app): ApiPath<AppName>) -> ApiResult<Json<Value>> {
    state.service.delete_app(&app).await?;
    Ok(Json(json!({ "deleted": app })))
}

async fn reset_credentials(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<AppView>> {
    let password = state.service.reset_password(&app).await?;
    Ok(Json(app_view(&state, &headers, &app, Some(password))?))
}

async fn get_settings(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(Json(state.service.settings(&app)?.into_values()))
}

/// Values may be JSON strings, numbers or booleans; they are stored as text.
async fn put_settings(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    ApiJson(body): ApiJson<BTreeMap<String, Value>>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    let mut values = BTreeMap::new();
    for (key, value) in body {
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(ApiError::bad_request(format!("setting `{key}`: expected a string, got {other}"))),
        };
        values.insert(key, value);
    }
    Ok(Json(state.service.set_settings(&app, &values)?.into_values()))
}

#[derive(Deserialize)]
struct SettingPath {
    app: AppName,
    key: String,
}

async fn delete_setting(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<SettingPath>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(Json(state.service.unset_setting(&path.app, &path.key)?.into_values()))
}

async fn list_deployments(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<Vec<Deployment>>> {
    Ok(Json(state.service.deployments(&app)?))
}

async fn show_deployment(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<DeploymentPath>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(state.service.deployment(&path.app, path.id.0)?))
}

#[derive(Deserialize)]
struct LogQuery {
    /// Byte offset to start from, to follow a running deployment's log.
    #[serde(default)]
    offset: u64,
}

async fn deployment_log(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<DeploymentPath>,
    Query(query): Query<LogQuery>,
) -> ApiResult<Response> {
    // Streamed from the file: a log is never read whole into memory.
    let body = match state.service.deployment_log_from(&path.app, path.id.0, query.offset).await? {
        Some(file) => axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        None => axum::body::Body::empty(),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
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
    ApiPath(path): ApiPath<DeploymentPath>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let clean_env = optional_json::<RedeployBody>(&body)?.clean_env;
    let started = state.service.redeploy(&path.app, path.id.0, clean_env).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

/// Stops a deployment that has not ended; it ends `failed`, "cancelled by the operator".
async fn cancel(State(state): State<AppState>, ApiPath(path): ApiPath<DeploymentPath>) -> ApiResult<Response> {
    let deployment = state.service.cancel(&path.app, Some(path.id.0))?;
    Ok((StatusCode::ACCEPTED, Json(deployment)).into_response())
}

async fn list_releases(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<Vec<Deployment>>> {
    Ok(Json(state.service.releases(&app)?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    deployment: Option<i64>,
}

/// Switches to a kept release (`{"deployment": ID}`, or by default the one before the live one);
/// answers with the deployment now live once it serves.
async fn rollback(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Deployment>> {
    let target = optional_json::<RollbackBody>(&body)?.deployment;
    Ok(Json(state.service.rollback(&app, target).await?))
}

/// An optional JSON body: empty means the defaults.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn show_env(State(state): State<AppState>, ApiPath(app): ApiPath<AppName>) -> ApiResult<Json<Value>> {
    Ok(Json(state.service.env_info(&app).await?))
}

async fn reset_env(State(state): State<AppState>, ApiPath(app): ApiPath<AppName>) -> ApiResult<Response> {
    Ok(match state.service.reset_env(&app).await? {
        Some(started) => (StatusCode::ACCEPTED, Json(json!({ "deployment": started }))).into_response(),
        None => {
            Json(json!({ "deployment": null, "message": "env deleted; there is no active deployment to redeploy" }))
                .into_response()
        }
    })
}

async fn deployment_script() -> Response {
    let script = slipway_build::custom_script::default_script();
    ([(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")], script).into_response()
}

/// Starts the active release again (a new process beside the old one, then the switch).
async fn restart_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<AppView>> {
    state.service.restart_app(&app).await?;
    Ok(Json(app_view(&state, &headers, &app, None)?))
}

async fn stop_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<AppView>> {
    state.service.stop_app(&app).await?;
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
    ApiPath(app): ApiPath<AppName>,
    Query(query): Query<AppLogQuery>,
) -> ApiResult<Response> {
    let output = state.service.app_output(&app, query.offset).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
        (HeaderName::from_static("x-log-offset"), output.end.to_string()),
    ];
    Ok((headers, output.bytes).into_response())
}
