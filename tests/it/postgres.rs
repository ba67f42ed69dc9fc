//! PostgreSQL for the tests: the throwaway cluster `./scripts/test.sh` started
//! (`SLIPWAY_TEST_POSTGRES`), or else one this test process starts on first use and that stops
//! when the process exits. Each test gets a database of its own.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::support::repo_root;

/// The cluster's URL (its `postgres` database).
pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| std::env::var("SLIPWAY_TEST_POSTGRES").unwrap_or_else(|_| start_cluster()))
}

fn start_cluster() -> String {
    let pid = std::process::id().to_string();
    let dir = std::env::temp_dir().join(format!("slipway-test-pg-{pid}"));
    let started =
        Command::new(repo_root().join("scripts/postgres.sh")).arg("start").arg(&dir).arg(&pid).output().unwrap();
    assert!(started.status.success(), "scripts/postgres.sh start: {}", String::from_utf8_lossy(&started.stderr));
    String::from_utf8(started.stdout).unwrap().trim().to_string()
}

/// A new, empty database; its URL.
pub fn scratch_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    psql(admin_url(), &format!("CREATE DATABASE {name}"));
    let (cluster, _) = admin_url().rsplit_once('/').unwrap();
    format!("{cluster}/{name}")
}

/// Runs SQL with the real `psql`; returns its unaligned output.
pub fn psql(url: &str, sql: &str) -> String {
    let out =
        Command::new("psql").args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql]).output().unwrap();
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `SLIPWAY_TEST_STORE=postgres`: every test server keeps its store in PostgreSQL (the suite's
/// second run in `./scripts/test.sh`).
pub fn servers_use_postgres() -> bool {
    std::env::var("SLIPWAY_TEST_STORE").is_ok_and(|store| store == "postgres")
}
