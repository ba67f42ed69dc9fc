//! One app's page: how to connect (git, FTP), its settings, env, deployments and recent output;
//! and its forms: a new deployment password, a setting saved or deleted, the Python version.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;
use slipway_build::lifecycle;

use super::super::session::{CurrentSession, Flash};
use super::super::views::{self, Badge, DeploymentRow, EnvView, RequestsView, SettingRow, When};
use super::super::{Chrome, DashError, DashPath, DashResult, DashState, Page};
use super::{back_to, flash_views, FlashView};

use crate::app_name::AppName;
use crate::error::{Error, ErrorKind};
use crate::http::api::app_view;
use crate::service::logs::LogQuery;
use crate::service::settings::Change;
use crate::settings::{DEPLOYMENT_REPOSITORY, PYTHON_VERSION};

/// One process, as the Processes card lists it.
struct ProcessView {
    name: String,
    state: Badge,
    uptime: String,
    restarts: u32,
    memory: String,
    cpu: String,
    command: String,
}

/// A process type and how many of it run, for the scale form.
struct ScaleRow {
    kind: String,
    count: u32,
}

/// A link that filters the log by source.
struct SourceLink {
    label: &'static str,
    value: &'static str,
    current: bool,
}

/// The log's sources, as the page offers them.
const LOG_SOURCES: &[(&str, &str)] =
    &[("All", ""), ("web", "web"), ("worker", "worker"), ("router", "router"), ("release", "release")];

/// One cron job, with its last run.
struct CronView {
    number: usize,
    schedule: String,
    command: String,
    policy: String,
    last: String,
    next: String,
}

/// One of the app's names, with its certificate.
struct DomainRow {
    domain: String,
    kind: &'static str,
    url: String,
    /// `issued by Pebble Intermediate CA, until 2027-02-24`, `pending`, or empty.
    certificate: String,
    error: String,
}

/// One recent run, with its output.
struct RunView {
    id: i64,
    command: String,
    trigger: String,
    started: When,
    outcome: String,
    ok: bool,
    output: String,
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
    /// Server-wide settings the app does not set itself.
    inherited: Vec<SettingRow>,
    revealed: bool,
    python_choices: Vec<PythonChoice>,
    env: EnvView,
    deployments: Vec<DeploymentRow>,
    running: Option<DeploymentRow>,
    active: Option<DeploymentRow>,
    output: String,
    output_truncated: bool,
    processes: Vec<ProcessView>,
    scale: Vec<ScaleRow>,
    /// The scale form's upper bound: what the service accepts.
    max_scale: u32,
    requests: RequestsView,
    log_sources: Vec<SourceLink>,
    /// The source the log is filtered by, or empty.
    log_source: String,
    /// Where the page's script follows the log from.
    log_offset: u64,
    cron: Vec<CronView>,
    cron_problem: String,
    runs: Vec<RunView>,
    domains: Vec<DomainRow>,
    hook_configured: bool,
    /// `DEPLOYMENT_REPOSITORY`, its password masked; empty when not set.
    hook_repository: String,
}

/// `?reveal=true` shows the settings' values in clear; `?source=router` filters the log.
#[derive(Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    pub(super) reveal: bool,
    #[serde(default)]
    source: String,
}

/// How many of the log's last lines the page shows (the log page follows it all).
const SHOWN_LOG_LINES: usize = 200;

/// How many recent runs the page shows, with their output.
const SHOWN_RUNS: usize = 10;

pub(super) async fn app_page(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    DashPath(app): DashPath<AppName>,
    Query(query): Query<PageQuery>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let view = app_view(&dash.app, &headers, &app, None)?;
    let log_source = LOG_SOURCES.iter().find(|(_, value)| *value == query.source).map_or("", |(_, value)| value);
    let mut settings = service.own_settings(&app)?;
    let python_setting = settings.remove(PYTHON_VERSION).unwrap_or_default();
    let mut inherited = service.global_settings()?;
    inherited.retain(|key, _| !settings.contains_key(key) && key != PYTHON_VERSION);
    let kept: Vec<i64> = service.releases(&app)?.iter().map(|r| r.id).collect();
    let deployments: Vec<DeploymentRow> = service
        .deployments(&app)?
        .iter()
        .map(|d| DeploymentRow { kept: kept.contains(&d.id), ..DeploymentRow::new(d) })
        .collect();
    let env = service.env_info(&app).await?;
    let source = Some(log_source.to_string()).filter(|s| !s.is_empty());
    let log = service.app_output(&app, &LogQuery { lines: Some(SHOWN_LOG_LINES), source, offset: None }).await?;
    let process = &view.summary.process;
    let mut process_detail = match (process.pid, process.port) {
        (Some(pid), Some(port)) => format!("pid {pid}, port {port}, {} restarts", process.restarts),
        _ => String::new(),
    };
    if let Some(exit) = &process.last_exit {
        process_detail = format!("{process_detail} — last exit: {exit}").trim_start_matches(" — ").to_string();
    }
    let (cron, cron_problem) = cron_views(service.cron(&app));
    let processes = service.processes(&app)?;
    let page = AppPage {
        scale: scale_rows(service.scale(&app)?, &processes),
        max_scale: crate::service::processes::MAX_SCALE,
        processes: processes.into_iter().map(process_view).collect(),
        requests: views::requests_view(&service.request_stats(&app)?),
        log_sources: LOG_SOURCES
            .iter()
            .map(|(label, value)| SourceLink { label, value, current: *value == log_source })
            .collect(),
        log_source: log_source.to_string(),
        log_offset: log.end,
        output: log.text,
        output_truncated: log.truncated,
        cron,
        cron_problem,
        runs: run_views(service, &app)?,
        domains: service.domains(&app)?.into_iter().map(domain_row).collect(),
        hook_configured: service.has_hook(&app)?,
        hook_repository: service
            .settings(&app)?
            .get(DEPLOYMENT_REPOSITORY)
            .map(|url| crate::settings::masked(DEPLOYMENT_REPOSITORY, url))
            .unwrap_or_default(),
        chrome: Chrome::new(app.to_string(), Some(&session.csrf)),
        flashes: flash_views(&dash, &session, &headers),
        created: views::when(view.summary.created_at),
        process: views::process_badge(process),
        process_detail,
        git_url: view.git_url,
        ftp_host: view.summary.ftp_host,
        ftp_user: view.summary.ftp_user,
        url: view.summary.url,
        settings: views::setting_rows(settings, query.reveal),
        inherited: views::setting_rows(inherited, query.reveal),
        revealed: query.reveal,
        python_choices: python_choices(&dash, &python_setting),
        env: EnvView::from_description(&env),
        running: deployments.iter().find(|d| !d.finished).cloned(),
        active: deployments.iter().find(|d| d.active).cloned(),
        deployments,
        name: app,
    };
    Ok(Page::render(StatusCode::OK, &page))
}

fn process_view(row: crate::supervisor::ProcessRow) -> ProcessView {
    ProcessView {
        state: views::state_badge(row.state),
        uptime: views::duration_text(row.uptime as f64),
        memory: row.memory.map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_else(|| "-".into()),
        cpu: row.cpu_seconds.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into()),
        restarts: row.restarts,
        command: row.command,
        name: row.name,
    }
}

/// Every process type the app runs or is scaled to, with its count (a type not named runs one).
fn scale_rows(scale: BTreeMap<String, u32>, processes: &[crate::supervisor::ProcessRow]) -> Vec<ScaleRow> {
    let mut counts = scale;
    for process in processes {
        counts.entry(process.kind.clone()).or_insert(1);
    }
    counts.into_iter().map(|(kind, count)| ScaleRow { kind, count }).collect()
}

/// The cron jobs, or why app.json's cannot be read (nothing deployed is no problem).
fn cron_views(entries: crate::error::Result<Vec<crate::service::cron::CronEntry>>) -> (Vec<CronView>, String) {
    let entries = match entries {
        Ok(entries) => entries,
        Err(Error::NothingDeployed(_)) => return (Vec::new(), String::new()),
        Err(e) => return (Vec::new(), e.to_string()),
    };
    let views = entries
        .into_iter()
        .map(|entry| CronView {
            last: match &entry.last_run {
                None => "never".into(),
                Some(run) => {
                    format!("{} — {}", views::when(run.started_at).ago, run.outcome.as_deref().unwrap_or("running"))
                }
            },
            next: entry.next_run.unwrap_or_default().replace('T', " ").replace('Z', " UTC"),
            number: entry.job.number,
            policy: format!("{:?}", entry.job.concurrency_policy).to_lowercase(),
            schedule: entry.job.schedule,
            command: entry.job.command,
        })
        .collect();
    (views, String::new())
}

fn run_views(service: &crate::service::Service, app: &AppName) -> DashResult<Vec<RunView>> {
    let runs = service.runs(app, None, SHOWN_RUNS)?;
    runs.into_iter()
        .map(|run| {
            let (_, output) = service.run_output(app, run.id)?;
            Ok(RunView {
                id: run.id,
                trigger: run.trigger.as_str().to_string(),
                started: views::when(run.started_at),
                outcome: run.outcome.clone().unwrap_or_else(|| "running".into()),
                ok: run.exit_code == Some(0),
                command: run.command,
                output,
            })
        })
        .collect()
}

fn domain_row(view: crate::service::domains::DomainView) -> DomainRow {
    let certificate = match &view.certificate {
        None => String::new(),
        Some(c) => match (c.state, &c.issuer, c.not_after) {
            ("issued", Some(issuer), Some(until)) => format!("issued by {issuer}, until {}", until.date()),
            (state, _, _) => state.to_string(),
        },
    };
    let error = view.certificate.as_ref().and_then(|c| c.last_error.clone()).unwrap_or_default();
    DomainRow { domain: view.domain, kind: view.kind, url: view.url, certificate, error }
}

#[derive(Deserialize)]
pub(super) struct DomainForm {
    domain: String,
}

/// Adds a custom domain, as `slipway domains add` does.
pub(super) async fn add_domain(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<DomainForm>,
) -> DashResult<Response> {
    let result = dash.app.service.add_domain(&app, &form.domain).map(|view| format!("Added {}.", view.domain));
    let flash = settled(result)?;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#domains")))
}

pub(super) async fn remove_domain(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<DomainForm>,
) -> DashResult<Response> {
    let result = dash.app.service.remove_domain(&app, &form.domain).map(|_| format!("Removed {}.", form.domain));
    let flash = settled(result)?;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#domains")))
}

#[derive(Deserialize)]
pub(super) struct CronForm {
    number: usize,
}

/// Runs a cron job now, as `slipway cron APP run N` does.
pub(super) async fn run_cron_now(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<CronForm>,
) -> DashResult<Response> {
    let result = dash.app.service.run_cron_now(&app, form.number).await.map(|run| match run {
        Some(run) => format!("Cron job {} started as run {}: its output is under Recent runs.", form.number, run.id),
        None => format!("Cron job {} was skipped: its previous run has not ended (forbid).", form.number),
    });
    let flash = settled(result)?;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#runs")))
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

/// A new secret for the deployment webhook; its URL is shown this once.
pub(super) async fn reset_webhook(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    DashPath(app): DashPath<AppName>,
) -> DashResult<Response> {
    let secret = dash.app.service.reset_hook_secret(&app)?;
    let url = format!("{}/hooks/{app}/{secret}", crate::http::public_base(&dash.app, &headers));
    let notice = format!("New webhook URL, shown once: {url} — add it to the repository's webhooks (push events).");
    Ok(back_to(&dash, &session, Flash::Notice(notice), &format!("/apps/{app}#webhook")))
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

impl SettingForm {
    /// The change the form asks for, and how its flash starts (`Saved KEY`).
    pub(super) fn change<'a>(&'a self, values: &'a mut BTreeMap<String, String>) -> (Change<'a>, String) {
        let key = self.key.trim();
        if self.action == "delete" {
            (Change::Unset(key), format!("Deleted {key}"))
        } else {
            values.insert(key.to_string(), self.value.clone());
            (Change::Set(values), format!("Saved {key}"))
        }
    }
}

pub(super) async fn save_setting(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<SettingForm>,
) -> DashResult<Response> {
    let mut values = BTreeMap::new();
    let (change, done) = form.change(&mut values);
    let result = dash.app.service.change_settings(&app, change, true).await;
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
        Ok(live) => Flash::Notice(format!("Rolled back: deployment v{} is live again (no rebuild).", live.number)),
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
    // A new Python takes a build: the service does not restart the running processes for it.
    let values = BTreeMap::from([(PYTHON_VERSION.to_string(), version.clone())]);
    let result = if version.is_empty() {
        service.change_settings(&app, Change::Unset(PYTHON_VERSION), true).await.map(|_| {
            "PYTHON_VERSION is not set: the next deployment takes runtime.txt, .python-version or the server's default."
                .to_string()
        })
    } else {
        service.change_settings(&app, Change::Set(&values), true).await.map(|_| {
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
pub(super) fn settled(result: crate::error::Result<String>) -> DashResult<Flash> {
    match result {
        Ok(done) => Ok(Flash::Notice(done)),
        Err(Error::NoSuchApp(app)) => Err(DashError::from(Error::NoSuchApp(app))),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::Invalid | ErrorKind::NotFound | ErrorKind::Conflict | ErrorKind::AppFailed
            ) =>
        {
            Ok(Flash::Error(e.to_string()))
        }
        Err(e) => Err(DashError::from(e)),
    }
}
