//! `slipway db migrate-to`: one store copied whole into another, in one transaction — a failed
//! copy leaves the target as it was. Ids and app numbers are kept (an app's number is its Unix
//! user, which owns its files).

use super::sql::{Conn, DbError, Row};
use super::{Backend, Store, StoreError, StoreResult, DEPLOYMENT_COLUMNS, RUN_COLUMNS};

/// The tables, parents before children, with the columns both schemas have.
const TABLES: &[(&str, &str)] = &[
    ("admin", "id, token_sha256"),
    ("apps", "name, rowid, password_hash, created_at, hook_secret_hash"),
    ("global_settings", "key, value"),
    ("settings", "app, key, value"),
    ("formation", "app, kind, count"),
    ("domains", "domain, app, created_at"),
    ("deployments", DEPLOYMENT_COLUMNS),
    ("runs", RUN_COLUMNS),
];

/// PostgreSQL's identity columns, whose next value must follow the rows copied in.
const IDENTITIES: &[(&str, &str)] = &[("apps", "rowid"), ("deployments", "id"), ("runs", "id")];

/// How many rows of each table were copied.
#[derive(Debug)]
pub struct Copied {
    pub tables: Vec<(&'static str, usize)>,
}

impl Store {
    /// Copies everything into `target`, which must have no apps; its admin token and
    /// server-wide settings are replaced by these.
    pub fn copy_into(&self, target: &Store) -> StoreResult<Copied> {
        let theirs = target.app_names()?;
        if !theirs.is_empty() {
            let names: Vec<&str> = theirs.iter().map(|a| a.as_str()).collect();
            return Err(StoreError::Refused(format!(
                "the target database already has apps ({}): migrate into an empty database",
                names.join(", ")
            )));
        }
        let mut tables = Vec::new();
        for (table, columns) in TABLES {
            let rows =
                self.with("read the store to copy", |db| db.query(&format!("SELECT {columns} FROM {table}"), &[]))?;
            tables.push((*table, *columns, rows));
        }
        let postgres = matches!(target.backend, Backend::Postgres(_));
        target.transaction("copy the store", |db| {
            db.execute("DELETE FROM global_settings", &[])?;
            db.execute("DELETE FROM admin", &[])?;
            for (table, columns, rows) in &tables {
                insert_rows(db, table, columns, rows)?;
            }
            if postgres {
                for (table, column) in IDENTITIES {
                    db.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
                        ),
                        &[],
                    )?;
                }
            }
            Ok(())
        })?;
        Ok(Copied { tables: tables.iter().map(|(table, _, rows)| (*table, rows.len())).collect() })
    }
}

fn insert_rows(db: &dyn Conn, table: &str, columns: &str, rows: &[Row]) -> Result<(), DbError> {
    let placeholders: Vec<String> = (1..=columns.split(',').count()).map(|i| format!("?{i}")).collect();
    let sql = format!("INSERT INTO {table} ({columns}) VALUES ({})", placeholders.join(", "));
    for row in rows {
        db.execute(&sql, &row.0)?;
    }
    Ok(())
}
