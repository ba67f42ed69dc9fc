//! Django's `collectstatic`, run after install when the app is a Django project (Kudu and Oryx
//! both do this), unless the setting `DISABLE_COLLECTSTATIC` is true.

use std::path::Path;
use std::process::Command;

use crate::log::BuildLog;
use crate::process::run_logged;
use crate::settings::{Settings, DISABLE_COLLECTSTATIC};
use crate::Result;

/// Why collectstatic does not apply to this deployment, if it does not.
pub fn skip_reason(target: &Path, env: &Path, settings: &Settings) -> Result<Option<&'static str>> {
    if !target.join("manage.py").is_file() {
        return Ok(Some("no manage.py"));
    }
    if settings.flag(DISABLE_COLLECTSTATIC)?.unwrap_or(false) {
        return Ok(Some("DISABLE_COLLECTSTATIC is true"));
    }
    if !has_django(env) {
        return Ok(Some("Django is not installed in env"));
    }
    Ok(None)
}

pub fn collectstatic(target: &Path, env: &Path, settings: &Settings, log: &BuildLog) -> Result<()> {
    log.info("Running manage.py collectstatic --noinput (set DISABLE_COLLECTSTATIC=true to skip).");
    let mut command = Command::new(crate::env::python_in(env));
    command.args(["manage.py", "collectstatic", "--noinput"]).current_dir(target).envs(settings.iter());
    crate::env::activate(&mut command, env);
    run_logged("manage.py collectstatic (set DISABLE_COLLECTSTATIC=true to skip it)", &mut command, log)
}

/// Django's package directory in env's site-packages; no interpreter start needed.
fn has_django(env: &Path) -> bool {
    std::fs::read_dir(env.join("lib"))
        .map(|dirs| dirs.flatten().any(|d| d.path().join("site-packages/django/__init__.py").is_file()))
        .unwrap_or(false)
}
