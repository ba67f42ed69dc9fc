//! The embedded store: one SQLite file, `<data-dir>/slipway.db`, holding apps, settings, hashed
//! credentials and deployment records. Schema changes are numbered migrations in `migrations/`.
//!
//! Queries are short and run under a mutex on one connection; SQLite in WAL mode answers them in
//! microseconds, which is why they are not moved to a blocking pool.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};
use rusqlite_migration::{Migrations, M};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app_name::AppName;
use crate::hosts::DomainName;

pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot make the database {} private (mode 0600): {source}", path.display())]
    Private { path: PathBuf, source: std::io::Error },
    #[error("cannot bring the database {} up to date: {source}", path.display())]
    Migrate { path: PathBuf, source: rusqlite_migration::Error },
    #[error("database query failed ({what}): {source}")]
    Query { what: &'static str, source: rusqlite::Error },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Names the query that failed.
trait During<T> {
    fn during(self, what: &'static str) -> StoreResult<T>;
}

impl<T> During<T> for rusqlite::Result<T> {
    fn during(self, what: &'static str) -> StoreResult<T> {
        self.map_err(|source| StoreError::Query { what, source })
    }
}

/// A deployment's status, as DESIGN.md names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Building,
    Deploying,
    Success,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Building => "building",
            Status::Deploying => "deploying",
            Status::Success => "success",
            Status::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Status::Success | Status::Failed)
    }
}

/// What started a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Push,
    Redeploy,
    EnvReset,
    /// An archive uploaded to `POST /api/apps/APP/zipdeploy` (`slipway deploy`).
    Zipdeploy,
    /// A push to the remote repository, announced by its webhook (`POST /hooks/APP/SECRET`).
    Webhook,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Push => "push",
            Trigger::Redeploy => "redeploy",
            Trigger::EnvReset => "env-reset",
            Trigger::Zipdeploy => "zipdeploy",
            Trigger::Webhook => "webhook",
        }
    }
}

/// What started a one-off command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunTrigger {
    /// `slipway run`, the API or the dashboard.
    Run,
    /// A cron job (on schedule, or run now).
    Cron,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Run => "run",
            RunTrigger::Cron => "cron",
        }
    }
}

/// Text stored in the database that is not one of an enum's values.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} `{value}` in the database")]
pub struct UnknownValue {
    what: &'static str,
    value: String,
}

macro_rules! text_enum {
    ($type:ty, $what:literal, [$($variant:path),+]) => {
        impl FromStr for $type {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                [$($variant),+]
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownValue { what: $what, value: s.to_string() })
            }
        }
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ToSql for $type {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $type {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

text_enum!(
    Status,
    "deployment status",
    [Status::Pending, Status::Building, Status::Deploying, Status::Success, Status::Failed]
);
text_enum!(
    Trigger,
    "deployment trigger",
    [Trigger::Push, Trigger::Redeploy, Trigger::EnvReset, Trigger::Zipdeploy, Trigger::Webhook]
);
text_enum!(RunTrigger, "run trigger", [RunTrigger::Run, RunTrigger::Cron]);

/// Times are stored as RFC 3339 text (UTC) and handled as [`OffsetDateTime`].
struct Stamp(OffsetDateTime);

impl FromSql for Stamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        OffsetDateTime::parse(value.as_str()?, &time::format_description::well_known::Rfc3339)
            .map(Stamp)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub id: i64,
    /// Its number among the app's deployments: `v3` is the third.
    pub number: i64,
    pub app: AppName,
    pub commit: String,
    pub author: String,
    pub message: String,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub active: bool,
    pub clean_env: bool,
    pub trigger: Trigger,
    /// Why it failed, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The build's steps, once it ended.
    pub steps: Vec<slipway_build::log::StepTiming>,
    /// The Python version the release runs on (successful Python builds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    /// When it last became the live release.
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
}

impl Deployment {
    /// The first ten characters of the commit.
    pub fn short_commit(&self) -> &str {
        &self.commit[..self.commit.len().min(10)]
    }
}

/// A one-off command's record; its output is in `LogFiles/runs/<id>.log`.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub trigger: RunTrigger,
    pub command: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub exit_code: Option<i32>,
    /// How it ended: `exit status: 0`, `signal: 9 (SIGKILL)`, interrupted by a restart.
    pub outcome: Option<String>,
}

const RUN_COLUMNS: &str = "id, trigger, command, started_at, ended_at, exit_code, outcome";

fn run_from_row(row: &Row) -> rusqlite::Result<Run> {
    Ok(Run {
        id: row.get(0)?,
        trigger: row.get(1)?,
        command: row.get(2)?,
        started_at: row.get::<_, Stamp>(3)?.0,
        ended_at: row.get::<_, Option<Stamp>>(4)?.map(|s| s.0),
        exit_code: row.get(5)?,
        outcome: row.get(6)?,
    })
}

pub struct NewDeployment<'a> {
    pub app: &'a AppName,
    pub commit: &'a str,
    pub author: &'a str,
    pub message: &'a str,
    pub clean_env: bool,
    pub trigger: Trigger,
}

const DEPLOYMENT_COLUMNS: &str = "id, app, commit_sha, author, message, status, started_at, ended_at, active, \
     clean_env, trigger, reason, steps, python_version, activated_at, number";

fn deployment_from_row(row: &Row) -> rusqlite::Result<Deployment> {
    let app: String = row.get(1)?;
    Ok(Deployment {
        id: row.get(0)?,
        app: AppName::parse(&app)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?,
        commit: row.get(2)?,
        author: row.get(3)?,
        message: row.get(4)?,
        status: row.get(5)?,
        started_at: row.get::<_, Stamp>(6)?.0,
        ended_at: row.get::<_, Option<Stamp>>(7)?.map(|s| s.0),
        active: row.get(8)?,
        clean_env: row.get(9)?,
        trigger: row.get(10)?,
        reason: row.get(11)?,
        steps: row.get::<_, Option<String>>(12)?.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default(),
        python_version: row.get(13)?,
        activated_at: row.get::<_, Option<Stamp>>(14)?.map(|s| s.0),
        number: row.get::<_, Option<i64>>(15)?.unwrap_or_default(),
    })
}

/// How a deployment ended: its status, and what the build did.
pub struct Finish<'a> {
    pub status: Status,
    pub reason: Option<&'a str>,
    pub steps: &'a [slipway_build::log::StepTiming],
    pub python_version: Option<String>,
}

fn activate(tx: &rusqlite::Transaction, app: &AppName, id: i64) -> StoreResult<()> {
    tx.execute("UPDATE deployments SET active = 0 WHERE app = ?1", [app.as_str()]).during("activate a deployment")?;
    tx.execute("UPDATE deployments SET active = 1, activated_at = ?2 WHERE id = ?1", params![id, now()])
        .during("activate a deployment")?;
    Ok(())
}

/// Now, as stored.
pub fn now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

pub fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339).expect("UTC timestamps always format")
}

impl Store {
    pub fn open(path: &Path) -> StoreResult<Self> {
        let opened = |source| StoreError::Open { path: path.to_path_buf(), source };
        let mut conn = Connection::open(path).map_err(opened)?;
        // Private before anything is written (SQLite gives its -wal and -shm files the same mode).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|source| StoreError::Private { path: path.to_path_buf(), source })?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(opened)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(opened)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(opened)?;
        Migrations::new(vec![
            M::up(include_str!("../migrations/001_init.sql")),
            M::up(include_str!("../migrations/002_releases.sql")),
            M::up(include_str!("../migrations/003_processes.sql")),
            M::up(include_str!("../migrations/004_domains.sql")),
            M::up(include_str!("../migrations/005_deployment_numbers.sql")),
            M::up(include_str!("../migrations/006_global_settings.sql")),
            M::up(include_str!("../migrations/007_deploy_hooks.sql")),
        ])
        .to_latest(&mut conn)
        .map_err(|source| StoreError::Migrate { path: path.to_path_buf(), source })?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ---- admin token ----

    pub fn admin_token_hash(&self) -> StoreResult<Option<String>> {
        self.conn()
            .query_row("SELECT token_sha256 FROM admin WHERE id = 1", [], |r| r.get(0))
            .optional()
            .during("read the admin token hash")
    }

    pub fn set_admin_token_hash(&self, hash: &str) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO admin (id, token_sha256) VALUES (1, ?1)
                 ON CONFLICT(id) DO UPDATE SET token_sha256 = excluded.token_sha256",
                [hash],
            )
            .during("store the admin token hash")?;
        Ok(())
    }

    // ---- apps ----

    /// Creates the app; `false` if the name is taken.
    pub fn create_app(&self, name: &AppName, password_hash: &str) -> StoreResult<bool> {
        let inserted = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO apps (name, password_hash, created_at) VALUES (?1, ?2, ?3)",
                params![name.as_str(), password_hash, now()],
            )
            .during("create an app")?;
        Ok(inserted == 1)
    }

    pub fn app_names(&self) -> StoreResult<Vec<AppName>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM apps ORDER BY name").during("list apps")?;
        let names: Vec<String> =
            stmt.query_map([], |r| r.get(0)).during("list apps")?.collect::<Result<_, _>>().during("list apps")?;
        // Names were valid when stored; one that is not (a hand-edited database) is skipped.
        Ok(names.iter().filter_map(|n| AppName::parse(n).ok()).collect())
    }

    /// The app's number (SQLite's rowid), from which its Unix user is made.
    pub fn app_number(&self, name: &AppName) -> StoreResult<Option<i64>> {
        self.conn()
            .query_row("SELECT rowid FROM apps WHERE name = ?1", [name.as_str()], |r| r.get(0))
            .optional()
            .during("read an app's number")
    }

    /// When the app was created, if it exists.
    pub fn app_created_at(&self, name: &AppName) -> StoreResult<Option<OffsetDateTime>> {
        let stamp: Option<Stamp> = self
            .conn()
            .query_row("SELECT created_at FROM apps WHERE name = ?1", [name.as_str()], |r| r.get(0))
            .optional()
            .during("read an app")?;
        Ok(stamp.map(|s| s.0))
    }

    pub fn password_hash(&self, app: &AppName) -> StoreResult<Option<String>> {
        self.conn()
            .query_row("SELECT password_hash FROM apps WHERE name = ?1", [app.as_str()], |r| r.get(0))
            .optional()
            .during("read an app's password hash")
    }

    pub fn set_password_hash(&self, app: &AppName, hash: &str) -> StoreResult<()> {
        self.conn()
            .execute("UPDATE apps SET password_hash = ?2 WHERE name = ?1", params![app.as_str(), hash])
            .during("store an app's password hash")?;
        Ok(())
    }

    /// The sha256 of the app's deployment webhook secret, if it has one.
    pub fn hook_secret_hash(&self, app: &AppName) -> StoreResult<Option<String>> {
        self.conn()
            .query_row("SELECT hook_secret_hash FROM apps WHERE name = ?1", [app.as_str()], |r| r.get(0))
            .optional()
            .during("read an app's webhook secret")
            .map(Option::flatten)
    }

    pub fn set_hook_secret_hash(&self, app: &AppName, hash: &str) -> StoreResult<()> {
        self.conn()
            .execute("UPDATE apps SET hook_secret_hash = ?2 WHERE name = ?1", params![app.as_str(), hash])
            .during("store an app's webhook secret")?;
        Ok(())
    }

    pub fn delete_app(&self, name: &AppName) -> StoreResult<bool> {
        Ok(self.conn().execute("DELETE FROM apps WHERE name = ?1", [name.as_str()]).during("delete an app")? == 1)
    }

    // ---- settings ----

    /// What the app runs with: the server-wide settings, and the app's own over them.
    pub fn settings(&self, app: &AppName) -> StoreResult<BTreeMap<String, String>> {
        let mut settings = self.global_settings()?;
        settings.extend(self.own_settings(app)?);
        Ok(settings)
    }

    /// The settings set on the app itself.
    pub fn own_settings(&self, app: &AppName) -> StoreResult<BTreeMap<String, String>> {
        self.key_values("SELECT key, value FROM settings WHERE app = ?1 ORDER BY key", [app.as_str()])
    }

    pub fn global_settings(&self) -> StoreResult<BTreeMap<String, String>> {
        self.key_values("SELECT key, value FROM global_settings ORDER BY key", [])
    }

    fn key_values(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<BTreeMap<String, String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).during("read settings")?;
        let rows = stmt
            .query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))
            .during("read settings")?
            .collect::<Result<_, _>>()
            .during("read settings")?;
        Ok(rows)
    }

    /// Stores the values on the app, or server-wide with `app` `None`: all or none.
    pub fn set_settings(&self, app: Option<&AppName>, values: &BTreeMap<String, String>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().during("store settings")?;
        for (key, value) in values {
            match app {
                Some(app) => tx.execute(
                    "INSERT INTO settings (app, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(app, key) DO UPDATE SET value = excluded.value",
                    params![app.as_str(), key, value],
                ),
                None => tx.execute(
                    "INSERT INTO global_settings (key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                ),
            }
            .during("store settings")?;
        }
        tx.commit().during("store settings")
    }

    /// Deletes a setting of the app, or a server-wide one with `app` `None`; `false` if there was none.
    pub fn delete_setting(&self, app: Option<&AppName>, key: &str) -> StoreResult<bool> {
        let conn = self.conn();
        let deleted = match app {
            Some(app) => conn.execute("DELETE FROM settings WHERE app = ?1 AND key = ?2", params![app.as_str(), key]),
            None => conn.execute("DELETE FROM global_settings WHERE key = ?1", params![key]),
        }
        .during("delete a setting")?;
        Ok(deleted == 1)
    }

    // ---- formation ----

    /// How many processes of each type the app runs, for the types scaled.
    pub fn scale(&self, app: &AppName) -> StoreResult<BTreeMap<String, u32>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT kind, count FROM formation WHERE app = ?1").during("read the scale")?;
        let rows = stmt
            .query_map([app.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .during("read the scale")?
            .collect::<Result<_, _>>()
            .during("read the scale")?;
        Ok(rows)
    }

    pub fn set_scale(&self, app: &AppName, kind: &str, count: u32) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO formation (app, kind, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT(app, kind) DO UPDATE SET count = excluded.count",
                params![app.as_str(), kind, count],
            )
            .during("store the scale")?;
        Ok(())
    }

    // ---- domains ----

    /// Adds a custom domain to the app; `Err` names the app that has it already.
    pub fn add_domain(&self, app: &AppName, domain: &DomainName) -> StoreResult<Result<(), AppName>> {
        let conn = self.conn();
        let owner: Option<String> = conn
            .query_row("SELECT app FROM domains WHERE domain = ?1", [domain.as_str()], |r| r.get(0))
            .optional()
            .during("read a domain")?;
        if let Some(owner) = owner.and_then(|o| AppName::parse(&o).ok()) {
            return Ok(Err(owner));
        }
        conn.execute(
            "INSERT INTO domains (domain, app, created_at) VALUES (?1, ?2, ?3)",
            params![domain.as_str(), app.as_str(), now()],
        )
        .during("add a domain")?;
        Ok(Ok(()))
    }

    pub fn remove_domain(&self, app: &AppName, domain: &DomainName) -> StoreResult<bool> {
        let removed = self
            .conn()
            .execute("DELETE FROM domains WHERE app = ?1 AND domain = ?2", params![app.as_str(), domain.as_str()])
            .during("remove a domain")?;
        Ok(removed == 1)
    }

    /// Every custom domain and its app.
    pub fn domains(&self) -> StoreResult<Vec<(DomainName, AppName)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT domain, app FROM domains ORDER BY domain").during("list domains")?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .during("list domains")?
            .collect::<Result<_, _>>()
            .during("list domains")?;
        // Names were valid when stored; one that is not (a hand-edited database) is skipped.
        Ok(rows.iter().filter_map(|(d, a)| Some((DomainName::parse(d).ok()?, AppName::parse(a).ok()?))).collect())
    }

    // ---- runs ----

    pub fn insert_run(&self, app: &AppName, trigger: RunTrigger, command: &str) -> StoreResult<Run> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO runs (app, trigger, command, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![app.as_str(), trigger, command, now()],
        )
        .during("record a run")?;
        let id = conn.last_insert_rowid();
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        conn.query_row(&sql, [id], run_from_row).during("read the run just recorded")
    }

    pub fn finish_run(&self, id: i64, exit_code: Option<i32>, outcome: &str) -> StoreResult<()> {
        self.conn()
            .execute(
                "UPDATE runs SET ended_at = ?2, exit_code = ?3, outcome = ?4 WHERE id = ?1",
                params![id, now(), exit_code, outcome],
            )
            .during("finish a run")?;
        Ok(())
    }

    /// The app's newest runs first, at most `limit`; only those of `trigger` when given.
    pub fn runs(&self, app: &AppName, trigger: Option<RunTrigger>, limit: usize) -> StoreResult<Vec<Run>> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE app = ?1 AND (?2 IS NULL OR trigger = ?2) ORDER BY id DESC LIMIT ?3"
        );
        let mut stmt = conn.prepare(&sql).during("list runs")?;
        let rows = stmt
            .query_map(params![app.as_str(), trigger, limit as i64], run_from_row)
            .during("list runs")?
            .collect::<Result<_, _>>()
            .during("list runs")?;
        Ok(rows)
    }

    pub fn run(&self, app: &AppName, id: i64) -> StoreResult<Option<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE app = ?1 AND id = ?2");
        self.conn().query_row(&sql, params![app.as_str(), id], run_from_row).optional().during("read a run")
    }

    /// The newest cron run of `command`, if it ran.
    pub fn last_cron_run(&self, app: &AppName, command: &str) -> StoreResult<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE app = ?1 AND trigger = 'cron' AND command = ?2 ORDER BY id DESC LIMIT 1"
        );
        self.conn().query_row(&sql, params![app.as_str(), command], run_from_row).optional().during("read a cron run")
    }

    /// Deletes all but the newest `keep` runs of the app; returns the ids deleted (their logs go too).
    pub fn purge_runs(&self, app: &AppName, keep: usize) -> StoreResult<Vec<i64>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM runs WHERE app = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2")
            .during("purge runs")?;
        let ids: Vec<i64> = stmt
            .query_map(params![app.as_str(), keep as i64], |r| r.get(0))
            .during("purge runs")?
            .collect::<Result<_, _>>()
            .during("purge runs")?;
        for id in &ids {
            conn.execute("DELETE FROM runs WHERE id = ?1", [id]).during("purge runs")?;
        }
        Ok(ids)
    }

    /// After a crash: runs that had not ended are marked as interrupted.
    pub fn fail_interrupted_runs(&self, outcome: &str) -> StoreResult<()> {
        self.conn()
            .execute("UPDATE runs SET ended_at = ?1, outcome = ?2 WHERE ended_at IS NULL", params![now(), outcome])
            .during("mark interrupted runs")?;
        Ok(())
    }

    // ---- deployments ----

    pub fn insert_deployment(&self, new: &NewDeployment) -> StoreResult<Deployment> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO deployments (app, commit_sha, author, message, status, started_at, clean_env, trigger, number)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7,
                     (SELECT COALESCE(MAX(number), 0) + 1 FROM deployments WHERE app = ?1))",
            params![new.app.as_str(), new.commit, new.author, new.message, now(), new.clean_env, new.trigger],
        )
        .during("record a deployment")?;
        let id = conn.last_insert_rowid();
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1");
        conn.query_row(&sql, [id], deployment_from_row).during("read the deployment just recorded")
    }

    /// The app's deployment `v{number}`.
    pub fn deployment_by_number(&self, app: &AppName, number: i64) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND number = ?2");
        self.conn()
            .query_row(&sql, params![app.as_str(), number], deployment_from_row)
            .optional()
            .during("read a deployment")
    }

    pub fn deployment(&self, app: &AppName, id: i64) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND id = ?2");
        self.conn()
            .query_row(&sql, params![app.as_str(), id], deployment_from_row)
            .optional()
            .during("read a deployment")
    }

    /// Newest first.
    pub fn deployments(&self, app: &AppName) -> StoreResult<Vec<Deployment>> {
        let conn = self.conn();
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 ORDER BY id DESC");
        let mut stmt = conn.prepare(&sql).during("list deployments")?;
        let rows = stmt
            .query_map([app.as_str()], deployment_from_row)
            .during("list deployments")?
            .collect::<Result<_, _>>()
            .during("list deployments")?;
        Ok(rows)
    }

    /// The app's newest deployment, whatever its status.
    pub fn newest_deployment(&self, app: &AppName) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 ORDER BY id DESC LIMIT 1");
        self.conn().query_row(&sql, [app.as_str()], deployment_from_row).optional().during("read the newest deployment")
    }

    pub fn active_deployment(&self, app: &AppName) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND active = 1");
        self.conn().query_row(&sql, [app.as_str()], deployment_from_row).optional().during("read the active deployment")
    }

    pub fn set_status(&self, id: i64, status: Status) -> StoreResult<()> {
        self.conn()
            .execute("UPDATE deployments SET status = ?2 WHERE id = ?1", params![id, status])
            .during("update a deployment's status")?;
        Ok(())
    }

    /// Ends a deployment; a successful one becomes the app's only active deployment.
    pub fn finish(&self, app: &AppName, id: i64, finish: &Finish) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().during("finish a deployment")?;
        let steps = serde_json::to_string(finish.steps).unwrap_or_default();
        tx.execute(
            "UPDATE deployments SET status = ?2, ended_at = ?3, reason = ?4, steps = ?5, python_version = ?6
             WHERE id = ?1",
            params![id, finish.status, now(), finish.reason, steps, finish.python_version],
        )
        .during("finish a deployment")?;
        if finish.status == Status::Success {
            activate(&tx, app, id)?;
        }
        tx.commit().during("finish a deployment")
    }

    /// Makes a successful deployment the app's live release again (a rollback).
    pub fn activate(&self, app: &AppName, id: i64) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().during("activate a deployment")?;
        activate(&tx, app, id)?;
        tx.commit().during("activate a deployment")
    }

    /// After a crash: every deployment that was still running is failed. Returns the ids. (Its
    /// release is removed by `releases::recover`; the live release and its env were never
    /// touched, so the next deployment reuses them.)
    pub fn fail_interrupted(&self, reason: &str) -> StoreResult<Vec<(String, i64)>> {
        let mut conn = self.conn();
        let tx = conn.transaction().during("fail interrupted deployments")?;
        let interrupted: Vec<(String, i64)> = {
            let mut stmt = tx
                .prepare("SELECT app, id FROM deployments WHERE status IN ('pending', 'building', 'deploying')")
                .during("find interrupted deployments")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .during("find interrupted deployments")?
                .collect::<Result<_, _>>()
                .during("find interrupted deployments")?;
            rows
        };
        for (_, id) in &interrupted {
            tx.execute(
                "UPDATE deployments SET status = 'failed', ended_at = ?2, reason = ?3 WHERE id = ?1",
                params![id, now(), reason],
            )
            .during("fail an interrupted deployment")?;
        }
        tx.commit().during("fail interrupted deployments")?;
        Ok(interrupted)
    }

    /// Deletes all but the newest `keep` deployments of `app` (never the active one); returns
    /// the ids deleted so their logs can go too.
    pub fn purge_deployments(&self, app: &AppName, keep: usize) -> StoreResult<Vec<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction().during("purge old deployments")?;
        let doomed: Vec<i64> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id FROM (SELECT id, active, status FROM deployments WHERE app = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)
                     WHERE active = 0 AND status IN ('success', 'failed')",
                )
                .during("find old deployments")?;
            let rows = stmt
                .query_map(params![app.as_str(), keep as i64], |r| r.get(0))
                .during("find old deployments")?
                .collect::<Result<_, _>>()
                .during("find old deployments")?;
            rows
        };
        for id in &doomed {
            tx.execute("DELETE FROM deployments WHERE id = ?1", [id]).during("delete an old deployment")?;
        }
        tx.commit().during("purge old deployments")?;
        Ok(doomed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        (dir, store)
    }

    fn deploy(store: &Store, app: &AppName) -> Deployment {
        let new =
            NewDeployment { app, commit: "abc", author: "a", message: "m", clean_env: false, trigger: Trigger::Push };
        store.insert_deployment(&new).unwrap()
    }

    fn done(status: Status, reason: Option<&str>) -> Finish<'_> {
        Finish { status, reason, steps: &[], python_version: None }
    }

    fn app() -> AppName {
        AppName::parse("app").unwrap()
    }

    #[test]
    fn unknown_status_text_is_an_error_not_a_failure() {
        assert_eq!("success".parse::<Status>().unwrap(), Status::Success);
        assert_eq!(
            "bogus".parse::<Status>().unwrap_err().to_string(),
            "unknown deployment status `bogus` in the database"
        );
        assert_eq!("env-reset".parse::<Trigger>().unwrap(), Trigger::EnvReset);
    }

    #[test]
    fn only_the_last_successful_deployment_is_active() {
        let (_dir, store) = store();
        assert!(store.create_app(&app(), "hash").unwrap());
        assert!(!store.create_app(&app(), "hash").unwrap(), "names are unique");
        let first = deploy(&store, &app());
        store.finish(&app(), first.id, &done(Status::Success, None)).unwrap();
        let second = deploy(&store, &app());
        store.finish(&app(), second.id, &done(Status::Failed, Some("boom"))).unwrap();
        assert_eq!(store.active_deployment(&app()).unwrap().unwrap().id, first.id);
        let third = deploy(&store, &app());
        store.finish(&app(), third.id, &done(Status::Success, None)).unwrap();
        assert_eq!(store.active_deployment(&app()).unwrap().unwrap().id, third.id);
        let all = store.deployments(&app()).unwrap();
        assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), [third.id, second.id, first.id]);
        assert_eq!(all[1].reason.as_deref(), Some("boom"));
    }

    #[test]
    fn interrupted_deployments_fail() {
        let (_dir, store) = store();
        store.create_app(&app(), "h").unwrap();
        let d = deploy(&store, &app());
        store.set_status(d.id, Status::Building).unwrap();
        assert_eq!(store.fail_interrupted("crash").unwrap(), [("app".to_string(), d.id)]);
        assert_eq!(store.deployment(&app(), d.id).unwrap().unwrap().status, Status::Failed);
    }

    #[test]
    fn purge_keeps_the_newest_and_the_active_one() {
        let (_dir, store) = store();
        store.create_app(&app(), "h").unwrap();
        let first = deploy(&store, &app());
        store.finish(&app(), first.id, &done(Status::Success, None)).unwrap();
        for _ in 0..4 {
            let d = deploy(&store, &app());
            store.finish(&app(), d.id, &done(Status::Failed, None)).unwrap();
        }
        let purged = store.purge_deployments(&app(), 2).unwrap();
        assert_eq!(purged.len(), 2, "the newest two stay, and the active one");
        let left = store.deployments(&app()).unwrap();
        assert_eq!(left.len(), 3);
        assert!(left.iter().any(|d| d.id == first.id && d.active));
    }

    #[test]
    fn deleting_an_app_deletes_its_settings_and_deployments() {
        let (_dir, store) = store();
        store.create_app(&app(), "h").unwrap();
        store.set_settings(Some(&app()), &[("K".to_string(), "v".to_string())].into()).unwrap();
        deploy(&store, &app());
        assert!(store.delete_app(&app()).unwrap());
        store.create_app(&app(), "h").unwrap();
        assert!(store.settings(&app()).unwrap().is_empty());
        assert!(store.deployments(&app()).unwrap().is_empty());
    }
}
