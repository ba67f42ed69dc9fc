//! The dashboard's routes, one module per page: [`login`], [`home`] (the app list), [`app`] (one
//! app: connection details, settings, env, deployments, output), [`env`] (resetting env), [`processes`] (restart, stop, start, scale, the live log),
//! [`delete`], [`server_settings`],
//! [`deployment`] (one deployment and its log). Each page's handler gathers what it shows from
//! the service layer and renders its template; each form's handler calls the same service
//! operation as its REST API twin, leaves a one-time message in the session and redirects
//! (post/redirect/get), so reloading a page never repeats an action.

mod app;
mod delete;
mod deployment;
mod env;
mod home;
mod login;
mod processes;
mod server_settings;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::session::{CurrentSession, Flash};
use super::DashState;

pub fn public_routes() -> Router<DashState> {
    Router::new().route("/login", get(login::login_page).post(login::login))
}

pub fn protected_routes() -> Router<DashState> {
    Router::new()
        .route("/", get(home::home))
        .route("/logout", post(login::logout))
        .route("/settings", get(server_settings::server_settings_page).post(server_settings::save_server_setting))
        .route("/apps", post(home::create_app))
        .route("/apps/{app}", get(app::app_page))
        .route("/apps/{app}/credentials/reset", post(app::reset_password))
        .route("/apps/{app}/webhook/reset", post(app::reset_webhook))
        .route("/apps/{app}/processes", post(processes::control))
        .route("/apps/{app}/scale", post(processes::scale))
        .route("/apps/{app}/logs/follow", get(processes::follow_log))
        .route("/apps/{app}/delete", get(delete::confirm_delete).post(delete::delete))
        .route("/apps/{app}/settings", post(app::save_setting))
        .route("/apps/{app}/settings/python", post(app::save_python_version))
        .route("/apps/{app}/env/reset", get(env::confirm_env_reset).post(env::reset_env))
        .route("/apps/{app}/deployments/{id}", get(deployment::deployment_page))
        .route("/apps/{app}/deployments/{id}/follow", get(deployment::follow_log))
        .route("/apps/{app}/deployments/{id}/redeploy", post(deployment::redeploy))
        .route("/apps/{app}/deployments/{id}/cancel", post(deployment::cancel))
        .route("/apps/{app}/rollback", post(app::rollback))
        .route("/apps/{app}/cron/run", post(app::run_cron_now))
        .route("/apps/{app}/domains", post(app::add_domain))
        .route("/apps/{app}/domains/remove", post(app::remove_domain))
}

/// A flash as the page shows it. For a new password: the clone URL with the credentials in it and
/// the `git remote add` line to paste.
struct FlashView {
    kind: &'static str,
    message: String,
    app: String,
    password: String,
    remote_command: String,
}

impl FlashView {
    fn message(kind: &'static str, message: String) -> Self {
        FlashView { kind, message, app: String::new(), password: String::new(), remote_command: String::new() }
    }
}

fn flash_views(dash: &DashState, session: &CurrentSession, headers: &HeaderMap) -> Vec<FlashView> {
    dash.sessions
        .take_flashes(session)
        .into_iter()
        .map(|flash| match flash {
            Flash::Notice(message) => FlashView::message("notice", message),
            Flash::Error(message) => FlashView::message("error", message),
            Flash::Password { app, password } => {
                let base = crate::http::public_base(&dash.app, headers);
                let with_credentials = base.replacen("://", &format!("://{app}:{password}@"), 1);
                let remote_command = format!("git remote add slipway {with_credentials}/git/{app}.git");
                FlashView { kind: "password", message: String::new(), app, password, remote_command }
            }
        })
        .collect()
}

/// Leaves a message for the next page and redirects there.
fn back_to(dash: &DashState, session: &CurrentSession, flash: Flash, to: &str) -> Response {
    dash.sessions.flash(session, flash);
    Redirect::to(to).into_response()
}
