//! Cron jobs: the `cron` entries of the live release's `app.json` (see [`crate::app_json`]), run
//! on schedule in the live release as one-off commands, each run recorded with its exit code,
//! as their concurrency policy allows.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Service;
use crate::app_json::{self, ConcurrencyPolicy, CronJob};
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::store::{Run, RunTrigger};

/// A job as `slipway cron` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CronEntry {
    #[serde(flatten)]
    pub job: CronJob,
    pub last_run: Option<Run>,
    /// RFC 3339, UTC.
    pub next_run: Option<String>,
}

impl Service {
    /// The live release's cron jobs, with their last and next runs.
    pub fn cron(&self, app: &AppName) -> Result<Vec<CronEntry>> {
        let jobs = self.live_cron_jobs(app)?;
        let now = Utc::now();
        jobs.into_iter()
            .map(|job| {
                let last_run = self.shared.store.last_cron_run(app, &job.command)?;
                let next_run = job.next_run(now).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                Ok(CronEntry { job, last_run, next_run })
            })
            .collect()
    }

    /// Runs job `number` now, whatever its schedule (its concurrency policy still applies).
    pub async fn run_cron_now(&self, app: &AppName, number: usize) -> Result<Option<Run>> {
        let jobs = self.live_cron_jobs(app)?;
        let job = jobs
            .into_iter()
            .find(|j| j.number == number)
            .ok_or_else(|| Error::NoSuchCronJob { app: app.clone(), number })?;
        self.run_cron_job(app, &job).await
    }

    /// Runs every app's jobs due at `minute`; the scheduler calls it once a minute.
    pub async fn run_due_cron_jobs(&self, minute: DateTime<Utc>) {
        // Several instances share the store: the first to claim the minute runs its jobs.
        let day_ago = (minute - chrono::TimeDelta::days(1)).to_rfc3339();
        match self.shared.store.claim_cron_minute(&minute.to_rfc3339(), &self.shared.instance.name, &day_ago) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return tracing::warn!("cron jobs of {minute}: {e}"),
        }
        for app in self.shared.store.app_names().unwrap_or_default() {
            let jobs = match self.live_cron_jobs(&app) {
                Ok(jobs) => jobs,
                Err(Error::NothingDeployed(_)) => continue,
                Err(e) => {
                    tracing::warn!("cron jobs of {app}: {e}");
                    continue;
                }
            };
            for job in jobs.iter().filter(|job| job.is_due(minute)) {
                if let Err(e) = self.run_cron_job(&app, job).await {
                    tracing::warn!("cron job {} of {app} (`{}`): {e}", job.number, job.command);
                }
            }
        }
    }

    fn live_cron_jobs(&self, app: &AppName) -> Result<Vec<CronJob>> {
        let active = self.active_deployment(app)?.ok_or_else(|| Error::NothingDeployed(app.clone()))?;
        app_json::read_cron(&self.paths(app).release(active.id)).map_err(Error::Invalid)
    }

    /// Starts one run of the job, as its concurrency policy allows; `None` when it forbids.
    async fn run_cron_job(&self, app: &AppName, job: &CronJob) -> Result<Option<Run>> {
        let running = self.shared.commands.running(app, RunTrigger::Cron, &job.command);
        match job.concurrency_policy {
            ConcurrencyPolicy::Forbid if !running.is_empty() => {
                tracing::info!("{app}: cron job {} skipped: its previous run has not ended (forbid)", job.number);
                return Ok(None);
            }
            ConcurrencyPolicy::Replace => {
                for id in running {
                    self.shared.commands.cancel(id, "replaced by the next run (concurrency_policy replace)");
                }
            }
            _ => {}
        }
        let (run, _events) = self.start_run(app, &job.command, RunTrigger::Cron).await?;
        tracing::info!("{app}: cron job {} started as run {}", job.number, run.id);
        Ok(Some(run))
    }
}
