//! The app's processes from the dashboard: restart, stop and start (as `slipway apps
//! restart|stop|start`), scale (as `slipway ps scale`), and its log followed live.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::super::session::CurrentSession;
use super::super::{DashPath, DashResult, DashState};
use super::app::settled;
use super::back_to;
use crate::app_name::AppName;
use crate::error::Error;
use crate::service::logs::LogQuery;

#[derive(Deserialize)]
pub(super) struct ProcessForm {
    /// `restart`, `stop` or `start`.
    action: String,
}

pub(super) async fn control(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(form): Form<ProcessForm>,
) -> DashResult<Response> {
    let service = &dash.app.service;
    let result = match form.action.as_str() {
        "restart" => service.restart_app(&app).await.map(|_| "Restarted: new processes took over.".to_string()),
        "start" => service.restart_app(&app).await.map(|_| "Started.".to_string()),
        "stop" => service.stop_app(&app).await.map(|_| "Stopped: requests get 502 until it is started.".to_string()),
        other => Err(Error::Invalid(format!("unknown action `{other}`: expected restart, stop or start"))),
    };
    let flash = settled(result)?;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#processes")))
}

/// `web=2&worker=1` (and the form's `csrf`): as many processes of each type.
pub(super) async fn scale(
    State(dash): State<DashState>,
    Extension(session): Extension<CurrentSession>,
    DashPath(app): DashPath<AppName>,
    Form(fields): Form<Vec<(String, String)>>,
) -> DashResult<Response> {
    let result = match scale_counts(fields) {
        Ok(counts) => dash.app.service.set_scale(&app, &counts).await.map(|_| {
            let described: Vec<String> = counts.iter().map(|(kind, n)| format!("{kind} × {n}")).collect();
            format!("Scaled to {}.", described.join(", "))
        }),
        Err(e) => Err(e),
    };
    let flash = settled(result)?;
    Ok(back_to(&dash, &session, flash, &format!("/apps/{app}#processes")))
}

fn scale_counts(fields: Vec<(String, String)>) -> crate::error::Result<BTreeMap<String, u32>> {
    fields
        .into_iter()
        .filter(|(name, _)| name != "csrf")
        .map(|(kind, count)| match count.trim().parse::<u32>() {
            Ok(n) => Ok((kind, n)),
            Err(_) => Err(Error::Invalid(format!("scale: `{kind}` wants a number of processes, not `{count}`"))),
        })
        .collect()
}

/// The log's lines after `offset`, for the page's script (the session's twin of
/// `GET /api/apps/{app}/logs?offset=N`).
pub(super) async fn follow_log(
    State(dash): State<DashState>,
    DashPath(app): DashPath<AppName>,
    Query(query): Query<LogQuery>,
) -> DashResult<Response> {
    let output = dash.app.service.app_output(&app, &query).await?;
    Ok(Json(json!({ "text": output.text, "offset": output.end })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_fields_are_counts_and_the_csrf_field_is_not_a_type() {
        let fields = vec![("csrf".into(), "t".into()), ("web".into(), "2".into()), ("worker".into(), " 0".into())];
        assert_eq!(scale_counts(fields).unwrap(), BTreeMap::from([("web".into(), 2), ("worker".into(), 0)]));
        let bad = scale_counts(vec![("web".into(), "many".into())]).unwrap_err().to_string();
        assert!(bad.contains("`web` wants a number of processes, not `many`"), "{bad}");
    }
}
