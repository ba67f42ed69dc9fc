//! One app's page: how to connect (git, FTP), its settings, env, deployments and recent output;
//! and its forms: a new deployment password, a setting saved or deleted, the Python version.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;
use slipway_build::lifecycle;

use super::super::session::{CurrentSession, Flash};
use super::super::views::{self, Badge, DeploymentRow, EnvView, When};
use super::super::{Chrome, DashError, DashPath, DashResult, DashState, Page};
use super::{back_to, flash_views, FlashView};

use crate::app_name::AppName;
use crate::error::{Error, ErrorKind};
use crate::http::api::app_view;
use crate::service::settings::Change;
use crate::settings::PYTHON_VERSION;

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
    name: AppName,
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

pub(super) async fn app_page(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    DashPath(app): DashPath<AppName>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let view = app_view(&dash.app, &headers, &app, None)?;
    let mut settings = service.settings(&app)?.into_values();
    let python_setting = settings.remove(PYTHON_VERSION).unwrap_or_default();
    let kept: Vec<i64> = service.releases(&app)?.iter().map(|r| r.id).collect();
    let deployments: Vec<DeploymentRow> = service
        .deployments(&app)?
        .iter()
        .map(|d| DeploymentRow { kept: kept.contains(&d.id), ..DeploymentRow::new(d) })
        .collect();
    let env = service.env_info(&app).await?;
    let (output, output_truncated) = views::output_text(&service.app_output(&app, None).await?);
    let process = &view.summary.process;
    let mut process_detail = match (process.pid, process.port) {
        (Some(pid), Some(port)) => format!("pid {pid}, port {port}, {} restarts", process.restarts),
        _ => String::new(),
    };
    if let Some(exit) = &process.last_exit {
        process_detail = format!("{process_detail} — last exit: {exit}").trim_start_matches(" — ").to_string();
    }
    let page = AppPage {
        chrome: Chrome::new(app.to_string(), Some(&session.csrf)),
        flashes: flash_views(&dash, &session, &headers),
        created: views::when(view.summary.created_at),
        process: views::process_badge(process),
        process_detail,
        git_url: view.git_url,
        ftp_host: view.summary.ftp_host,
        ftp_user: view.summary.ftp_user,
        url: view.summary.url,
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
    let runtimes = &dash.app.service.runtimes().runtimes;
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
    let today = lifecycle::today();
    let support = |version: &str| {
        let version = slipway_build::runtime::PythonVersion::parse(version).expect("a runtime's version");
        match (lifecycle::support(&version, today), lifecycle::end_of_life(&version)) {
            (lifecycle::Support::Supported, _) | (_, None) => String::new(),
            (support, Some(date)) => format!(" — {} ({date})", support.label()),
        }
    };
    for (minor, newest) in &minors {
        choices.push(PythonChoice {
            label: format!("{minor} (newest: {newest}){}", support(newest)),
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

pub(super) async fn reset_password(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
) -> DashResult<Response> {
    let password = dash.app.service.reset_password(&app).await?;
    let notice = "New deployment password: the old one no longer works for git or FTP.";
    dash.sessions.flash(&session, Flash::Notice(notice.to_string()));
    let flash = Flash::Password { app: app.to_string(), password };
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#connect")))
}

#[derive(Deserialize)]
pub(super) struct SettingForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    /// `save` (add or change) or `delete`.
    #[serde(default)]
    action: String,
}

pub(super) async fn save_setting(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<SettingForm>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let key = form.key.trim().to_string();
    let values = BTreeMap::from([(key.clone(), form.value)]);
    let (change, done) = if form.action == "delete" {
        (Change::Unset(&key), format!("Deleted {key}"))
    } else {
        (Change::Set(&values), format!("Saved {key}"))
    };
    let result = service.change_settings(&app, change, true).await;
    let flash = settled(result.map(|(_, applied)| format!("{done}: {}.", applied.describe())))?;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#settings")))
}

#[derive(Deserialize)]
pub(super) struct RollbackForm {
    deployment: i64,
}

/// Switches to a kept release, as `slipway rollback` does.
pub(super) async fn rollback(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<RollbackForm>,
) -> DashResult<Response> {
    let result = dash.app.service.rollback(&app, Some(form.deployment)).await;
    let flash = match result {
        Ok(live) => Flash::Notice(format!("Rolled back: deployment {} is live again (no rebuild).", live.id)),
        Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::AppFailed) => Flash::Error(e.to_string()),
        Err(e) => return Err(e.into()),
    };
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#deployments")))
}

#[derive(Deserialize)]
pub(super) struct PythonForm {
    #[serde(default)]
    version: String,
}

pub(super) async fn save_python_version(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<PythonForm>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let version = form.version.trim().to_string();
    // A new Python takes a build: the running processes are not restarted for it.
    let values = BTreeMap::from([(PYTHON_VERSION.to_string(), version.clone())]);
    let result = if version.is_empty() {
        service.change_settings(&app, Change::Unset(PYTHON_VERSION), false).await.map(|_| {
            "PYTHON_VERSION is not set: the next deployment takes runtime.txt, .python-version or the server's default."
                .to_string()
        })
    } else {
        service.change_settings(&app, Change::Set(&values), false).await.map(|_| {
            format!("PYTHON_VERSION = {version}. Deploy to apply it: env is recreated if its Python version changes.")
        })
    };
    // Unsetting a setting that was not set is no error here: the form's choice is "not set".
    let result = match result {
        Err(Error::NoSuchSetting { .. }) => Ok(format!("{PYTHON_VERSION} was not set.")),
        other => other,
    };
    let flash = settled(result)?;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#settings")))
}

/// A form's outcome as the message for the next page: done, or what was wrong with the input.
/// slipway's own failures are an error page.
fn settled(result: crate::error::Result<String>) -> DashResult<Flash> {
    match result {
        Ok(done) => Ok(Flash::Notice(done)),
        Err(Error::NoSuchApp(app)) => Err(DashError::from(Error::NoSuchApp(app))),
        Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::NotFound) => Ok(Flash::Error(e.to_string())),
        Err(e) => Err(DashError::from(e)),
    }
}
