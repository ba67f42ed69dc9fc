//! The dashboard's routes: each page's handler gathers what it shows and renders its template;
//! each form's handler calls the same function as its REST API twin, leaves a one-time message in
//! the session and redirects (post/redirect/get), so reloading a page never repeats an action.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::session::{self, CurrentSession, Flash};
use super::views::{self, Badge, DeploymentRow, EnvView, LogLine, StepRow, When};
use super::{Chrome, DashResult, DashState, Page};
use crate::api;

/// How much of the app's output the app page shows.
const OUTPUT_TAIL_BYTES: u64 = 32 * 1024;

pub fn public_routes() -> Router<DashState> {
    Router::new().route("/login", get(login_page).post(login))
}

pub fn protected_routes() -> Router<DashState> {
    Router::new()
        .route("/", get(home))
        .route("/logout", post(logout))
        .route("/apps", post(create_app))
        .route("/apps/{app}", get(app_page))
        .route("/apps/{app}/credentials/reset", post(reset_password))
        .route("/apps/{app}/settings", post(save_setting))
        .route("/apps/{app}/settings/python", post(save_python_version))
        .route("/apps/{app}/env/reset", get(confirm_env_reset).post(reset_env))
        .route("/apps/{app}/deployments/{id}", get(deployment_page))
        .route("/apps/{app}/deployments/{id}/follow", get(follow_log))
        .route("/apps/{app}/deployments/{id}/redeploy", post(redeploy))
}

// ---- login ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: String,
    notice: String,
    next: String,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    expired: Option<String>,
}

async fn login_page(State(dash): State<DashState>, headers: HeaderMap, Query(query): Query<LoginQuery>) -> Response {
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
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

async fn login(State(dash): State<DashState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    if !session::same_origin(&dash, &headers) {
        return Page::error(StatusCode::FORBIDDEN, "Request refused", "This login form was sent from another site.");
    }
    let next = local_or_root(&form.next);
    let token = form.token.trim();
    if token.is_empty() || !crate::auth::is_admin_token(&dash.app, token) {
        let error = if token.is_empty() {
            "Enter the admin token."
        } else {
            "That is not the admin token: no session was started."
        };
        let page =
            LoginPage { chrome: Chrome::new("Log in", None), error: error.to_string(), notice: String::new(), next };
        return Page::render(StatusCode::UNAUTHORIZED, &page);
    }
    let id = dash.sessions.create();
    let secure = dash.app.shared.config.tls.is_some();
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

async fn logout(State(dash): State<DashState>, Extension(session): Extension<CurrentSession>) -> Response {
    dash.sessions.remove(&session);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie());
    response
}

// ---- one-time messages ----

/// A flash as the page shows it. For a new password: the clone URL with the credentials in it and
/// the `git remote add` line to paste.
struct FlashView {
    kind: &'static str,
    message: String,
    app: String,
    password: String,
    remote_command: String,
}

fn flash_views(dash: &DashState, session: &CurrentSession, headers: &HeaderMap) -> Vec<FlashView> {
    dash.sessions
        .take_flashes(session)
        .into_iter()
        .map(|flash| match flash {
            Flash::Notice(message) => FlashView {
                kind: "notice",
                message,
                app: String::new(),
                password: String::new(),
                remote_command: String::new(),
            },
            Flash::Error(message) => FlashView {
                kind: "error",
                message,
                app: String::new(),
                password: String::new(),
                remote_command: String::new(),
            },
            Flash::Password { app, password } => {
                let base = api::public_base(&dash.app, headers);
                let with_credentials = base.replacen("://", &format!("://{app}:{password}@"), 1);
                let remote_command = format!("git remote add slipway {with_credentials}/git/{app}.git");
                FlashView { kind: "password", message: String::new(), app, password, remote_command }
            }
        })
        .collect()
}

fn back_to(dash: &DashState, session: &CurrentSession, flash: Flash, to: &str) -> Response {
    dash.sessions.flash(session, flash);
    Redirect::to(to).into_response()
}

// ---- the app list ----

struct AppRow {
    name: String,
    last: Option<DeploymentRow>,
    /// The active deployment's id.
    live: Option<i64>,
    process: Badge,
    python: String,
    url: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    flashes: Vec<FlashView>,
    apps: Vec<AppRow>,
    runtimes: String,
    create_error: String,
    create_name: String,
}

async fn home(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
) -> DashResult<Response> {
    home_with(&dash, &session, &headers, StatusCode::OK, String::new(), String::new())
}

fn home_with(
    dash: &DashState,
    session: &CurrentSession,
    headers: &HeaderMap,
    status: StatusCode,
    create_error: String,
    create_name: String,
) -> DashResult<Response> {
    let shared = &dash.app.shared;
    let mut apps = Vec::new();
    for name in shared.store.app_names()? {
        let deployments = shared.store.deployments(&name)?;
        let last = deployments.first().map(DeploymentRow::new);
        let live = deployments.iter().find(|d| d.active).map(|d| d.id);
        let marker = slipway_build::env::ExistingEnv::read(&shared.app_paths(&name).env());
        let python = match marker {
            slipway_build::env::ExistingEnv::Marked(marker) => marker.python_version.to_string(),
            _ => shared
                .store
                .settings(&name)?
                .get("PYTHON_VERSION")
                .map(|v| format!("{v} (setting)"))
                .unwrap_or_default(),
        };
        let view = api::app_view(&dash.app, headers, &name, None)?;
        apps.push(AppRow { process: views::process_badge(&view.process), url: view.url, name, last, live, python });
    }
    let page = HomePage {
        chrome: Chrome::new("Apps", Some(&session.csrf)),
        flashes: flash_views(dash, session, headers),
        apps,
        runtimes: shared.runtimes.describe_versions(),
        create_error,
        create_name,
    };
    Ok(Page::render(status, &page))
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
}

async fn create_app(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> DashResult<Response> {
    let name = form.name.trim().to_string();
    match api::create_app_named(&dash.app, &name).await {
        Ok(password) => {
            dash.sessions.flash(&session, Flash::Notice(format!("Created {name}.")));
            Ok(back_to(&dash, &session, Flash::Password { app: name.clone(), password }, &format!("/apps/{name}")))
        }
        Err(e) if e.status.is_client_error() => home_with(&dash, &session, &headers, e.status, e.message, name),
        Err(e) => Err(e.into()),
    }
}

// ---- one app ----

struct SettingRow {
    key: String,
    value: String,
}

struct PythonChoice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    chrome: Chrome,
    flashes: Vec<FlashView>,
    name: String,
    created: When,
    git_url: String,
    ftp_host: String,
    ftp_user: String,
    url: String,
    process: Badge,
    process_detail: String,
    settings: Vec<SettingRow>,
    python_choices: Vec<PythonChoice>,
    env: EnvView,
    deployments: Vec<DeploymentRow>,
    running: Option<DeploymentRow>,
    active: Option<DeploymentRow>,
    output: String,
    output_truncated: bool,
}

async fn app_page(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> DashResult<Response> {
    api::known_app(&dash.app, &app)?;
    let shared = dash.app.shared.clone();
    let view = api::app_view(&dash.app, &headers, &app, None)?;
    let mut settings = shared.store.settings(&app)?;
    let python_setting = settings.remove("PYTHON_VERSION").unwrap_or_default();
    let deployments: Vec<DeploymentRow> = shared.store.deployments(&app)?.iter().map(DeploymentRow::new).collect();
    let paths = shared.app_paths(&app);
    let (env, (output, output_truncated)) = tokio::task::spawn_blocking(move || {
        (crate::env_info::describe(&paths.env()), views::tail(&paths.log_files().join("app.log"), OUTPUT_TAIL_BYTES))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    let process_detail = match (view.process.pid, view.process.port) {
        (Some(pid), Some(port)) => format!("pid {pid}, port {port}, {} restarts", view.process.restarts),
        _ => String::new(),
    };
    let page = AppPage {
        chrome: Chrome::new(app.clone(), Some(&session.csrf)),
        flashes: flash_views(&dash, &session, &headers),
        created: views::when(&view.created_at),
        git_url: view.git_url,
        ftp_host: view.ftp_host,
        ftp_user: view.ftp_user,
        url: view.url,
        process: views::process_badge(&view.process),
        process_detail,
        settings: settings.into_iter().map(|(key, value)| SettingRow { key, value }).collect(),
        python_choices: python_choices(&dash, &python_setting),
        env: EnvView::from_description(&env),
        running: deployments.iter().find(|d| !d.finished).cloned(),
        active: deployments.iter().find(|d| d.active).cloned(),
        deployments,
        output,
        output_truncated,
        name: app,
    };
    Ok(Page::render(StatusCode::OK, &page))
}

/// `PYTHON_VERSION` choices: not set, then each minor version found (its newest patch), then each
/// exact version found; a current value that no runtime provides stays, marked as such.
fn python_choices(dash: &DashState, current: &str) -> Vec<PythonChoice> {
    let runtimes = &dash.app.shared.runtimes.runtimes;
    let mut choices = vec![PythonChoice {
        value: String::new(),
        label: "Not set (runtime.txt, .python-version or default)".to_string(),
        selected: current.is_empty(),
    }];
    let mut minors: Vec<(String, String)> = Vec::new();
    for runtime in runtimes {
        let minor = runtime.version.major_minor();
        if !minors.iter().any(|(m, _)| *m == minor) {
            minors.push((minor, runtime.version.to_string()));
        }
    }
    for (minor, newest) in &minors {
        choices.push(PythonChoice {
            label: format!("{minor} (newest: {newest})"),
            selected: current == minor,
            value: minor.clone(),
        });
    }
    for runtime in runtimes {
        let version = runtime.version.to_string();
        if choices.iter().any(|c| c.value == version) {
            continue;
        }
        choices.push(PythonChoice {
            label: format!("{version} exactly ({})", runtime.implementation),
            selected: current == version,
            value: version,
        });
    }
    if !current.is_empty() && !choices.iter().any(|c| c.selected) {
        choices.push(PythonChoice {
            value: current.to_string(),
            label: format!("{current} (no runtime found for it)"),
            selected: true,
        });
    }
    choices
}

async fn reset_password(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    Path(app): Path<String>,
) -> DashResult<Response> {
    let password = api::new_password(&dash.app, &app)?;
    dash.sessions.flash(
        &session,
        Flash::Notice("New deployment password: the old one no longer works for git or FTP.".to_string()),
    );
    Ok(back_to(&dash, &session, Flash::Password { app: app.clone(), password }, &format!("/apps/{app}#connect")))
}

#[derive(Deserialize)]
struct SettingForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    /// `save` (add or change) or `delete`.
    #[serde(default)]
    action: String,
}

async fn save_setting(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    Path(app): Path<String>,
    Form(form): Form<SettingForm>,
) -> DashResult<Response> {
    api::known_app(&dash.app, &app)?;
    let key = form.key.trim().to_string();
    let back = format!("/apps/{app}#settings");
    let flash = if form.action == "delete" {
        if dash.app.shared.store.delete_setting(&app, &key)? {
            Flash::Notice(format!("Deleted {key}."))
        } else {
            Flash::Error(format!("There is no setting {key}."))
        }
    } else {
        match api::store_settings(&dash.app, &app, &BTreeMap::from([(key.clone(), form.value)])) {
            Ok(()) => Flash::Notice(format!("Saved {key}. It applies from the next deployment.")),
            Err(e) if e.status.is_client_error() => Flash::Error(e.message),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(back_to(&dash, &session, flash, &back))
}

#[derive(Deserialize)]
struct PythonForm {
    #[serde(default)]
    version: String,
}

async fn save_python_version(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    Path(app): Path<String>,
    Form(form): Form<PythonForm>,
) -> DashResult<Response> {
    api::known_app(&dash.app, &app)?;
    let version = form.version.trim().to_string();
    let back = format!("/apps/{app}#settings");
    let store = &dash.app.shared.store;
    let flash = if version.is_empty() {
        store.delete_setting(&app, "PYTHON_VERSION")?;
        Flash::Notice("PYTHON_VERSION is not set: the next deployment takes runtime.txt, .python-version or the server's default.".to_string())
    } else if !python_choices(&dash, "").iter().any(|c| c.value == version) {
        Flash::Error(format!(
            "No runtime on this server provides Python {version}. Found: {}.",
            dash.app.shared.runtimes.describe_versions()
        ))
    } else {
        api::store_settings(&dash.app, &app, &BTreeMap::from([("PYTHON_VERSION".to_string(), version.clone())]))?;
        Flash::Notice(format!(
            "PYTHON_VERSION = {version}. Deploy to apply it: env is recreated if its Python version changes."
        ))
    };
    Ok(back_to(&dash, &session, flash, &back))
}

// ---- resetting env ----

#[derive(Template)]
#[template(path = "reset_env.html")]
struct ResetEnvPage {
    chrome: Chrome,
    name: String,
    active: Option<DeploymentRow>,
    env: EnvView,
}

async fn confirm_env_reset(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    Path(app): Path<String>,
) -> DashResult<Response> {
    api::known_app(&dash.app, &app)?;
    let active = dash.app.shared.store.active_deployment(&app)?.as_ref().map(DeploymentRow::new);
    let env_dir = dash.app.shared.app_paths(&app).env();
    let env = tokio::task::spawn_blocking(move || crate::env_info::describe(&env_dir))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let page = ResetEnvPage {
        chrome: Chrome::new(format!("Reset the Python environment of {app}"), Some(&session.csrf)),
        name: app,
        active,
        env: EnvView::from_description(&env),
    };
    Ok(Page::render(StatusCode::OK, &page))
}

async fn reset_env(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    Path(app): Path<String>,
) -> DashResult<Response> {
    Ok(match api::reset_env_of(&dash.app, &app).await? {
        Some(started) => back_to(
            &dash,
            &session,
            Flash::Notice(format!(
                "Resetting the Python environment: deployment {} deletes env and builds it afresh.",
                started.id
            )),
            &format!("/apps/{app}/deployments/{}", started.id),
        ),
        None => back_to(
            &dash,
            &session,
            Flash::Notice(
                "env deleted. There is no active deployment to rebuild: the next push creates a fresh env.".to_string(),
            ),
            &format!("/apps/{app}"),
        ),
    })
}

// ---- one deployment ----

#[derive(Template)]
#[template(path = "deployment.html")]
struct DeploymentPage {
    chrome: Chrome,
    flashes: Vec<FlashView>,
    name: String,
    d: DeploymentRow,
    log: Vec<LogLine>,
    log_bytes: usize,
    steps: Vec<StepRow>,
}

async fn deployment_page(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    Path((app, id)): Path<(String, String)>,
) -> DashResult<Response> {
    let deployment = api::find_deployment(&dash.app, &app, &id)?;
    let log = tokio::fs::read(dash.app.shared.app_paths(&app).deployment_log(deployment.id)).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&log);
    let page = DeploymentPage {
        chrome: Chrome::new(format!("Deployment {} of {app}", deployment.id), Some(&session.csrf)),
        flashes: flash_views(&dash, &session, &headers),
        d: DeploymentRow::new(&deployment),
        steps: if deployment.status.is_finished() { views::step_timings(&text) } else { Vec::new() },
        log: views::log_lines(&text),
        log_bytes: log.len(),
        name: app,
    };
    Ok(Page::render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct FollowQuery {
    #[serde(default)]
    offset: usize,
}

/// The log from `offset` on and the deployment's status, for the page's script to follow a running
/// deployment (the session's twin of `GET /api/apps/{app}/deployments/{id}/log?offset=N`).
async fn follow_log(
    State(dash): State<DashState>,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<FollowQuery>,
) -> DashResult<Response> {
    let deployment = api::find_deployment(&dash.app, &app, &id)?;
    let bytes =
        tokio::fs::read(dash.app.shared.app_paths(&app).deployment_log(deployment.id)).await.unwrap_or_default();
    // Only whole lines, so a multi-byte character is never cut in two.
    let start = query.offset.min(bytes.len());
    let end = bytes[start..].iter().rposition(|b| *b == b'\n').map_or(start, |i| start + i + 1);
    let badge = views::deployment_badge(deployment.status);
    Ok(Json(json!({
        "text": String::from_utf8_lossy(&bytes[start..end]),
        "offset": end,
        "status": deployment.status,
        "label": badge.label,
        "tone": badge.tone,
        "icon": badge.icon,
        "finished": deployment.status.is_finished(),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct RedeployForm {
    #[serde(default)]
    clean_env: String,
}

async fn redeploy(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    Path((app, id)): Path<(String, String)>,
    Form(form): Form<RedeployForm>,
) -> DashResult<Response> {
    let deployment = api::find_deployment(&dash.app, &app, &id)?;
    let clean_env = matches!(form.clean_env.as_str(), "1" | "true" | "on");
    let started = api::start_deployment(&dash.app, &app, deployment.commit, clean_env, "redeploy").await?;
    let how = if clean_env { " with a clean env" } else { "" };
    Ok(back_to(
        &dash,
        &session,
        Flash::Notice(format!("Redeploying deployment {}'s commit{how}: deployment {}.", deployment.id, started.id)),
        &format!("/apps/{app}/deployments/{}", started.id),
    ))
}
