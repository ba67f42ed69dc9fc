//! `app.json` (Heroku's and Dokku's app manifest): slipway reads its `cron` entries, in Dokku's
//! format —
//!
//! ```json
//! {"cron": [{"command": "python manage.py clearsessions", "schedule": "0 3 * * *",
//!            "concurrency_policy": "forbid"}]}
//! ```
//!
//! — five schedule fields, UTC. `concurrency_policy`: `allow` (the default) lets runs overlap,
//! `forbid` skips a run while the previous one runs, `replace` stops the previous one first.
//! The rest of the file is not slipway's.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

    pub fn is_due(&self, minute: DateTime<Utc>) -> bool {
        self.cron.is_time_matching(&minute).unwrap_or(false)
    }
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
pub fn read_cron(release: &Path) -> std::result::Result<Vec<CronJob>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(json: &str) -> std::result::Result<Vec<CronJob>, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(APP_JSON), json).unwrap();
        read_cron(dir.path())
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
        assert!(read_cron(tempfile::tempdir().unwrap().path()).unwrap().is_empty());
    }
}
