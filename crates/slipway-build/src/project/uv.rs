//! uv projects: pyproject.toml with uv.lock. The lock is checked against pyproject.toml before
//! anything changes (`uv lock --check`), then installed exactly into env (`uv sync --locked`:
//! what the lock does not name is removed), without the development groups. The project itself
//! is installed as a package when it has a build system — not editable, so that env does not
//! point into one release's folder.

use std::path::Path;
use std::process::Command;

use crate::installer::with_settings;
use crate::log::BuildLog;
use crate::process::run_logged;
use crate::runtime::Runtime;
use crate::settings::{PackageSources, Settings};
use crate::Result;

/// Fails, with uv's reason, when uv.lock does not match pyproject.toml for `runtime`.
pub fn check_lock(
    uv: &Path,
    project: &Path,
    runtime: &Runtime,
    sources: &PackageSources,
    settings: &Settings,
    log: &BuildLog,
) -> Result<()> {
    log.info("Checking that uv.lock is up to date with pyproject.toml (uv lock --check).");
    let mut command = Command::new(uv);
    command.args(["lock", "--check", "--python"]).arg(&runtime.path).args(sources.as_args());
    run_logged("checking uv.lock (uv lock --check)", with_settings(&mut command, settings).current_dir(project), log)
}

/// The packages uv.lock installs from folders of the repository (the project itself when it has a
/// build system, path dependencies): uv rebuilds those only when their pyproject.toml changes,
/// so a deployment that changes their code must ask for it.
pub fn local_packages(lock: &[u8]) -> Vec<String> {
    let Ok(lock) = toml::from_str::<toml::Table>(&String::from_utf8_lossy(lock)) else { return Vec::new() };
    let packages = lock.get("package").and_then(|p| p.as_array()).map(Vec::as_slice).unwrap_or_default();
    packages
        .iter()
        .filter(|package| {
            let source = package.get("source").and_then(|s| s.as_table());
            source.is_some_and(|s| ["editable", "directory", "path"].iter().any(|k| s.contains_key(*k)))
        })
        .filter_map(|package| package.get("name")?.as_str().map(String::from))
        .collect()
}

/// Installs uv.lock into `env` exactly; the packages in `rebuild` are built again from the
/// repository's code.
pub fn sync(
    uv: &Path,
    project: &Path,
    env: &Path,
    sources: &PackageSources,
    settings: &Settings,
    rebuild: &[String],
    log: &BuildLog,
) -> Result<()> {
    log.info("Installing uv.lock into env (uv sync --locked --no-default-groups --no-editable).");
    let mut command = Command::new(uv);
    command
        .args(["sync", "--locked", "--no-default-groups", "--no-editable", "--python"])
        .arg(crate::env::python_in(env))
        .args(sources.as_args());
    for package in rebuild {
        command.args(["--reinstall-package", package]);
    }
    with_settings(&mut command, settings).env("UV_PROJECT_ENVIRONMENT", env).current_dir(project);
    run_logged("installing uv.lock (uv sync)", &mut command, log)
}
