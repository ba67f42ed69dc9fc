//! Pipenv projects: Pipfile with Pipfile.lock. Pipenv itself, pinned ([`crate::tools::PIPENV`]),
//! runs from a tool environment of its own: it checks that the lock is up to date with the
//! Pipfile (`pipenv verify`) and writes the lock's default packages as pinned requirements with
//! their hashes (`pipenv requirements --hash`). Those the build's installer installs exactly, in
//! hash-checking mode, like a requirements.txt.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::IoContext;
use crate::installer::with_settings;
use crate::log::BuildLog;
use crate::process::{capture, run_logged};
use crate::settings::Settings;
use crate::Result;

/// The lock's default packages as a requirements file in `temp`, once the lock is found up to date.
pub fn locked_requirements(
    pipenv: &Path,
    project: &Path,
    temp: &Path,
    settings: &Settings,
    log: &BuildLog,
) -> Result<PathBuf> {
    log.info("Checking that Pipfile.lock is up to date with the Pipfile (pipenv verify).");
    let workon = temp.join("pipenv-virtualenvs");
    let mut verify = Command::new(pipenv);
    verify.arg("verify");
    run_logged("checking Pipfile.lock (pipenv verify)", pipenv_env(&mut verify, settings, project, &workon), log)?;
    let mut export = Command::new(pipenv);
    export.args(["requirements", "--hash"]);
    let pins = capture("`pipenv requirements --hash`", pipenv_env(&mut export, settings, project, &workon))?;
    let path = temp.join("Pipfile.lock.txt");
    std::fs::write(&path, pins).at("write", &path)?;
    Ok(path)
}

/// Pipenv's environment: the app's settings, quiet, and its own virtualenvs (which these
/// commands do not need) kept in the build's temporary folder.
fn pipenv_env<'a>(command: &'a mut Command, settings: &Settings, project: &Path, workon: &Path) -> &'a mut Command {
    with_settings(command, settings)
        .env("PIPENV_VERBOSITY", "-1")
        .env("PIPENV_NOSPIN", "1")
        .env("PIPENV_YES", "1")
        .env("WORKON_HOME", workon)
        .current_dir(project)
}
