//! An app's processes: `slipway ps` (what runs), `slipway ps scale` (how many of each type), and
//! scale to zero — web processes stop after `IDLE_TIMEOUT` without a request, and the next
//! request starts them again while the proxy holds it.

use std::collections::BTreeMap;
use std::time::Instant;

use super::Service;
use crate::app_name::AppName;
use crate::cluster::AppEvent;
use crate::error::{Error, Result};
use crate::metrics::RequestStats;
use crate::supervisor::ProcessRow;

/// Processes by app name, as an instance's heartbeat carries them.
pub type ProcessesByApp = BTreeMap<String, Vec<ProcessRow>>;

/// The most processes of one type an app may run.
pub const MAX_SCALE: u32 = 16;

impl Service {
    /// The app's processes: this instance's and, when other instances share the store, theirs
    /// (as their last heartbeat reported them), each row naming its instance.
    pub fn processes(&self, app: &AppName) -> Result<Vec<ProcessRow>> {
        self.require_app(app)?;
        let mut rows = self.shared.placement.processes(app);
        let others = self.other_live_instances();
        if !others.is_empty() {
            for row in &mut rows {
                row.instance = Some(self.shared.instance.name.clone());
            }
            rows.extend(self.processes_on(&others, app));
        }
        Ok(rows)
    }

    /// What the proxy has seen of the app's requests since the server started.
    pub fn request_stats(&self, app: &AppName) -> Result<RequestStats> {
        self.require_app(app)?;
        Ok(self.shared.metrics.stats(app))
    }

    /// Notes every running app's memory and CPU for its charts (the server calls it every few
    /// seconds); returns the running apps' processes.
    pub fn sample_usage(&self) -> ProcessesByApp {
        let mut running = ProcessesByApp::new();
        for app in self.shared.store.app_names().unwrap_or_default() {
            let processes = self.shared.placement.processes(&app);
            if processes.is_empty() {
                continue;
            }
            let memory = processes.iter().filter_map(|p| p.memory).sum();
            let cpu = processes.iter().filter_map(|p| p.cpu_seconds).sum();
            self.shared.metrics.sample_usage(&app, memory, cpu);
            running.insert(app.to_string(), processes);
        }
        running
    }

    /// Every app's request and process metrics, in the OpenMetrics text format (`GET /metrics`).
    pub fn openmetrics(&self) -> Result<String> {
        let apps = self.shared.store.app_names()?;
        let processes: Vec<_> =
            apps.into_iter().map(|app| (app.clone(), self.shared.placement.processes(&app))).collect();
        Ok(self.shared.metrics.openmetrics(&processes))
    }

    /// How many processes of each type the app runs, as set (a type not named runs one).
    pub fn scale(&self, app: &AppName) -> Result<BTreeMap<String, u32>> {
        self.require_app(app)?;
        Ok(self.shared.store.scale(app)?)
    }

    /// Sets how many processes of each type run, and starts or stops processes to match; web
    /// processes answer before they get requests. Every type must be one the live release has.
    pub async fn set_scale(&self, app: &AppName, counts: &BTreeMap<String, u32>) -> Result<Vec<ProcessRow>> {
        self.require_app(app)?;
        if counts.is_empty() {
            return Err(Error::Invalid("nothing to scale; expected e.g. `web=2 worker=1`".into()));
        }
        if let Some((kind, count)) = counts.iter().find(|(_, count)| **count > MAX_SCALE) {
            return Err(Error::Invalid(format!("{kind}={count}: at most {MAX_SCALE} processes of a type")));
        }
        let _turn = self.deployer.lock_app(app).await;
        let log = |line: &str| tracing::info!("{app}: {line}");
        for (kind, count) in counts {
            self.shared.placement.scale(app, kind, *count, &log).await.map_err(Error::Invalid)?;
            self.shared.store.set_scale(app, kind, *count)?;
        }
        self.tell_instances(AppEvent::Scale, app);
        Ok(self.shared.placement.processes(app))
    }

    /// For the proxy: where a running web process of the app answers, starting its web
    /// processes first if they were stopped for being idle (requests arriving meanwhile wait for
    /// the same start).
    pub async fn web_endpoint(&self, app: &AppName) -> Option<std::net::SocketAddr> {
        if let Some(endpoint) = self.shared.placement.endpoint(app) {
            return Some(endpoint);
        }
        if !self.shared.placement.is_asleep(app) {
            return None;
        }
        let waking = self.shared.waking.lock().unwrap().entry(app.clone()).or_default().clone();
        let _one_at_a_time = waking.lock().await;
        if let Some(endpoint) = self.shared.placement.endpoint(app) {
            return Some(endpoint);
        }
        let started = Instant::now();
        let settings = self.settings(app).ok()?;
        let scale = self.shared.store.scale(app).ok()?;
        match self.shared.placement.wake(app, &settings, &scale).await {
            Ok(()) => tracing::info!("{app}: woke up in {:.2}s", started.elapsed().as_secs_f64()),
            Err(e) => tracing::warn!("{app}: waking up: {e}"),
        }
        self.shared.placement.endpoint(app)
    }

    /// Stops the web processes of every app idle longer than its `IDLE_TIMEOUT`; the server calls
    /// it every few seconds.
    pub async fn sleep_idle_apps(&self) {
        for app in self.shared.store.app_names().unwrap_or_default() {
            let Ok(settings) = self.settings(&app) else { continue };
            let Ok(Some(after)) = settings.scale_to_zero_after() else { continue };
            if self.shared.placement.idle_for(&app).is_some_and(|idle| idle >= after) {
                tracing::info!("{app}: no request for {}s (IDLE_TIMEOUT): stopping its web processes", after.as_secs());
                self.shared.placement.put_to_sleep(&app).await;
            }
        }
    }
}
