//! One deployment: its log (followed live while it runs), its step timings, and redeploying it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::super::session::{CurrentSession, Flash};
use super::super::views::{self, DeploymentRow, LogLine, StepRow};
use super::super::{Chrome, DashPath, DashResult, DashState, Page};
use super::{back_to, flash_views, FlashView};
use crate::app_name::AppName;
use crate::error::ErrorKind;
use crate::http::extract::DeploymentPath;

#[derive(Template)]
#[template(path = "deployment.html")]
struct DeploymentPage {
    chrome: Chrome,
    flashes: Vec<FlashView>,
    name: AppName,
    d: DeploymentRow,
    log: Vec<LogLine>,
    log_bytes: usize,
    steps: Vec<StepRow>,
}

pub(super) async fn deployment_page(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    DashPath(path): DashPath<DeploymentPath>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let (id, app) = (path.id(service)?, path.app);
    let deployment = service.deployment(&app, id)?;
    let log = service.deployment_log(&app, id, 0).await?;
    let text = String::from_utf8_lossy(&log);
    let page = DeploymentPage {
        chrome: Chrome::new(format!("Deployment v{} of {app}", deployment.number), Some(&session.csrf)),
        flashes: flash_views(&dash, &session, &headers),
        d: DeploymentRow {
            kept: service.releases(&app)?.iter().any(|r| r.id == deployment.id),
            ..DeploymentRow::new(&deployment)
        },
        steps: views::step_rows(&deployment),
        log: views::log_lines(&text),
        log_bytes: log.len(),
        name: app,
    };
    Ok(Page::render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct FollowQuery {
    #[serde(default)]
    offset: u64,
}

/// The log from `offset` on and the deployment's status, for the page's script to follow a running
/// deployment (the session's twin of `GET /api/apps/{app}/deployments/{id}/log?offset=N`).
pub(super) async fn follow_log(
    State(dash): State<DashState>,
    DashPath(path): DashPath<DeploymentPath>,
    Query(query): Query<FollowQuery>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let (id, app) = (path.id(service)?, path.app);
    let deployment = service.deployment(&app, id)?;
    let bytes = service.deployment_log(&app, id, query.offset).await?;
    // Only whole lines, so a multi-byte character is never cut in two.
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let badge = views::deployment_badge(deployment.status);
    Ok(Json(json!({
        "text": String::from_utf8_lossy(&bytes[..whole]),
        "offset": query.offset + whole as u64,
        "status": deployment.status,
        "label": badge.label,
        "tone": badge.tone,
        "icon": badge.icon,
        "finished": deployment.status.is_finished(),
    }))
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct RedeployForm {
    #[serde(default)]
    clean_env: String,
}

pub(super) async fn cancel(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(path): DashPath<DeploymentPath>,
) -> DashResult<Response> {
    let (id, app) = (path.id(&dash.app.service)?, path.app);
    let flash = match dash.app.service.cancel(&app, Some(id)) {
        Ok(d) => Flash::Notice(format!("Cancelling deployment v{}: its build is stopped.", d.number)),
        Err(e) if e.kind() == ErrorKind::Invalid => Flash::Error(e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let number = dash.app.service.deployment(&app, id)?.number;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}/deployments/v{number}")))
}

pub(super) async fn redeploy(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(path): DashPath<DeploymentPath>,
    Form(form): Form<RedeployForm>,
) -> DashResult<Response> {
    let clean_env = matches!(form.clean_env.as_str(), "1" | "true" | "on");
    let (id, app) = (path.id(&dash.app.service)?, path.app);
    let from = dash.app.service.deployment(&app, id)?;
    let started = dash.app.service.redeploy(&app, id, clean_env).await?;
    let how = if clean_env { " with a clean env" } else { "" };
    let notice = format!("Redeploying v{}'s commit{how}: deployment v{}.", from.number, started.number);
    Ok(back_to(&dash, &session, Flash::Notice(notice), &format!("/apps/{app}/deployments/v{}", started.number)))
}
