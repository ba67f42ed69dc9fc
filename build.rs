//! Conditions the integration tests are compiled under, so that a test that cannot run here is
//! reported by `cargo test` as `ignored` with its reason, never passed silently:
//! - `skip_e2e`: `SLIPWAY_SKIP_E2E` is set (a quick local loop without Chromium).
//! - `not_root`: the build does not run as root (tests of per-app Unix users and cgroups need it).
//! - `have_python_3_9`: pyenv has a Python 3.9 (the end-of-life test deploys one).
//! - `no_pebble`: Debian's `pebble` ACME test server is not installed (`./scripts/setup.sh` installs it).
//! - `no_postgres`: Debian's PostgreSQL server is not installed (`./scripts/setup.sh` installs it;
//!   the tests start a throwaway cluster of their own with `scripts/postgres.sh`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skip_e2e)");
    println!("cargo::rustc-check-cfg=cfg(not_root)");
    println!("cargo::rustc-check-cfg=cfg(have_python_3_9)");
    println!("cargo::rustc-check-cfg=cfg(no_pebble)");
    println!("cargo::rustc-check-cfg=cfg(no_postgres)");
    println!("cargo::rerun-if-changed=/usr/lib/postgresql");
    println!("cargo::rerun-if-changed=/usr/bin/pebble");
    println!("cargo::rerun-if-env-changed=SLIPWAY_SKIP_E2E");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("SLIPWAY_SKIP_E2E").is_some() {
        println!("cargo::rustc-cfg=skip_e2e");
    }
    if !is_root() {
        println!("cargo::rustc-cfg=not_root");
    }
    if has_pyenv_minor("3.9") {
        println!("cargo::rustc-cfg=have_python_3_9");
    }
    if !std::path::Path::new("/usr/bin/pebble").exists()
        || !std::path::Path::new("/usr/bin/pebble-challtestsrv").exists()
    {
        println!("cargo::rustc-cfg=no_pebble");
    }
    if !has_postgres_server() {
        println!("cargo::rustc-cfg=no_postgres");
    }
}

/// Whether `$PYENV_ROOT/versions` (default `~/.pyenv/versions`) has a `<minor>.x`.
fn has_pyenv_minor(minor: &str) -> bool {
    let root = std::env::var_os("PYENV_ROOT")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pyenv")));
    let Some(versions) = root.map(|r| r.join("versions")) else { return false };
    println!("cargo::rerun-if-changed={}", versions.display());
    std::fs::read_dir(versions)
        .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&format!("{minor}."))))
        .unwrap_or(false)
}

/// Whether Debian's PostgreSQL server binaries (`/usr/lib/postgresql/<major>/bin/initdb`) are here.
fn has_postgres_server() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .map(|majors| majors.flatten().any(|major| major.path().join("bin/initdb").is_file()))
        .unwrap_or(false)
}

/// The effective uid from `/proc/self/status` (`Uid: real effective saved fs`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find_map(|l| l.strip_prefix("Uid:")).map(str::to_string))
        .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}
