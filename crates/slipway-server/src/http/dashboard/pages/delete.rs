//! Deleting an app: a confirmation page where the app's name is typed, then the deletion (the
//! same as `slipway apps delete APP --yes`).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;

use super::super::session::{CurrentSession, Flash};
use super::super::{Chrome, DashPath, DashResult, DashState, Page};
use super::{back_to, flash_views, FlashView};
use crate::app_name::AppName;

#[derive(Template)]
#[template(path = "delete_app.html")]
struct DeletePage {
    chrome: Chrome,
    flashes: Vec<FlashView>,
    name: AppName,
}

pub(super) async fn confirm_delete(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    DashPath(app): DashPath<AppName>,
) -> DashResult<Response> {
    dash.app.service.require_app(&app)?;
    let page = DeletePage {
        chrome: Chrome::new(format!("Delete {app}"), Some(&session.csrf)),
        flashes: flash_views(&dash, &session, &headers),
        name: app,
    };
    Ok(Page::render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub(super) async fn delete(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<DeleteForm>,
) -> DashResult<Response> {
    if form.confirm.trim() != app.as_str() {
        let flash = Flash::Error(format!("Nothing was deleted: type `{app}` to confirm."));
        return Ok(back_to(&dash, &session, flash, &format!("/apps/{app}/delete")));
    }
    dash.app.service.delete_app(&app).await?;
    Ok(back_to(&dash, &session, Flash::Notice(format!("Deleted {app}.")), "/"))
}
