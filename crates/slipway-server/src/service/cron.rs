//! Cron jobs: the `cron` entries of the live release's `app.json`, in Dokku's format —
//!
//! ```json
//! {"cron": [{"command": "python manage.py clearsessions", "schedule": "0 3 * * *",
//!            "concurrency_policy": "forbid"}]}
//! ```
//!
//! — run on schedule (five fields, UTC) in the live release as one-off commands, each run
//! recorded with its exit code. `concurrency_policy`: `allow` (the default) lets runs overlap,
//! `forbid` skips a run while the previous one runs, `replace` stops the previous one first.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Service;
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::store::{Run, RunTrigger};

pub const APP_JSON: &str = "app.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConcurrencyPolicy {
    #[default]
    Allow,
    Forbid,
    Replace,
}

/// One job of app.json.
#[derive(Debug, Clone, Serialize)]
pub struct CronJob {
    /// 1-based, in app.json's order: what `slipway cron APP run N` names.
    pub number: usize,
    pub command: String,
    pub schedule: String,
    pub concurrency_policy: ConcurrencyPolicy,
    #[serde(skip)]
    cron: croner::Cron,
}

impl CronJob {
    pub fn next_run(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    fn is_due(&self, minute: DateTime<Utc>) -> bool {
        self.cron.is_time_matching(&minute).unwrap_or(false)
    }
}

/// A job as `slipway cron` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CronEntry {
    #[serde(flatten)]
    pub job: CronJob,
    pub last_run: Option<Run>,
    /// RFC 3339, UTC.
    pub next_run: Option<String>,
}

#[derive(Deserialize)]
struct AppJson {
    #[serde(default)]
    cron: Vec<RawJob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    command: String,
    schedule: String,
    #[serde(default)]
    concurrency_policy: ConcurrencyPolicy,
}

/// The cron jobs of a release (none without app.json); a problem names app.json's field.
pub fn read(release: &Path) -> std::result::Result<Vec<CronJob>, String> {
    let text = match crate::releases::read_file(release, Path::new(APP_JSON), 256 * 1024) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(format!("{APP_JSON} cannot be read: {e}")),
    };
    let parsed: AppJson = serde_json::from_str(&text).map_err(|e| {
        format!("{APP_JSON} line {}: {e}; expected e.g. {{\"cron\": [{{\"command\": \"…\", \"schedule\": \"*/5 * * * *\"}}]}}", e.line())
    })?;
    parsed
        .cron
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let field = |name: &str| format!("{APP_JSON} cron[{index}].{name}");
            if raw.command.trim().is_empty() {
                return Err(format!("{}: the command is empty", field("command")));
            }
            if raw.schedule.split_whitespace().count() != 5 {
                return Err(format!(
                    "{}: `{}` is not a cron schedule; expected five fields (minute hour day month weekday), e.g. `*/5 * * * *`",
                    field("schedule"),
                    raw.schedule
                ));
            }
            let cron = croner::Cron::from_str(&raw.schedule)
                .map_err(|e| format!("{}: `{}` is not a cron schedule ({e})", field("schedule"), raw.schedule))?;
            Ok(CronJob {
                number: index + 1,
                command: raw.command.trim().to_string(),
                schedule: raw.schedule,
                concurrency_policy: raw.concurrency_policy,
                cron,
            })
        })
        .collect()
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
        read(&self.paths(app).release(active.id)).map_err(Error::Invalid)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(json: &str) -> std::result::Result<Vec<CronJob>, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(APP_JSON), json).unwrap();
        read(dir.path())
    }

    #[test]
    fn jobs_are_read_with_their_policy() {
        let jobs = jobs(
            r#"{"name": "x", "cron": [{"command": "python tick.py", "schedule": "*/5 * * * *"},
            {"command": "python sweep.py", "schedule": "0 3 * * *", "concurrency_policy": "forbid"}]}"#,
        )
        .unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].number, jobs[0].concurrency_policy), (1, ConcurrencyPolicy::Allow));
        assert_eq!(jobs[1].concurrency_policy, ConcurrencyPolicy::Forbid);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(jobs[0].is_due(at("2026-11-26T10:05:00Z")) && !jobs[0].is_due(at("2026-11-26T10:06:00Z")));
        assert_eq!(jobs[1].next_run(at("2026-11-26T10:06:00Z")), Some(at("2026-11-27T03:00:00Z")));
    }

    #[test]
    fn problems_name_the_field() {
        let err = jobs(r#"{"cron": [{"command": "x", "schedule": "every minute"}]}"#).unwrap_err();
        assert!(err.starts_with("app.json cron[0].schedule: `every minute` is not a cron schedule"), "{err}");
        let err = jobs(r#"{"cron": [{"command": "x", "schedule": "61 * * * *"}]}"#).unwrap_err();
        assert!(err.starts_with("app.json cron[0].schedule: `61 * * * *` is not a cron schedule ("), "{err}");
        let err = jobs(r#"{"cron": [{"command": "x", "schedule": "* * * * *", "concurrency_policy": "queue"}]}"#);
        assert!(err.unwrap_err().starts_with("app.json line 1:"));
        assert!(read(tempfile::tempdir().unwrap().path()).unwrap().is_empty());
    }
}
