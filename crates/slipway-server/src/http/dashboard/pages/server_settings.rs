//! Server-wide settings: every app gets them unless it sets the key itself (the same as
//! `slipway config set --global`).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};

use super::super::session::CurrentSession;
use super::super::views::{self, SettingRow};
use super::super::{Chrome, DashResult, DashState, Page};
use super::app::{settled, PageQuery, SettingForm};
use super::{back_to, flash_views, FlashView};

#[derive(Template)]
#[template(path = "server_settings.html")]
struct ServerSettingsPage {
    chrome: Chrome,
    flashes: Vec<FlashView>,
    settings: Vec<SettingRow>,
    revealed: bool,
}

pub(super) async fn server_settings_page(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> DashResult<Response> {
    let page = ServerSettingsPage {
        chrome: Chrome::new("Server settings".to_string(), Some(&session.csrf)),
        flashes: flash_views(&dash, &session, &headers),
        settings: views::setting_rows(dash.app.service.global_settings()?, query.reveal),
        revealed: query.reveal,
    };
    Ok(Page::render(StatusCode::OK, &page))
}

pub(super) async fn save_server_setting(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    Form(form): Form<SettingForm>,
) -> DashResult<Response> {
    let mut values = BTreeMap::new();
    let (change, done) = form.change(&mut values);
    let result = dash.app.service.change_global_settings(change);
    let flash = settled(
        result.map(|_| format!("{done}: every app without its own value gets it at its next deployment or restart.")),
    )?;
    Ok(back_to(&dash, &session, flash, "/settings#settings"))
}
