//! The store: apps, settings, hashed credentials, deployment and run records.
//!
//! Two backends behind one query layer ([`sql`]): the embedded SQLite file
//! `<data-dir>/slipway.db` (the default, zero set-up) and PostgreSQL (`serve --database
//! postgres://…`, for several instances sharing one store). Each query below is written once, in
//! the SQL both speak; the schemas are twins (`migrations/` and `migrations/postgres/`), and
//! `slipway db migrate-to` copies one store into another ([`Store::copy_into`]).

mod copy;
mod postgres;
pub mod sql;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;
use time::OffsetDateTime;

use crate::app_name::AppName;
use crate::hosts::DomainName;
use sql::{values, Conn, DbError, FromValue, Row, Value};

pub use copy::Copied;
pub use postgres::describe_url;

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded file (`<data-dir>/slipway.db`).
    Sqlite(PathBuf),
    /// A `postgres://` URL (which may hold a password, so it is never shown whole).
    Postgres(String),
}

impl Location {
    /// `--database`: a `postgres://` (or `postgresql://`) URL.
    pub fn parse_url(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Location::Postgres(url.to_string()))
        } else {
            Err(format!(
                "expected a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL, got `{}` (leave --database out for the embedded SQLite store)",
                url.split(['@', ':']).next().unwrap_or_default()
            ))
        }
    }
}

/// Shows where the store is without a password.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "SQLite {}", path.display()),
            Location::Postgres(url) => write!(f, "PostgreSQL {}", describe_url(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub struct Store {
    backend: Backend,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(Box<postgres::Postgres>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {what}: {source}")]
    Open { what: String, source: DbError },
    #[error("cannot make the database {} private (mode 0600): {source}", path.display())]
    Private { path: PathBuf, source: std::io::Error },
    #[error("cannot bring the database {what} up to date: {source}")]
    Migrate { what: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("database query failed ({what}): {source}")]
    Query { what: &'static str, source: DbError },
    #[error("{0}")]
    Refused(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Names the query that failed.
trait During<T> {
    fn during(self, what: &'static str) -> StoreResult<T>;
}

impl<T> During<T> for Result<T, DbError> {
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
        impl From<$type> for Value {
            fn from(value: $type) -> Value {
                Value::from(value.as_str())
            }
        }
        impl FromValue for $type {
            fn from_value(value: &Value) -> Result<Self, String> {
                sql::parse_text(value)
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
    /// The instance that ran it (none for deployments made before instances were recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// A deployment that has not ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub app: AppName,
    pub id: i64,
    pub status: Status,
    pub instance: Option<String>,
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
    /// The instance that ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

const RUN_COLUMNS: &str = "id, trigger, command, started_at, ended_at, exit_code, outcome, instance";

fn run_from_row(row: &Row) -> Result<Run, DbError> {
    Ok(Run {
        id: row.get(0)?,
        trigger: row.get(1)?,
        command: row.get(2)?,
        started_at: row.get(3)?,
        ended_at: row.get(4)?,
        exit_code: row.get(5)?,
        outcome: row.get(6)?,
        instance: row.get(7)?,
    })
}

pub struct NewDeployment<'a> {
    pub app: &'a AppName,
    pub commit: &'a str,
    pub author: &'a str,
    pub message: &'a str,
    pub clean_env: bool,
    pub trigger: Trigger,
    /// The instance that runs it.
    pub instance: &'a str,
}

const DEPLOYMENT_COLUMNS: &str = "id, app, commit_sha, author, message, status, started_at, ended_at, active, \
     clean_env, trigger, reason, steps, python_version, activated_at, number, instance";

fn deployment_from_row(row: &Row) -> Result<Deployment, DbError> {
    Ok(Deployment {
        id: row.get(0)?,
        app: row.get(1)?,
        commit: row.get(2)?,
        author: row.get(3)?,
        message: row.get(4)?,
        status: row.get(5)?,
        started_at: row.get(6)?,
        ended_at: row.get(7)?,
        active: row.get(8)?,
        clean_env: row.get(9)?,
        trigger: row.get(10)?,
        reason: row.get(11)?,
        steps: row.get::<Option<String>>(12)?.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default(),
        python_version: row.get(13)?,
        activated_at: row.get(14)?,
        number: row.get::<Option<i64>>(15)?.unwrap_or_default(),
        instance: row.get(16)?,
    })
}

/// How a deployment ended: its status, and what the build did.
pub struct Finish<'a> {
    pub status: Status,
    pub reason: Option<&'a str>,
    pub steps: &'a [slipway_build::log::StepTiming],
    pub python_version: Option<String>,
}

fn activate(db: &dyn Conn, app: &AppName, id: i64) -> Result<(), DbError> {
    db.execute("UPDATE deployments SET active = 0 WHERE app = ?1", values![app])?;
    db.execute("UPDATE deployments SET active = 1, activated_at = ?2 WHERE id = ?1", values![id, now()])?;
    Ok(())
}

/// Now, as stored.
pub fn now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

pub fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339).expect("UTC timestamps always format")
}

/// The channel instances tell each other about apps on ([`Store::notify`]).
const NOTIFY_CHANNEL: &str = "slipway";

/// The key of an app's cluster-wide lock (PostgreSQL hashes it to a 64-bit advisory lock key).
pub fn app_lock_key(app: &AppName) -> String {
    format!("slipway app {app}")
}

/// An instance, as its heartbeats record it.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    pub name: String,
    /// Where its HTTP listener answers.
    pub url: String,
    pub pid: i64,
    pub started_at: OffsetDateTime,
    /// Its last heartbeat.
    pub seen_at: OffsetDateTime,
    /// Its processes, `{"app": [ProcessRow…]}` as JSON.
    pub processes: String,
}

/// Deletes the rows of `table` whose ids `select` finds; returns those ids.
fn delete_selected(db: &dyn Conn, table: &str, select: &str, params: &[Value]) -> Result<Vec<i64>, DbError> {
    let ids: Vec<i64> = db.rows(select, params, first_column)?;
    let delete = format!("DELETE FROM {table} WHERE id = ?1");
    for id in &ids {
        db.execute(&delete, values![id])?;
    }
    Ok(ids)
}

fn first_column<T: FromValue>(row: &Row) -> Result<T, DbError> {
    row.get(0)
}

fn two_columns<A: FromValue, B: FromValue>(row: &Row) -> Result<(A, B), DbError> {
    Ok((row.get(0)?, row.get(1)?))
}

impl Store {
    pub fn open(location: &Location) -> StoreResult<Self> {
        let backend = match location {
            Location::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path)?),
            Location::Postgres(url) => Backend::Postgres(Box::new(postgres::Postgres::open(url)?)),
        };
        Ok(Store { backend })
    }

    /// Runs `work` on the connection; `what` names it in an error.
    fn with<R>(&self, what: &'static str, work: impl FnOnce(&dyn Conn) -> Result<R, DbError>) -> StoreResult<R> {
        match &self.backend {
            Backend::Sqlite(db) => db.with(work),
            Backend::Postgres(db) => db.with(work),
        }
        .during(what)
    }

    /// Runs `work` in one transaction: all of it or none.
    fn transaction<R>(&self, what: &'static str, work: impl FnOnce(&dyn Conn) -> Result<R, DbError>) -> StoreResult<R> {
        match &self.backend {
            Backend::Sqlite(db) => db.transaction(work),
            Backend::Postgres(db) => db.transaction(work),
        }
        .during(what)
    }

    // ---- admin token ----

    pub fn admin_token_hash(&self) -> StoreResult<Option<String>> {
        self.with("read the admin token hash", |db| {
            db.row("SELECT token_sha256 FROM admin WHERE id = 1", &[], first_column)
        })
    }

    pub fn set_admin_token_hash(&self, hash: &str) -> StoreResult<()> {
        self.with("store the admin token hash", |db| {
            db.execute(
                "INSERT INTO admin (id, token_sha256) VALUES (1, ?1)
                 ON CONFLICT(id) DO UPDATE SET token_sha256 = excluded.token_sha256",
                values![hash],
            )
        })?;
        Ok(())
    }

    // ---- apps ----

    /// Creates the app; `false` if the name is taken.
    pub fn create_app(&self, name: &AppName, password_hash: &str) -> StoreResult<bool> {
        let inserted = self.with("create an app", |db| {
            db.execute(
                "INSERT INTO apps (name, password_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                values![name, password_hash, now()],
            )
        })?;
        Ok(inserted == 1)
    }

    pub fn app_names(&self) -> StoreResult<Vec<AppName>> {
        let names: Vec<String> =
            self.with("list apps", |db| db.rows("SELECT name FROM apps ORDER BY name", &[], first_column))?;
        // Names were valid when stored; one that is not (a hand-edited database) is skipped.
        Ok(names.iter().filter_map(|n| AppName::parse(n).ok()).collect())
    }

    /// The app's number (SQLite's rowid, a column of its own in PostgreSQL), from which its Unix
    /// user is made.
    pub fn app_number(&self, name: &AppName) -> StoreResult<Option<i64>> {
        self.with("read an app's number", |db| {
            db.row("SELECT rowid FROM apps WHERE name = ?1", values![name], first_column)
        })
    }

    /// When the app was created, if it exists.
    pub fn app_created_at(&self, name: &AppName) -> StoreResult<Option<OffsetDateTime>> {
        self.with("read an app", |db| {
            db.row("SELECT created_at FROM apps WHERE name = ?1", values![name], first_column)
        })
    }

    pub fn password_hash(&self, app: &AppName) -> StoreResult<Option<String>> {
        self.with("read an app's password hash", |db| {
            db.row("SELECT password_hash FROM apps WHERE name = ?1", values![app], first_column)
        })
    }

    pub fn set_password_hash(&self, app: &AppName, hash: &str) -> StoreResult<()> {
        self.with("store an app's password hash", |db| {
            db.execute("UPDATE apps SET password_hash = ?2 WHERE name = ?1", values![app, hash])
        })?;
        Ok(())
    }

    /// The sha256 of the app's deployment webhook secret, if it has one.
    pub fn hook_secret_hash(&self, app: &AppName) -> StoreResult<Option<String>> {
        let hash = self.with("read an app's webhook secret", |db| {
            db.row("SELECT hook_secret_hash FROM apps WHERE name = ?1", values![app], first_column)
        })?;
        Ok(hash.flatten())
    }

    pub fn set_hook_secret_hash(&self, app: &AppName, hash: &str) -> StoreResult<()> {
        self.with("store an app's webhook secret", |db| {
            db.execute("UPDATE apps SET hook_secret_hash = ?2 WHERE name = ?1", values![app, hash])
        })?;
        Ok(())
    }

    pub fn delete_app(&self, name: &AppName) -> StoreResult<bool> {
        let deleted = self.with("delete an app", |db| db.execute("DELETE FROM apps WHERE name = ?1", values![name]))?;
        Ok(deleted == 1)
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
        self.key_values("SELECT key, value FROM settings WHERE app = ?1 ORDER BY key", values![app])
    }

    pub fn global_settings(&self) -> StoreResult<BTreeMap<String, String>> {
        self.key_values("SELECT key, value FROM global_settings ORDER BY key", &[])
    }

    fn key_values(&self, sql: &str, params: &[Value]) -> StoreResult<BTreeMap<String, String>> {
        let rows = self.with("read settings", |db| db.rows(sql, params, two_columns))?;
        Ok(rows.into_iter().collect())
    }

    /// Stores the values on the app, or server-wide with `app` `None`: all or none.
    pub fn set_settings(&self, app: Option<&AppName>, values: &BTreeMap<String, String>) -> StoreResult<()> {
        self.transaction("store settings", |db| {
            for (key, value) in values {
                match app {
                    Some(app) => db.execute(
                        "INSERT INTO settings (app, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT(app, key) DO UPDATE SET value = excluded.value",
                        values![app, key, value],
                    ),
                    None => db.execute(
                        "INSERT INTO global_settings (key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        values![key, value],
                    ),
                }?;
            }
            Ok(())
        })
    }

    /// Deletes a setting of the app, or a server-wide one with `app` `None`; `false` if there was none.
    pub fn delete_setting(&self, app: Option<&AppName>, key: &str) -> StoreResult<bool> {
        let deleted = self.with("delete a setting", |db| match app {
            Some(app) => db.execute("DELETE FROM settings WHERE app = ?1 AND key = ?2", values![app, key]),
            None => db.execute("DELETE FROM global_settings WHERE key = ?1", values![key]),
        })?;
        Ok(deleted == 1)
    }

    // ---- formation ----

    /// How many processes of each type the app runs, for the types scaled.
    pub fn scale(&self, app: &AppName) -> StoreResult<BTreeMap<String, u32>> {
        let rows = self.with("read the scale", |db| {
            db.rows("SELECT kind, count FROM formation WHERE app = ?1", values![app], two_columns)
        })?;
        Ok(rows.into_iter().collect())
    }

    pub fn set_scale(&self, app: &AppName, kind: &str, count: u32) -> StoreResult<()> {
        self.with("store the scale", |db| {
            db.execute(
                "INSERT INTO formation (app, kind, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT(app, kind) DO UPDATE SET count = excluded.count",
                values![app, kind, count],
            )
        })?;
        Ok(())
    }

    // ---- domains ----

    /// Adds a custom domain to the app; `Err` names the app that has it already.
    pub fn add_domain(&self, app: &AppName, domain: &DomainName) -> StoreResult<Result<(), AppName>> {
        self.transaction("add a domain", |db| {
            let owner: Option<String> =
                db.row("SELECT app FROM domains WHERE domain = ?1", values![domain.as_str()], first_column)?;
            if let Some(owner) = owner.and_then(|o| AppName::parse(&o).ok()) {
                return Ok(Err(owner));
            }
            db.execute(
                "INSERT INTO domains (domain, app, created_at) VALUES (?1, ?2, ?3)",
                values![domain.as_str(), app, now()],
            )?;
            Ok(Ok(()))
        })
    }

    pub fn remove_domain(&self, app: &AppName, domain: &DomainName) -> StoreResult<bool> {
        let removed = self.with("remove a domain", |db| {
            db.execute("DELETE FROM domains WHERE app = ?1 AND domain = ?2", values![app, domain.as_str()])
        })?;
        Ok(removed == 1)
    }

    /// Every custom domain and its app.
    pub fn domains(&self) -> StoreResult<Vec<(DomainName, AppName)>> {
        let rows: Vec<(String, String)> = self
            .with("list domains", |db| db.rows("SELECT domain, app FROM domains ORDER BY domain", &[], two_columns))?;
        // Names were valid when stored; one that is not (a hand-edited database) is skipped.
        Ok(rows.iter().filter_map(|(d, a)| Some((DomainName::parse(d).ok()?, AppName::parse(a).ok()?))).collect())
    }

    // ---- runs ----

    pub fn insert_run(&self, app: &AppName, trigger: RunTrigger, command: &str, instance: &str) -> StoreResult<Run> {
        let sql = format!(
            "INSERT INTO runs (app, trigger, command, started_at, instance) VALUES (?1, ?2, ?3, ?4, ?5)
             RETURNING {RUN_COLUMNS}"
        );
        let params = values![app, trigger, command, now(), instance];
        let run = self.with("record a run", |db| db.row(&sql, params, run_from_row))?;
        run.ok_or(StoreError::Query { what: "record a run", source: DbError::Schema("no row came back".into()) })
    }

    pub fn finish_run(&self, id: i64, exit_code: Option<i32>, outcome: &str) -> StoreResult<()> {
        self.with("finish a run", |db| {
            db.execute(
                "UPDATE runs SET ended_at = ?2, exit_code = ?3, outcome = ?4 WHERE id = ?1",
                values![id, now(), exit_code, outcome],
            )
        })?;
        Ok(())
    }

    /// The app's newest runs first, at most `limit`; only those of `trigger` when given.
    pub fn runs(&self, app: &AppName, trigger: Option<RunTrigger>, limit: usize) -> StoreResult<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE app = ?1 AND (CAST(?2 AS TEXT) IS NULL OR trigger = ?2)
             ORDER BY id DESC LIMIT ?3"
        );
        self.with("list runs", |db| db.rows(&sql, values![app, trigger, limit], run_from_row))
    }

    pub fn run(&self, app: &AppName, id: i64) -> StoreResult<Option<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE app = ?1 AND id = ?2");
        self.with("read a run", |db| db.row(&sql, values![app, id], run_from_row))
    }

    /// The newest cron run of `command`, if it ran.
    pub fn last_cron_run(&self, app: &AppName, command: &str) -> StoreResult<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE app = ?1 AND trigger = 'cron' AND command = ?2 ORDER BY id DESC LIMIT 1"
        );
        self.with("read a cron run", |db| db.row(&sql, values![app, command], run_from_row))
    }

    /// Deletes all but the newest `keep` runs of the app; returns the ids deleted (their logs go too).
    pub fn purge_runs(&self, app: &AppName, keep: usize) -> StoreResult<Vec<i64>> {
        self.transaction("purge runs", |db| {
            delete_selected(
                db,
                "runs",
                "SELECT id FROM runs WHERE app = ?1
                 AND id NOT IN (SELECT id FROM runs WHERE app = ?1 ORDER BY id DESC LIMIT ?2)",
                values![app, keep],
            )
        })
    }

    /// Runs of `instance` (and, with `None`, of instances that are gone) that had not ended are
    /// marked as interrupted. Runs recorded before instances were are the first instance's.
    pub fn fail_interrupted_runs(&self, instance: &str, outcome: &str) -> StoreResult<()> {
        self.with("mark interrupted runs", |db| {
            db.execute(
                "UPDATE runs SET ended_at = ?1, outcome = ?2 WHERE ended_at IS NULL AND (instance = ?3 OR instance IS NULL)",
                values![now(), outcome, instance],
            )
        })?;
        Ok(())
    }

    // ---- deployments ----

    pub fn insert_deployment(&self, new: &NewDeployment) -> StoreResult<Deployment> {
        let sql = format!(
            "INSERT INTO deployments
                 (app, commit_sha, author, message, status, started_at, clean_env, trigger, instance, number)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8,
                     (SELECT COALESCE(MAX(number), 0) + 1 FROM deployments WHERE app = ?1))
             RETURNING {DEPLOYMENT_COLUMNS}"
        );
        let params =
            values![new.app, new.commit, new.author, new.message, now(), new.clean_env, new.trigger, new.instance];
        let deployment = self.with("record a deployment", |db| db.row(&sql, params, deployment_from_row))?;
        deployment.ok_or(StoreError::Query {
            what: "record a deployment",
            source: DbError::Schema("no row came back".into()),
        })
    }

    /// The app's deployment `v{number}`.
    pub fn deployment_by_number(&self, app: &AppName, number: i64) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND number = ?2");
        self.with("read a deployment", |db| db.row(&sql, values![app, number], deployment_from_row))
    }

    pub fn deployment(&self, app: &AppName, id: i64) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND id = ?2");
        self.with("read a deployment", |db| db.row(&sql, values![app, id], deployment_from_row))
    }

    /// Newest first.
    pub fn deployments(&self, app: &AppName) -> StoreResult<Vec<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 ORDER BY id DESC");
        self.with("list deployments", |db| db.rows(&sql, values![app], deployment_from_row))
    }

    /// The app's newest deployment, whatever its status.
    pub fn newest_deployment(&self, app: &AppName) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 ORDER BY id DESC LIMIT 1");
        self.with("read the newest deployment", |db| db.row(&sql, values![app], deployment_from_row))
    }

    pub fn active_deployment(&self, app: &AppName) -> StoreResult<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND active = 1");
        self.with("read the active deployment", |db| db.row(&sql, values![app], deployment_from_row))
    }

    pub fn set_status(&self, id: i64, status: Status) -> StoreResult<()> {
        self.with("update a deployment's status", |db| {
            db.execute("UPDATE deployments SET status = ?2 WHERE id = ?1", values![id, status])
        })?;
        Ok(())
    }

    /// Ends a deployment; a successful one becomes the app's only active deployment.
    pub fn finish(&self, app: &AppName, id: i64, finish: &Finish) -> StoreResult<()> {
        let steps = serde_json::to_string(finish.steps).unwrap_or_default();
        self.transaction("finish a deployment", |db| {
            db.execute(
                "UPDATE deployments SET status = ?2, ended_at = ?3, reason = ?4, steps = ?5, python_version = ?6
                 WHERE id = ?1",
                values![id, finish.status, now(), finish.reason, steps, finish.python_version.as_deref()],
            )?;
            if finish.status == Status::Success {
                activate(db, app, id)?;
            }
            Ok(())
        })
    }

    /// Makes a successful deployment the app's live release again (a rollback).
    pub fn activate(&self, app: &AppName, id: i64) -> StoreResult<()> {
        self.transaction("activate a deployment", |db| activate(db, app, id))
    }

    /// Deployments that have not ended, anywhere: `(app, id, status, instance)`.
    pub fn unfinished_deployments(&self) -> StoreResult<Vec<Unfinished>> {
        self.with("find unfinished deployments", |db| {
            db.rows(
                "SELECT app, id, status, instance FROM deployments WHERE status IN ('pending', 'building', 'deploying')
                 ORDER BY id",
                &[],
                |row| Ok(Unfinished { app: row.get(0)?, id: row.get(1)?, status: row.get(2)?, instance: row.get(3)? }),
            )
        })
    }

    /// Fails a deployment that has not ended (its builder stopped or died); `false` if it had
    /// ended meanwhile. (Its half-built release is removed by the caller; the live release and
    /// its env were never touched, so the next deployment reuses them.)
    pub fn fail_unfinished(&self, id: i64, reason: &str) -> StoreResult<bool> {
        let failed = self.with("fail an interrupted deployment", |db| {
            db.execute(
                "UPDATE deployments SET status = 'failed', ended_at = ?2, reason = ?3
                 WHERE id = ?1 AND status IN ('pending', 'building', 'deploying')",
                values![id, now(), reason],
            )
        })?;
        Ok(failed == 1)
    }

    /// Deletes all but the newest `keep` deployments of `app` (never the active one, nor one
    /// still running); returns the ids deleted so their logs can go too.
    pub fn purge_deployments(&self, app: &AppName, keep: usize) -> StoreResult<Vec<i64>> {
        self.transaction("purge old deployments", |db| {
            delete_selected(
                db,
                "deployments",
                "SELECT id FROM deployments WHERE app = ?1 AND active = 0 AND status IN ('success', 'failed')
                 AND id NOT IN (SELECT id FROM deployments WHERE app = ?1 ORDER BY id DESC LIMIT ?2)",
                values![app, keep],
            )
        })
    }

    // ---- several instances (PostgreSQL) ----

    /// Whether several instances can share this store: PostgreSQL, not the embedded file.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Takes a cluster-wide lock (an app's: [`app_lock_key`]), if no other instance holds it: a
    /// session-level advisory lock, which PostgreSQL lets go with the session when an instance
    /// dies. (Locks are counted per session, so an instance serializes its own users first.)
    /// With SQLite there is one instance, whose local locks are all there is.
    pub fn try_lock(&self, key: &str) -> StoreResult<bool> {
        let Backend::Postgres(db) = &self.backend else { return Ok(true) };
        let taken: Option<bool> = db
            .with(|db| db.row("SELECT pg_try_advisory_lock(hashtextextended(?1, 0))", values![key], first_column))
            .during("take a lock")?;
        Ok(taken.unwrap_or(false))
    }

    pub fn unlock(&self, key: &str) -> StoreResult<()> {
        let Backend::Postgres(db) = &self.backend else { return Ok(()) };
        db.with(|db| db.execute("SELECT pg_advisory_unlock(hashtextextended(?1, 0))", values![key]))
            .during("let go of a lock")?;
        Ok(())
    }

    /// Tells every other instance listening ([`Store::listen`]) `payload`.
    pub fn notify(&self, payload: &str) -> StoreResult<()> {
        let Backend::Postgres(db) = &self.backend else { return Ok(()) };
        // `execute`: pg_notify returns `void`, which is no value of ours.
        db.with(|db| db.execute("SELECT pg_notify(?1, ?2)", values![NOTIFY_CHANNEL, payload]))
            .during("notify the instances")?;
        Ok(())
    }

    /// What other instances [`Store::notify`], on a connection of its own: `Some(payload)`, or
    /// `None` after the connection was made again (notices may have been missed meanwhile).
    /// `None` with SQLite, where there are no other instances.
    pub fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Option<String>>> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(db) => Some(db.listen(NOTIFY_CHANNEL)),
        }
    }

    /// Records that `instance` is alive, with its processes.
    pub fn heartbeat(&self, instance: &InstanceRecord) -> StoreResult<()> {
        let InstanceRecord { name, url, pid, started_at, processes, .. } = instance;
        self.with("record a heartbeat", |db| {
            db.execute(
                "INSERT INTO instances (name, url, pid, started_at, seen_at, processes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(name) DO UPDATE SET url = excluded.url, pid = excluded.pid,
                     started_at = excluded.started_at, seen_at = excluded.seen_at, processes = excluded.processes",
                values![name, url, *pid, rfc3339(*started_at), now(), processes],
            )
        })?;
        Ok(())
    }

    /// Every instance that has beaten, by name.
    pub fn instances(&self) -> StoreResult<Vec<InstanceRecord>> {
        self.with("list instances", |db| {
            db.rows("SELECT name, url, pid, started_at, seen_at, processes FROM instances ORDER BY name", &[], |row| {
                Ok(InstanceRecord {
                    name: row.get(0)?,
                    url: row.get(1)?,
                    pid: row.get(2)?,
                    started_at: row.get(3)?,
                    seen_at: row.get(4)?,
                    processes: row.get(5)?,
                })
            })
        })
    }

    /// An instance that stopped (or is gone for good) leaves the list.
    pub fn remove_instance(&self, name: &str) -> StoreResult<()> {
        self.with("remove an instance", |db| db.execute("DELETE FROM instances WHERE name = ?1", values![name]))?;
        Ok(())
    }

    /// Claims the cron jobs of `minute` (RFC 3339) for `instance`; `false` if another instance
    /// did. Claims older than a day are forgotten.
    pub fn claim_cron_minute(&self, minute: &str, instance: &str, day_ago: &str) -> StoreResult<bool> {
        let claimed = self.with("claim a cron minute", |db| {
            db.execute("DELETE FROM cron_minutes WHERE minute < ?1", values![day_ago])?;
            db.execute(
                "INSERT INTO cron_minutes (minute, instance) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                values![minute, instance],
            )
        })?;
        Ok(claimed == 1)
    }

    // ---- dashboard sessions ----

    pub fn create_session(&self, id_sha256: &str, csrf: &str, expires_at: OffsetDateTime) -> StoreResult<()> {
        self.with("create a session", |db| {
            db.execute("DELETE FROM sessions WHERE expires_at < ?1", values![now()])?;
            db.execute(
                "INSERT INTO sessions (id_sha256, csrf, expires_at) VALUES (?1, ?2, ?3)",
                values![id_sha256, csrf, rfc3339(expires_at)],
            )
        })?;
        Ok(())
    }

    /// The session's CSRF token and expiry, if it exists.
    pub fn session(&self, id_sha256: &str) -> StoreResult<Option<(String, OffsetDateTime)>> {
        self.with("read a session", |db| {
            db.row("SELECT csrf, expires_at FROM sessions WHERE id_sha256 = ?1", values![id_sha256], two_columns)
        })
    }

    pub fn delete_session(&self, id_sha256: &str) -> StoreResult<()> {
        self.with("end a session", |db| db.execute("DELETE FROM sessions WHERE id_sha256 = ?1", values![id_sha256]))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Location::Sqlite(dir.path().join("db"))).unwrap();
        (dir, store)
    }

    fn deploy(store: &Store, app: &AppName) -> Deployment {
        let new = NewDeployment {
            app,
            commit: "abc",
            author: "a",
            message: "m",
            clean_env: false,
            trigger: Trigger::Push,
            instance: "i",
        };
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
        let unfinished = Unfinished { app: app(), id: d.id, status: Status::Building, instance: Some("i".into()) };
        assert_eq!(store.unfinished_deployments().unwrap(), [unfinished]);
        assert!(store.fail_unfinished(d.id, "crash").unwrap());
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
