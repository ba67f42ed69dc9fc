//! The app list, and creating an app.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;

use super::super::session::{CurrentSession, Flash};
use super::super::views::{self, Badge, DeploymentRow};
use super::super::{Chrome, DashError, DashResult, DashState, Page};
use super::{back_to, flash_views, FlashView};
use crate::app_name::AppName;
use crate::error::Error;
use crate::http::error::status_of;
use crate::service::instances::InstanceView;

/// An instance sharing the store, as the home page lists it.
struct InstanceRow {
    name: String,
    this: bool,
    badge: Badge,
    url: String,
    seen: views::When,
    processes: String,
}

struct AppRow {
    name: AppName,
    last: Option<DeploymentRow>,
    /// The live deployment's id and number.
    live: Option<(i64, i64)>,
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
    instances: Vec<InstanceRow>,
    runtimes: String,
    create_error: String,
    create_name: String,
}

pub(super) async fn home(
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
    let service = &dash.app.service;
    let mut apps = Vec::new();
    for name in service.app_names()? {
        let deployments = service.deployments(&name)?;
        let summary = service.app(&name)?;
        apps.push(AppRow {
            last: deployments.first().map(DeploymentRow::new),
            live: deployments.iter().find(|d| d.active).map(|d| (d.id, d.number)),
            process: views::process_badge(&summary.process),
            python: service.python_version_of(&name)?,
            url: summary.url,
            name,
        });
    }
    let page = HomePage {
        chrome: Chrome::new("Apps", Some(&session.csrf)),
        flashes: flash_views(dash, session, headers),
        apps,
        instances: service.instances()?.into_iter().map(instance_row).collect(),
        runtimes: service.runtimes().describe_versions(),
        create_error,
        create_name,
    };
    Ok(Page::render(status, &page))
}

fn instance_row(view: InstanceView) -> InstanceRow {
    let badge = match view.state {
        "up" => Badge { label: "Up", tone: "ok", icon: "●" },
        _ => Badge { label: "Gone", tone: "bad", icon: "✕" },
    };
    InstanceRow {
        processes: format!("{} processes of {} apps", view.processes, view.apps),
        seen: views::when(view.seen_at),
        name: view.name,
        this: view.this,
        badge,
        url: view.url,
    }
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    name: String,
}

pub(super) async fn create_app(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> DashResult<Response> {
    let typed = form.name.trim().to_string();
    let created = match AppName::parse(&typed) {
        Ok(name) => dash.app.service.create_app(name).await,
        Err(invalid) => Err(Error::from(invalid)),
    };
    match created {
        Ok(created) => {
            let name = created.name;
            dash.sessions.flash(&session, Flash::Notice(format!("Created {name}.")));
            let password = Flash::Password { app: name.to_string(), password: created.password };
            Ok(back_to(&dash, &session, password, &format!("/apps/{name}")))
        }
        // The form again, with the reason and what was typed.
        Err(e) if status_of(e.kind()).is_client_error() => {
            home_with(&dash, &session, &headers, status_of(e.kind()), e.to_string(), typed)
        }
        Err(e) => Err(DashError::from(e)),
    }
}
