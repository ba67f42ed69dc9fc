//! The embedded backend: one SQLite file in the data dir, WAL mode, one connection under a mutex.
//! Queries are short and SQLite answers them in microseconds, which is why they are not moved to
//! a blocking pool.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::{ToSqlOutput, Value as SqliteValue};
use rusqlite::{params_from_iter, Connection, ToSql};
use rusqlite_migration::{Migrations, M};

use super::sql::{Conn, DbError, Row, Value};
use super::{StoreError, StoreResult};

pub struct Sqlite(Mutex<Connection>);

impl Sqlite {
    pub fn open(path: &Path) -> StoreResult<Self> {
        let what = path.display().to_string();
        let opened = |source: rusqlite::Error| StoreError::Open { what: what.clone(), source: source.into() };
        let mut conn = Connection::open(path).map_err(opened)?;
        // Private before anything is written (SQLite gives its -wal and -shm files the same mode).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|source| StoreError::Private { path: path.to_path_buf(), source })?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(opened)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(opened)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(opened)?;
        Migrations::new(vec![
            M::up(include_str!("../../migrations/001_init.sql")),
            M::up(include_str!("../../migrations/002_releases.sql")),
            M::up(include_str!("../../migrations/003_processes.sql")),
            M::up(include_str!("../../migrations/004_domains.sql")),
            M::up(include_str!("../../migrations/005_deployment_numbers.sql")),
            M::up(include_str!("../../migrations/006_global_settings.sql")),
            M::up(include_str!("../../migrations/007_deploy_hooks.sql")),
            M::up(include_str!("../../migrations/008_instances.sql")),
        ])
        .to_latest(&mut conn)
        .map_err(|source| StoreError::Migrate { what, source: Box::new(source) })?;
        Ok(Sqlite(Mutex::new(conn)))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn with<R>(&self, work: impl FnOnce(&dyn Conn) -> Result<R, DbError>) -> Result<R, DbError> {
        work(&Lite(&self.lock()))
    }

    pub fn transaction<R>(&self, work: impl FnOnce(&dyn Conn) -> Result<R, DbError>) -> Result<R, DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let result = work(&Lite(&tx))?;
        tx.commit()?;
        Ok(result)
    }
}

/// A connection, or a transaction (which derefs to one).
struct Lite<'c>(&'c Connection);

impl Conn for Lite<'_> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let changed = self.0.prepare_cached(sql)?.execute(params_from_iter(params))?;
        Ok(changed as u64)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut statement = self.0.prepare_cached(sql)?;
        let columns = statement.column_count();
        let rows = statement
            .query_map(params_from_iter(params), |row| {
                (0..columns).map(|i| row.get::<_, SqliteValue>(i).map(value_of)).collect::<Result<_, _>>()
            })?
            .collect::<Result<Vec<Vec<Option<Value>>>, _>>()?;
        rows.into_iter()
            .map(|row| {
                let values = row.into_iter().enumerate().map(|(column, value)| {
                    value.ok_or_else(|| DbError::Decode {
                        column,
                        message: "a real or a blob, not in the schema".into(),
                    })
                });
                values.collect::<Result<_, _>>().map(Row)
            })
            .collect()
    }
}

fn value_of(value: SqliteValue) -> Option<Value> {
    match value {
        SqliteValue::Null => Some(Value::Null),
        SqliteValue::Integer(i) => Some(Value::Int(i)),
        SqliteValue::Text(text) => Some(Value::Text(text)),
        SqliteValue::Real(_) | SqliteValue::Blob(_) => None,
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::from(rusqlite::types::Null),
            Value::Int(i) => ToSqlOutput::from(*i),
            Value::Text(text) => ToSqlOutput::from(text.as_str()),
        })
    }
}
