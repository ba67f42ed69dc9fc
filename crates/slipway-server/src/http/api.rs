//! The REST API under `/api` (JSON, admin token). Routes are listed in [`router`]; each handler
//! parses its input, calls the service layer and shapes the answer. Every error is
//! `{"error": "..."}` with a fitting status.

use std::collections::BTreeMap;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, DeploymentId, DeploymentPath};
use super::{public_base, vfs, AppState};
use crate::app_name::AppName;
use crate::metrics::RequestStats;
use crate::service::apps::AppSummary;
use crate::service::cron::CronEntry;
use crate::service::domains::DomainView;
use crate::service::instances::InstanceView;
use crate::service::logs::LogQuery;
use crate::service::runs::RunEvent;
use crate::service::settings::{Applied, Change};
use crate::settings;
use crate::store::{Deployment, Run, RunTrigger};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/runtimes", get(runtimes))
        .route("/apps", get(list_apps).post(create_app))
        .route("/apps/{app}", get(show_app).delete(delete_app))
        .route("/apps/{app}/credentials/reset", post(reset_credentials))
        .route("/settings", get(get_global_settings).put(put_global_settings))
        .route("/settings/{key}", delete(delete_global_setting))
        .route("/apps/{app}/settings", get(get_settings).put(put_settings))
        .route("/apps/{app}/settings/{key}", delete(delete_setting))
        .route("/apps/{app}/webhook", get(show_webhook))
        .route("/apps/{app}/webhook/reset", post(reset_webhook))
        .route("/apps/{app}/deployments", get(list_deployments))
        .route("/apps/{app}/zipdeploy", post(zipdeploy).layer(DefaultBodyLimit::max(crate::archive::MAX_ARCHIVE_BYTES)))
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
        .route("/apps/{app}/logs", get(app_log))
        .route("/apps/{app}/ps", get(list_processes))
        .route("/apps/{app}/ps/scale", post(scale))
        .route("/apps/{app}/run", post(run_command))
        .route("/apps/{app}/runs", get(list_runs))
        .route("/apps/{app}/runs/{id}", get(show_run))
        .route("/apps/{app}/cron", get(list_cron))
        .route("/apps/{app}/cron/{number}/run", post(run_cron_now))
        .route("/apps/{app}/domains", get(list_domains).post(add_domain))
        .route("/apps/{app}/domains/{domain}", delete(remove_domain))
        .route("/apps/{app}/domains/{domain}/certificate", axum::routing::put(put_certificate))
        .route("/instances", get(list_instances))
        .merge(vfs::router())
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .layer(axum::middleware::from_fn_with_state(state, super::auth::require_admin))
}

async fn list_instances(State(state): State<AppState>) -> ApiResult<Json<Vec<InstanceView>>> {
    Ok(Json(state.service.instances()?))
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
    /// What the proxy saw of its requests (`GET /api/apps/APP` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) requests: Option<RequestStats>,
}

pub(crate) fn app_view(
    state: &AppState,
    headers: &HeaderMap,
    app: &AppName,
    password: Option<String>,
) -> ApiResult<AppView> {
    let summary = state.service.app(app)?;
    let git_url = format!("{}/git/{app}.git", public_base(state, headers));
    Ok(AppView { git_url, summary, password, requests: None })
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
    let view = app_view(&state, &headers, &app, None)?;
    Ok(Json(AppView { requests: Some(state.service.request_stats(&app)?), ..view }))
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

#[derive(Deserialize)]
struct SettingsQuery {
    /// `false` stores the settings without restarting the app's processes.
    #[serde(default = "restart_by_default")]
    restart: bool,
    /// `true` answers with the values in clear; by default secrets are masked.
    #[serde(default)]
    reveal: bool,
}

fn restart_by_default() -> bool {
    true
}

/// Settings as an answer: masked unless `?reveal=true`.
fn shown_settings(settings: BTreeMap<String, String>, query: &SettingsQuery) -> Json<BTreeMap<String, String>> {
    Json(if query.reveal { settings } else { settings::mask_all(settings) })
}

/// The app's own settings (the server-wide ones are at `/api/settings`).
async fn get_settings(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    Query(query): Query<SettingsQuery>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(shown_settings(state.service.own_settings(&app)?, &query))
}

/// The settings, with what their change did to the app's processes in `X-Slipway-Applied`
/// (`restarted`, `not_running`, `deferred`).
fn settings_changed((settings, applied): (BTreeMap<String, String>, Applied), query: &SettingsQuery) -> Response {
    let applied = serde_json::to_value(applied).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    ([(HeaderName::from_static("x-slipway-applied"), applied)], shown_settings(settings, query)).into_response()
}

/// Values may be JSON strings, numbers or booleans; they are stored as text.
fn setting_values(body: BTreeMap<String, Value>) -> ApiResult<BTreeMap<String, String>> {
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
    Ok(values)
}

/// The app's processes restart with the new settings unless `?restart=false`.
async fn put_settings(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    Query(query): Query<SettingsQuery>,
    ApiJson(body): ApiJson<BTreeMap<String, Value>>,
) -> ApiResult<Response> {
    let values = setting_values(body)?;
    let changed = state.service.change_settings(&app, Change::Set(&values), query.restart).await?;
    Ok(settings_changed(changed, &query))
}

#[derive(Deserialize)]
struct SettingPath {
    app: AppName,
    key: String,
}

async fn delete_setting(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<SettingPath>,
    Query(query): Query<SettingsQuery>,
) -> ApiResult<Response> {
    let changed = state.service.change_settings(&path.app, Change::Unset(&path.key), query.restart).await?;
    Ok(settings_changed(changed, &query))
}

async fn get_global_settings(
    State(state): State<AppState>,
    Query(query): Query<SettingsQuery>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(shown_settings(state.service.global_settings()?, &query))
}

/// Server-wide settings apply to every app without the key at its next deployment or restart.
async fn put_global_settings(
    State(state): State<AppState>,
    Query(query): Query<SettingsQuery>,
    ApiJson(body): ApiJson<BTreeMap<String, Value>>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    let values = setting_values(body)?;
    Ok(shown_settings(state.service.change_global_settings(Change::Set(&values))?, &query))
}

async fn delete_global_setting(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    Query(query): Query<SettingsQuery>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(shown_settings(state.service.change_global_settings(Change::Unset(&key))?, &query))
}

/// The deployment webhook: whether it is set up (its secret is shown only by a reset).
async fn show_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<Value>> {
    let configured = state.service.has_hook(&app)?;
    let url = configured.then(|| format!("{}/hooks/{app}/{}", public_base(&state, &headers), settings::MASK));
    Ok(Json(json!({ "configured": configured, "url": url, "repository": hook_repository(&state, &app)? })))
}

/// `DEPLOYMENT_REPOSITORY`, with its password masked.
fn hook_repository(state: &AppState, app: &AppName) -> ApiResult<Option<String>> {
    let app_settings = state.service.settings(app)?;
    let repository = app_settings.get(settings::DEPLOYMENT_REPOSITORY);
    Ok(repository.map(|url| settings::masked(settings::DEPLOYMENT_REPOSITORY, url)))
}

/// A new webhook secret; the answer's URL holds it, shown this once.
async fn reset_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<Value>> {
    let secret = state.service.reset_hook_secret(&app)?;
    let url = format!("{}/hooks/{app}/{secret}", public_base(&state, &headers));
    Ok(Json(json!({ "configured": true, "url": url, "repository": hook_repository(&state, &app)? })))
}

/// Kudu's zipdeploy: the body is a zip or a gzipped tar of the app. Answers `202 Accepted` with
/// the deployment it started; follow its log at `…/deployments/vN/log`.
async fn zipdeploy(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    // The upload is large: taken over, not copied.
    let (deployment, unpacked) = state.service.zipdeploy(&app, Vec::from(body)).await?;
    let location = format!("/api/apps/{app}/deployments/v{}", deployment.number);
    let answer = json!({ "deployment": deployment, "files": unpacked.files, "bytes": unpacked.bytes, "skipped": unpacked.skipped });
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(answer)).into_response())
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
    Ok(Json(state.service.deployment(&path.app, path.id(&state.service)?)?))
}

#[derive(Deserialize)]
struct DeploymentLogQuery {
    /// Byte offset to start from, to follow a running deployment's log.
    #[serde(default)]
    offset: u64,
}

async fn deployment_log(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<DeploymentPath>,
    Query(query): Query<DeploymentLogQuery>,
) -> ApiResult<Response> {
    // Streamed from the file: a log is never read whole into memory.
    let id = path.id(&state.service)?;
    let body = match state.service.deployment_log_from(&path.app, id, query.offset).await? {
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
    let started = state.service.redeploy(&path.app, path.id(&state.service)?, clean_env).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

/// Stops a deployment that has not ended; it ends `failed`, "cancelled by the operator".
async fn cancel(State(state): State<AppState>, ApiPath(path): ApiPath<DeploymentPath>) -> ApiResult<Response> {
    let deployment = state.service.cancel(&path.app, Some(path.id(&state.service)?))?;
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
    deployment: Option<DeploymentId>,
}

/// Switches to a kept release (`{"deployment": ID}` or `{"deployment": "v3"}`, or by default the one before the live one);
/// answers with the deployment now live once it serves.
async fn rollback(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Deployment>> {
    let target =
        optional_json::<RollbackBody>(&body)?.deployment.map(|d| d.resolve(&state.service, &app)).transpose()?;
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

/// The app's log: its processes' output, the router's line per request and the release phase's
/// output (`?lines=N`, `?source=web`; `?offset=N` continues where `X-Log-Offset` said).
async fn app_log(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    Query(query): Query<LogQuery>,
) -> ApiResult<Response> {
    let output = state.service.app_output(&app, &query).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
        (HeaderName::from_static("x-log-offset"), output.end.to_string()),
    ];
    Ok((headers, output.text).into_response())
}

/// `GET /metrics` (admin token): every app's requests and processes, for Prometheus.
pub async fn openmetrics(State(state): State<AppState>) -> ApiResult<Response> {
    let text = state.service.openmetrics()?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// The app's processes and how many of each type it is scaled to.
async fn list_processes(State(state): State<AppState>, ApiPath(app): ApiPath<AppName>) -> ApiResult<Json<Value>> {
    let processes = state.service.processes(&app)?;
    let requests = state.service.request_stats(&app)?;
    Ok(Json(json!({ "processes": processes, "scale": state.service.scale(&app)?, "requests": requests })))
}

/// `{"web": 2, "worker": 1}`: starts or stops processes to match.
async fn scale(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    ApiJson(counts): ApiJson<BTreeMap<String, u32>>,
) -> ApiResult<Json<Value>> {
    let processes = state.service.set_scale(&app, &counts).await?;
    Ok(Json(json!({ "processes": processes, "scale": state.service.scale(&app)? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    command: String,
}

/// Runs a command once in the live release. The answer streams as it runs, one JSON object per
/// line: `{"run": ID}`, then `{"line": "…"}` for each line of output, then
/// `{"exit_code": N, "outcome": "exit status: N"}`.
async fn run_command(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    ApiJson(body): ApiJson<RunBody>,
) -> ApiResult<Response> {
    let (run, events) = state.service.start_run(&app, &body.command, RunTrigger::Run).await?;
    let first = futures_util::stream::once(async move { json!({ "run": run.id }) });
    let rest = futures_util::stream::unfold(events, |mut events| async move {
        let event = match events.recv().await? {
            RunEvent::Line(line) => json!({ "line": line }),
            RunEvent::Exit(exit) => json!({ "exit_code": exit.code, "outcome": exit.description }),
        };
        Some((event, events))
    });
    let lines = futures_util::StreamExt::map(futures_util::StreamExt::chain(first, rest), |event| {
        Ok::<_, std::convert::Infallible>(format!("{event}\n"))
    });
    let body = axum::body::Body::from_stream(lines);
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

async fn list_runs(State(state): State<AppState>, ApiPath(app): ApiPath<AppName>) -> ApiResult<Json<Vec<Run>>> {
    Ok(Json(state.service.runs(&app, None, 50)?))
}

#[derive(Deserialize)]
struct RunPath {
    app: AppName,
    id: i64,
}

/// A run's record and its output.
async fn show_run(State(state): State<AppState>, ApiPath(path): ApiPath<RunPath>) -> ApiResult<Json<Value>> {
    let (run, output) = state.service.run_output(&path.app, path.id)?;
    Ok(Json(json!({ "run": run, "output": output })))
}

async fn list_cron(State(state): State<AppState>, ApiPath(app): ApiPath<AppName>) -> ApiResult<Json<Vec<CronEntry>>> {
    Ok(Json(state.service.cron(&app)?))
}

#[derive(Deserialize)]
struct CronPath {
    app: AppName,
    number: usize,
}

/// Runs a cron job now; `{"run": …}`, or `{"run": null}` when its `forbid` policy skipped it.
async fn run_cron_now(State(state): State<AppState>, ApiPath(path): ApiPath<CronPath>) -> ApiResult<Response> {
    let run = state.service.run_cron_now(&path.app, path.number).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run": run }))).into_response())
}

async fn list_domains(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
) -> ApiResult<Json<Vec<DomainView>>> {
    Ok(Json(state.service.domains(&app)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainBody {
    domain: String,
}

/// `{"domain": "www.example.com"}`; with `--https`, its certificate is being obtained (`pending`).
async fn add_domain(
    State(state): State<AppState>,
    ApiPath(app): ApiPath<AppName>,
    ApiJson(body): ApiJson<DomainBody>,
) -> ApiResult<Response> {
    let view = state.service.add_domain(&app, &body.domain)?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Deserialize)]
struct DomainPath {
    app: AppName,
    domain: String,
}

async fn remove_domain(State(state): State<AppState>, ApiPath(path): ApiPath<DomainPath>) -> ApiResult<Json<Value>> {
    state.service.remove_domain(&path.app, &path.domain)?;
    Ok(Json(json!({ "deleted": path.domain })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateBody {
    /// The certificate chain, PEM.
    certificate: String,
    /// Its private key, PEM.
    key: String,
}

/// The operator's own certificate for a domain of the app; ACME leaves it alone from then on.
async fn put_certificate(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<DomainPath>,
    ApiJson(body): ApiJson<CertificateBody>,
) -> ApiResult<Json<DomainView>> {
    Ok(Json(state.service.install_certificate(&path.app, &path.domain, &body.certificate, &body.key)?))
}
