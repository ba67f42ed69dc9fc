//! Poetry projects: pyproject.toml with poetry.lock. Poetry itself, pinned ([`crate::tools::POETRY`]),
//! runs from a tool environment of its own. The lock is checked against pyproject.toml before
//! anything changes (`poetry check --lock`), then its main group is installed exactly into env
//! (`poetry sync --only main`: what the lock does not name is removed). The project itself is not
//! installed (`--no-root`): the app runs from its folder.

use std::path::Path;
use std::process::Command;

use crate::installer::with_settings;
use crate::log::BuildLog;
use crate::process::run_logged;
use crate::settings::Settings;
use crate::Result;

/// Fails, with Poetry's reason, when poetry.lock is out of date with pyproject.toml.
pub fn check_lock(poetry: &Path, project: &Path, settings: &Settings, log: &BuildLog) -> Result<()> {
    log.info("Checking that poetry.lock is up to date with pyproject.toml (poetry check --lock).");
    let mut command = Command::new(poetry);
    command.args(["check", "--lock", "--no-interaction", "--no-ansi"]);
    run_logged("checking poetry.lock (poetry check --lock)", poetry_env(&mut command, settings, project), log)
}

/// Installs poetry.lock's main group into `env` exactly.
pub fn sync(poetry: &Path, project: &Path, env: &Path, settings: &Settings, log: &BuildLog) -> Result<()> {
    log.info("Installing poetry.lock's main group into env (poetry sync --only main --no-root).");
    let mut command = Command::new(poetry);
    command.args(["sync", "--only", "main", "--no-root", "--no-interaction", "--no-ansi"]);
    // Poetry installs into the virtual environment it finds active: env.
    crate::env::activate(poetry_env(&mut command, settings, project), env);
    run_logged("installing poetry.lock (poetry sync)", &mut command, log)
}

/// The environment every Poetry command gets: the app's settings (private sources' credentials
/// among them, `POETRY_HTTP_BASIC_<SOURCE>_USERNAME`/`_PASSWORD`), no virtualenv of Poetry's own
/// making, and no keyring (a build has no desktop session to ask).
fn poetry_env<'a>(command: &'a mut Command, settings: &Settings, project: &Path) -> &'a mut Command {
    with_settings(command, settings)
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .env("POETRY_NO_INTERACTION", "1")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .current_dir(project)
}

/// Poetry's `python` constraint in PEP 440 terms: `^3.11` → `>=3.11,<4`, `~3.11` → `>=3.11,<3.12`;
/// anything else is taken as written.
pub fn to_pep440(constraint: &str) -> String {
    constraint
        .split(',')
        .map(str::trim)
        .map(|part| {
            if let Some(version) = part.strip_prefix('^') {
                let major = version.split('.').next().and_then(|m| m.parse::<u32>().ok());
                return match major {
                    Some(major) => format!(">={version},<{}", major + 1),
                    None => part.to_string(),
                };
            }
            if let Some(version) = part.strip_prefix('~').filter(|v| !v.starts_with('=')) {
                let numbers: Vec<&str> = version.split('.').collect();
                let minor = numbers.get(1).and_then(|m| m.parse::<u32>().ok());
                return match (numbers.first(), minor) {
                    (Some(major), Some(minor)) => format!(">={version},<{major}.{}", minor + 1),
                    _ => part.to_string(),
                };
            }
            part.to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poetry_constraints_become_pep_440() {
        assert_eq!(to_pep440("^3.11"), ">=3.11,<4");
        assert_eq!(to_pep440("~3.11"), ">=3.11,<3.12");
        assert_eq!(to_pep440("~3.11.2"), ">=3.11.2,<3.12");
        assert_eq!(to_pep440(">=3.10, <3.14"), ">=3.10,<3.14");
        assert_eq!(to_pep440("~=3.11"), "~=3.11");
    }
}
