//! Resetting env: a confirmation page, then the reset (the same as `slipway env reset`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use super::super::session::{CurrentSession, Flash};
use super::super::views::{DeploymentRow, EnvView};
use super::super::{Chrome, DashPath, DashResult, DashState, Page};
use super::back_to;
use crate::app_name::AppName;

#[derive(Template)]
#[template(path = "reset_env.html")]
struct ResetEnvPage {
    chrome: Chrome,
    name: AppName,
    active: Option<DeploymentRow>,
    env: EnvView,
}

pub(super) async fn confirm_env_reset(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let active = service.active_deployment(&app)?.as_ref().map(DeploymentRow::new);
    let env = service.env_info(&app).await?;
    let page = ResetEnvPage {
        chrome: Chrome::new(format!("Reset the Python environment of {app}"), Some(&session.csrf)),
        name: app,
        active,
        env: EnvView::from_description(&env),
    };
    Ok(Page::render(StatusCode::OK, &page))
}

pub(super) async fn reset_env(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
) -> DashResult<Response> {
    Ok(match dash.app.service.reset_env(&app).await? {
        Some(started) => {
            let notice = format!(
                "Resetting the Python environment: deployment v{} deletes env and builds it afresh.",
                started.number
            );
            back_to(&dash, &session, Flash::Notice(notice), &format!("/apps/{app}/deployments/v{}", started.number))
        }
        None => {
            let notice = "env deleted. There is no active deployment to rebuild: the next push creates a fresh env.";
            back_to(&dash, &session, Flash::Notice(notice.to_string()), &format!("/apps/{app}"))
        }
    })
}
