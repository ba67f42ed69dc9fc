//! The embedded store: one SQLite file, `<data-dir>/slipway.db`, holding apps, settings, hashed
//! credentials and deployment records. Schema changes are numbered migrations in `migrations/`.
//!
//! Queries are short and run under a mutex on one connection; SQLite in WAL mode answers them in
//! microseconds, which is why they are not moved to a blocking pool.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, Row};
use rusqlite_migration::{Migrations, M};
use serde::Serialize;

pub struct Store {
    conn: Mutex<Connection>,
}

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

    fn parse(s: &str) -> Self {
        match s {
            "pending" => Status::Pending,
            "building" => Status::Building,
            "deploying" => Status::Deploying,
            "success" => Status::Success,
            _ => Status::Failed,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Status::Success | Status::Failed)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub id: i64,
    pub app: String,
    pub commit: String,
    pub author: String,
    pub message: String,
    pub status: Status,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub active: bool,
    pub clean_env: bool,
    pub trigger: String,
    /// Why it failed, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub struct NewDeployment<'a> {
    pub app: &'a str,
    pub commit: &'a str,
    pub author: &'a str,
    pub message: &'a str,
    pub clean_env: bool,
    pub trigger: &'a str,
}

const DEPLOYMENT_COLUMNS: &str =
    "id, app, commit_sha, author, message, status, started_at, ended_at, active, clean_env, trigger, reason";

fn deployment_from_row(row: &Row) -> rusqlite::Result<Deployment> {
    Ok(Deployment {
        id: row.get(0)?,
        app: row.get(1)?,
        commit: row.get(2)?,
        author: row.get(3)?,
        message: row.get(4)?,
        status: Status::parse(&row.get::<_, String>(5)?),
        started_at: row.get(6)?,
        ended_at: row.get(7)?,
        active: row.get(8)?,
        clean_env: row.get(9)?,
        trigger: row.get(10)?,
        reason: row.get(11)?,
    })
}

pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC timestamps always format")
}

impl Store {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path).with_context(|| format!("open database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Migrations::new(vec![M::up(include_str!("../migrations/001_init.sql"))])
            .to_latest(&mut conn)
            .with_context(|| format!("migrate database {}", path.display()))?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ---- admin token ----

    pub fn admin_token_hash(&self) -> anyhow::Result<Option<String>> {
        Ok(self.conn().query_row("SELECT token_sha256 FROM admin WHERE id = 1", [], |r| r.get(0)).optional()?)
    }

    pub fn set_admin_token_hash(&self, hash: &str) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO admin (id, token_sha256) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET token_sha256 = excluded.token_sha256",
            [hash],
        )?;
        Ok(())
    }

    // ---- apps ----

    /// Creates the app; `false` if the name is taken.
    pub fn create_app(&self, name: &str, password_hash: &str) -> anyhow::Result<bool> {
        let inserted = self.conn().execute(
            "INSERT OR IGNORE INTO apps (name, password_hash, created_at) VALUES (?1, ?2, ?3)",
            params![name, password_hash, now()],
        )?;
        Ok(inserted == 1)
    }

    pub fn app_names(&self) -> anyhow::Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM apps ORDER BY name")?;
        let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(names)
    }

    /// `(created_at)` if the app exists.
    pub fn app_created_at(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.conn().query_row("SELECT created_at FROM apps WHERE name = ?1", [name], |r| r.get(0)).optional()?)
    }

    pub fn password_hash(&self, app: &str) -> anyhow::Result<Option<String>> {
        Ok(self.conn().query_row("SELECT password_hash FROM apps WHERE name = ?1", [app], |r| r.get(0)).optional()?)
    }

    pub fn set_password_hash(&self, app: &str, hash: &str) -> anyhow::Result<()> {
        self.conn().execute("UPDATE apps SET password_hash = ?2 WHERE name = ?1", params![app, hash])?;
        Ok(())
    }

    pub fn delete_app(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self.conn().execute("DELETE FROM apps WHERE name = ?1", [name])? == 1)
    }

    pub fn take_needs_clean_env(&self, app: &str) -> anyhow::Result<bool> {
        let conn = self.conn();
        let needed: bool = conn
            .query_row("SELECT needs_clean_env FROM apps WHERE name = ?1", [app], |r| r.get(0))
            .optional()?
            .unwrap_or(false);
        if needed {
            conn.execute("UPDATE apps SET needs_clean_env = 0 WHERE name = ?1", [app])?;
        }
        Ok(needed)
    }

    // ---- settings ----

    pub fn settings(&self, app: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key, value FROM settings WHERE app = ?1 ORDER BY key")?;
        let rows = stmt.query_map([app], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn set_settings(&self, app: &str, values: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (key, value) in values {
            tx.execute(
                "INSERT INTO settings (app, key, value) VALUES (?1, ?2, ?3) ON CONFLICT(app, key) DO UPDATE SET value = excluded.value",
                params![app, key, value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn delete_setting(&self, app: &str, key: &str) -> anyhow::Result<bool> {
        Ok(self.conn().execute("DELETE FROM settings WHERE app = ?1 AND key = ?2", params![app, key])? == 1)
    }

    // ---- deployments ----

    pub fn insert_deployment(&self, new: &NewDeployment) -> anyhow::Result<Deployment> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO deployments (app, commit_sha, author, message, status, started_at, clean_env, trigger) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7)",
            params![new.app, new.commit, new.author, new.message, now(), new.clean_env, new.trigger],
        )?;
        let id = conn.last_insert_rowid();
        drop(conn);
        self.deployment(new.app, id)?.context("deployment just inserted")
    }

    pub fn deployment(&self, app: &str, id: i64) -> anyhow::Result<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND id = ?2");
        Ok(self.conn().query_row(&sql, params![app, id], deployment_from_row).optional()?)
    }

    /// Newest first.
    pub fn deployments(&self, app: &str) -> anyhow::Result<Vec<Deployment>> {
        let conn = self.conn();
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 ORDER BY id DESC");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([app], deployment_from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn active_deployment(&self, app: &str) -> anyhow::Result<Option<Deployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND active = 1");
        Ok(self.conn().query_row(&sql, [app], deployment_from_row).optional()?)
    }

    pub fn set_status(&self, id: i64, status: Status) -> anyhow::Result<()> {
        self.conn().execute("UPDATE deployments SET status = ?2 WHERE id = ?1", params![id, status.as_str()])?;
        Ok(())
    }

    /// Ends a deployment; a successful one becomes the app's only active deployment.
    pub fn finish(&self, app: &str, id: i64, status: Status, reason: Option<&str>) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if status == Status::Success {
            tx.execute("UPDATE deployments SET active = 0 WHERE app = ?1", [app])?;
        }
        tx.execute(
            "UPDATE deployments SET status = ?2, ended_at = ?3, reason = ?4, active = ?5 WHERE id = ?1",
            params![id, status.as_str(), now(), reason, status == Status::Success],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// After a crash: every deployment that was still running is failed, and its app's next
    /// deployment builds a fresh env. Returns the ids.
    pub fn fail_interrupted(&self, reason: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let interrupted: Vec<(String, i64)> = {
            let mut stmt =
                tx.prepare("SELECT app, id FROM deployments WHERE status IN ('pending', 'building', 'deploying')")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            rows
        };
        for (app, id) in &interrupted {
            tx.execute(
                "UPDATE deployments SET status = 'failed', ended_at = ?2, reason = ?3 WHERE id = ?1",
                params![id, now(), reason],
            )?;
            tx.execute("UPDATE apps SET needs_clean_env = 1 WHERE name = ?1", [app])?;
        }
        tx.commit()?;
        Ok(interrupted)
    }

    /// Deletes all but the newest `keep` deployments of `app` (never the active one); returns
    /// the ids deleted so their logs can go too.
    pub fn purge_deployments(&self, app: &str, keep: usize) -> anyhow::Result<Vec<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let doomed: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT id FROM (SELECT id, active, status FROM deployments WHERE app = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)
                 WHERE active = 0 AND status IN ('success', 'failed')",
            )?;
            let rows = stmt.query_map(params![app, keep as i64], |r| r.get(0))?.collect::<Result<_, _>>()?;
            rows
        };
        for id in &doomed {
            tx.execute("DELETE FROM deployments WHERE id = ?1", [id])?;
        }
        tx.commit()?;
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

    fn deploy(store: &Store, app: &str) -> Deployment {
        store
            .insert_deployment(&NewDeployment {
                app,
                commit: "abc",
                author: "a",
                message: "m",
                clean_env: false,
                trigger: "push",
            })
            .unwrap()
    }

    #[test]
    fn only_the_last_successful_deployment_is_active() {
        let (_dir, store) = store();
        assert!(store.create_app("app", "hash").unwrap());
        assert!(!store.create_app("app", "hash").unwrap(), "names are unique");
        let first = deploy(&store, "app");
        store.finish("app", first.id, Status::Success, None).unwrap();
        let second = deploy(&store, "app");
        store.finish("app", second.id, Status::Failed, Some("boom")).unwrap();
        assert_eq!(store.active_deployment("app").unwrap().unwrap().id, first.id);
        let third = deploy(&store, "app");
        store.finish("app", third.id, Status::Success, None).unwrap();
        assert_eq!(store.active_deployment("app").unwrap().unwrap().id, third.id);
        let all = store.deployments("app").unwrap();
        assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), [third.id, second.id, first.id]);
        assert_eq!(all[1].reason.as_deref(), Some("boom"));
    }

    #[test]
    fn interrupted_deployments_fail_and_ask_for_a_clean_env() {
        let (_dir, store) = store();
        store.create_app("app", "h").unwrap();
        let d = deploy(&store, "app");
        store.set_status(d.id, Status::Building).unwrap();
        assert_eq!(store.fail_interrupted("crash").unwrap(), [("app".to_string(), d.id)]);
        assert_eq!(store.deployment("app", d.id).unwrap().unwrap().status, Status::Failed);
        assert!(store.take_needs_clean_env("app").unwrap());
        assert!(!store.take_needs_clean_env("app").unwrap(), "only once");
    }

    #[test]
    fn purge_keeps_the_newest_and_the_active_one() {
        let (_dir, store) = store();
        store.create_app("app", "h").unwrap();
        let first = deploy(&store, "app");
        store.finish("app", first.id, Status::Success, None).unwrap();
        for _ in 0..4 {
            let d = deploy(&store, "app");
            store.finish("app", d.id, Status::Failed, None).unwrap();
        }
        let purged = store.purge_deployments("app", 2).unwrap();
        assert_eq!(purged.len(), 2, "the newest two stay, and the active one");
        let left = store.deployments("app").unwrap();
        assert_eq!(left.len(), 3);
        assert!(left.iter().any(|d| d.id == first.id && d.active));
    }

    #[test]
    fn deleting_an_app_deletes_its_settings_and_deployments() {
        let (_dir, store) = store();
        store.create_app("app", "h").unwrap();
        store.set_settings("app", &[("K".to_string(), "v".to_string())].into()).unwrap();
        deploy(&store, "app");
        assert!(store.delete_app("app").unwrap());
        store.create_app("app", "h").unwrap();
        assert!(store.settings("app").unwrap().is_empty());
        assert!(store.deployments("app").unwrap().is_empty());
    }
}
