//! The instances sharing the store (`slipway instances`), their heartbeats, and what each
//! applies to its own processes when another tells it about an app (`docs/scale-out.md`).

use serde::Serialize;
use time::OffsetDateTime;

use super::Service;
use crate::app_name::AppName;
use crate::cluster::{self, AppEvent};
use crate::error::Result;
use crate::service::processes::ProcessesByApp;
use crate::state::Release;
use crate::store::InstanceRecord;
use crate::supervisor::ProcessRow;

/// An instance, as `slipway instances` and the dashboard show it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub name: String,
    pub url: String,
    pub pid: i64,
    /// `up`, or `gone` when it has not been seen for a while.
    pub state: &'static str,
    /// The instance that answered this request.
    pub this: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub seen_at: OffsetDateTime,
    /// How many processes it runs, of how many apps.
    pub processes: usize,
    pub apps: usize,
}

impl Service {
    /// Every instance that has beaten, this one first.
    pub fn instances(&self) -> Result<Vec<InstanceView>> {
        let me = &self.shared.instance.name;
        let now = OffsetDateTime::now_utc();
        let mut views: Vec<InstanceView> = self
            .shared
            .store
            .instances()?
            .into_iter()
            .map(|record| {
                let processes: ProcessesByApp = serde_json::from_str(&record.processes).unwrap_or_default();
                let gone = cluster::is_gone(&record, me, now);
                InstanceView {
                    this: record.name == *me,
                    state: if gone { "gone" } else { "up" },
                    processes: processes.values().map(Vec::len).sum(),
                    apps: processes.len(),
                    name: record.name,
                    url: record.url,
                    pid: record.pid,
                    started_at: record.started_at,
                    seen_at: record.seen_at,
                }
            })
            .collect();
        views.sort_by_key(|view| !view.this);
        Ok(views)
    }

    /// The other instances that are alive (none with SQLite).
    pub(super) fn other_live_instances(&self) -> Vec<InstanceRecord> {
        let now = OffsetDateTime::now_utc();
        let records = self.shared.store.instances().unwrap_or_default();
        records
            .into_iter()
            .filter(|r| r.name != self.shared.instance.name && !cluster::is_gone(r, &self.shared.instance.name, now))
            .collect()
    }

    /// The app's processes on `instances`, as their last heartbeat reported them.
    pub(super) fn processes_on(&self, instances: &[InstanceRecord], app: &AppName) -> Vec<ProcessRow> {
        let mut rows = Vec::new();
        for record in instances {
            let mut processes: ProcessesByApp = serde_json::from_str(&record.processes).unwrap_or_default();
            for mut row in processes.remove(app.as_str()).unwrap_or_default() {
                row.instance = Some(record.name.clone());
                rows.push(row);
            }
        }
        rows
    }

    /// Records that this instance is alive, running `processes`; fails what dead instances left
    /// unfinished. Every [`cluster::HEARTBEAT`].
    pub fn beat_and_sweep(&self, processes: ProcessesByApp) {
        let shared = &self.shared;
        let record = InstanceRecord {
            name: shared.instance.name.clone(),
            url: format!("{}://{}", shared.config.http_scheme(), shared.http_addr),
            pid: i64::from(std::process::id()),
            started_at: shared.instance.started_at,
            seen_at: OffsetDateTime::now_utc(),
            processes: serde_json::to_string(&processes).unwrap_or_else(|_| "{}".into()),
        };
        if let Err(e) = shared.store.heartbeat(&record) {
            tracing::warn!("recording this instance's heartbeat: {e}");
        }
        cluster::recover_orphans(&self.shared, false);
    }

    /// Tells the other instances (with a shared store) what changed about the app.
    pub(crate) fn tell_instances(&self, event: AppEvent, app: &AppName) {
        cluster::tell_instances(&self.shared, event, app);
    }

    /// Applies what another instance said (`Some(notice)`), or, after the notices' connection
    /// was lost (`None`), catches up: every app runs its live release.
    pub async fn follow(&self, notice: Option<String>) {
        match notice.as_deref().map(cluster::parse_notice) {
            Some(Some((origin, event, app))) if origin != self.shared.instance.name => {
                tracing::info!("{app}: instance {origin} says `{event:?}`");
                self.apply(event, &app).await;
            }
            Some(_) => {}
            None => {
                for app in self.shared.store.app_names().unwrap_or_default() {
                    self.apply(AppEvent::Release, &app).await;
                }
            }
        }
    }

    /// Does to this instance's processes what the origin did to its own.
    async fn apply(&self, event: AppEvent, app: &AppName) {
        let shared = &self.shared;
        let _turn = shared.notices.turn(app).await;
        let log = |line: &str| tracing::info!("{app}: {line}");
        let outcome = match event {
            AppEvent::Release | AppEvent::Restart => match self.active_deployment(app) {
                Ok(Some(active)) => {
                    let running = shared.placement.info(app).release;
                    let live = self.paths(app).release(active.id);
                    if event == AppEvent::Release && running.as_ref() == Some(&live) {
                        return;
                    }
                    match self.settings(app) {
                        Ok(settings) => shared.start_release(app, Release::of(&active), &settings, &log).await,
                        Err(e) => Err(e.to_string()),
                    }
                }
                Ok(None) => {
                    shared.placement.stop(app).await;
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
            AppEvent::Stop => {
                shared.placement.stop(app).await;
                Ok(())
            }
            AppEvent::Scale => self.apply_scale(app).await,
            AppEvent::Remove => {
                shared.placement.remove(app).await;
                shared.metrics.forget(app);
                shared.cgroups.remove(app);
                shared.certs.reload();
                self.refresh_hosts().map_err(|e| e.to_string())
            }
            AppEvent::Domains => {
                shared.certs.reload();
                self.refresh_hosts().map_err(|e| e.to_string())
            }
        };
        if let Err(e) = outcome {
            tracing::warn!("{app}: applying `{event:?}` from another instance: {e}");
        }
    }

    async fn apply_scale(&self, app: &AppName) -> std::result::Result<(), String> {
        let log = |line: &str| tracing::info!("{app}: {line}");
        for (kind, count) in self.shared.store.scale(app).map_err(|e| e.to_string())? {
            self.shared.placement.scale(app, &kind, count, &log).await?;
        }
        Ok(())
    }
}
