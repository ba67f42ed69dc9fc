//! The package installer: uv by default, pip as the fallback and by setting (`PYTHON_INSTALLER`).
//!
//! Both are driven the same way, in two phases, so that a requirement that cannot be satisfied
//! fails before env changes:
//! 1. [`Installer::lock`] resolves requirements.txt for the deployment's interpreter into exact
//!    pins (`uv pip compile`, or `pip install --dry-run --report`) — env is not touched.
//! 2. [`Installer::install`] installs the pins into env (already-installed ones are skipped) and
//!    [`Installer::uninstall`] removes what an earlier requirements.txt brought and this one does not.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::IoContext;
use crate::log::BuildLog;
use crate::process::{capture, run_logged};
use crate::project::Dependencies;
use crate::requirements::normalize_name;
use crate::runtime::Runtime;
use crate::settings::{PackageSources, Settings, PYTHON_INSTALLER};
use crate::{BuildError, Result};

/// Which installer made or fills an env, as its marker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallerKind {
    Uv,
    Pip,
}

impl std::fmt::Display for InstallerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InstallerKind::Uv => "uv",
            InstallerKind::Pip => "pip",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installer {
    Uv { exe: PathBuf, version: String },
    Pip,
}

/// Exact pins for one interpreter, written where the installer can read them.
#[derive(Debug, Clone)]
pub struct Lock {
    pub path: PathBuf,
    /// The user's own requirements, to install from instead of the pins when they carry
    /// `--hash`es: the pins would drop them, and with them hash checking.
    pub hashed: Option<PathBuf>,
    /// Normalized names of every package the requirements need, dependencies included.
    pub packages: Vec<String>,
    /// The requirements install folders of the repository (`.`, `-e .`): both installers take an
    /// installed folder package as up to date whatever its code, so everything is reinstalled
    /// (from the cache: quick).
    pub local_code: bool,
}

/// What [`Installer::lock`] resolves: a requirements file, or a pyproject.toml (uv only), read
/// from `workdir` — the original file's folder, so that relative paths in it work.
#[derive(Debug, Clone, Copy)]
pub struct ToResolve<'a> {
    pub file: &'a Path,
    pub workdir: &'a Path,
}

impl Lock {
    /// Pins someone else resolved (`pipenv requirements --hash`), installed as they are — in
    /// hash-checking mode when every one of them carries its hashes.
    pub fn from_pins(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at("read", path)?;
        let mut requirements = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(['#', '-']));
        let all_hashed = requirements.clone().next().is_some() && requirements.all(|l| l.contains("--hash"));
        Ok(Lock {
            packages: names_in_lock(&text),
            path: path.to_path_buf(),
            hashed: all_hashed.then(|| path.to_path_buf()),
            local_code: false,
        })
    }
}

impl Installer {
    /// Picks the installer: the `PYTHON_INSTALLER` setting, else uv when it can be found (`uv_hint`,
    /// then `uv` on PATH), else pip.
    pub fn choose(settings: &Settings, uv_hint: Option<&Path>) -> Result<Self> {
        let wanted = settings.get(PYTHON_INSTALLER).map(|v| v.trim().to_ascii_lowercase());
        match wanted.as_deref() {
            Some("pip") => Ok(Installer::Pip),
            Some("uv") => find_uv(uv_hint)?.ok_or_else(|| BuildError::InvalidSetting {
                key: PYTHON_INSTALLER.into(),
                message: "`uv` was asked for but no uv executable was found (set SLIPWAY_UV or put uv on PATH)".into(),
            }),
            None => Ok(find_uv(uv_hint)?.unwrap_or(Installer::Pip)),
            Some(other) => Err(BuildError::InvalidSetting {
                key: PYTHON_INSTALLER.into(),
                message: format!("`{other}` is not an installer; expected `uv` or `pip`"),
            }),
        }
    }

    /// The installer for `dependencies`: uv when only uv can install them (uv.lock, an unlocked
    /// pyproject.toml), else as [`Installer::choose`] says.
    pub fn for_dependencies(settings: &Settings, dependencies: Dependencies, uv_hint: Option<&Path>) -> Result<Self> {
        if !dependencies.needs_uv() {
            return Self::choose(settings, uv_hint);
        }
        let file = dependencies.file();
        if settings.get(PYTHON_INSTALLER).is_some_and(|v| v.trim().eq_ignore_ascii_case("pip")) {
            return Err(BuildError::InvalidSetting {
                key: PYTHON_INSTALLER.into(),
                message: format!("`pip` cannot install {file}, which only uv installs; unset {PYTHON_INSTALLER}"),
            });
        }
        find_uv(uv_hint)?.ok_or_else(|| {
            BuildError::Installer(format!(
                "{file} is installed with uv, but no uv executable was found (set SLIPWAY_UV or put uv on PATH)"
            ))
        })
    }

    /// uv's executable, when uv is the installer.
    pub fn uv(&self) -> Option<&Path> {
        match self {
            Installer::Uv { exe, .. } => Some(exe),
            Installer::Pip => None,
        }
    }

    pub fn kind(&self) -> InstallerKind {
        match self {
            Installer::Uv { .. } => InstallerKind::Uv,
            Installer::Pip => InstallerKind::Pip,
        }
    }

    /// For the log: `uv 0.13.9`, or `pip` (whose version is env's own).
    pub fn describe(&self) -> String {
        match self {
            Installer::Uv { version, .. } => format!("uv {version}"),
            Installer::Pip => "pip (the version in env)".to_string(),
        }
    }

    /// The command that resolves requirements without installing them.
    pub fn resolver(&self) -> &'static str {
        match self {
            Installer::Uv { .. } => "uv pip compile",
            Installer::Pip => "pip install --dry-run",
        }
    }

    /// The installer and its version, e.g. `uv 0.13.9` or `pip 24.2` (pip's as installed in env).
    pub fn identity(&self, env: &Path) -> String {
        match self {
            Installer::Uv { version, .. } => format!("uv {version}"),
            Installer::Pip => format!("pip {}", pip_version_in(env).unwrap_or_else(|| "unknown".into())),
        }
    }

    pub fn create_venv(&self, base: &Runtime, env: &Path, log: &BuildLog) -> Result<()> {
        let mut command = match self {
            Installer::Uv { exe, .. } => {
                let mut c = Command::new(exe);
                c.args(["venv", "--no-project", "--no-config", "--quiet", "--python"]).arg(&base.path).arg(env);
                c
            }
            Installer::Pip => {
                let mut c = Command::new(&base.path);
                c.args(["-m", "venv"]).arg(env);
                c
            }
        };
        run_logged("creating the virtual environment", clean_env(&mut command), log)
    }

    /// Resolves `input` for `base`.
    pub fn lock(
        &self,
        base: &Runtime,
        input: ToResolve,
        sources: &PackageSources,
        settings: &Settings,
        temp: &Path,
        log: &BuildLog,
    ) -> Result<Lock> {
        let ToResolve { file: requirements, workdir } = input;
        let lock_path = temp.join("requirements.lock");
        let shown = requirements.file_name().unwrap_or_default().to_string_lossy().into_owned();
        match self {
            Installer::Uv { exe, .. } => {
                let mut c = Command::new(exe);
                c.args(["pip", "compile", "--no-config", "--no-header", "--no-annotate", "--quiet", "--python"])
                    .arg(&base.path)
                    .arg(requirements)
                    .arg("--output-file")
                    .arg(&lock_path)
                    .args(sources.as_args());
                run_logged(
                    &format!("resolving {shown} ({})", self.resolver()),
                    with_settings(&mut c, settings).current_dir(workdir),
                    log,
                )?;
                let text = std::fs::read_to_string(&lock_path).at("read", &lock_path)?;
                Ok(Lock { packages: names_in_lock(&text), path: lock_path, hashed: None, local_code: false })
            }
            Installer::Pip => {
                let report = temp.join("pip-report.json");
                let mut c = Command::new(&base.path);
                c.args(["-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"])
                    .args(PIP_QUIET_ARGS)
                    .arg("--report")
                    .arg(&report)
                    .arg("-r")
                    .arg(requirements);
                run_logged(
                    &format!("resolving {shown} ({})", self.resolver()),
                    with_settings(&mut c, settings).current_dir(workdir),
                    log,
                )?;
                let bytes = std::fs::read(&report).at("read", &report)?;
                let report: PipReport = serde_json::from_slice(&bytes).map_err(|e| {
                    BuildError::Installer(format!("pip's resolution report is not what slipway expects: {e}"))
                })?;
                let lock = report.to_requirements();
                std::fs::write(&lock_path, &lock).at("write", &lock_path)?;
                Ok(Lock { packages: names_in_lock(&lock), path: lock_path, hashed: None, local_code: false })
            }
        }
    }

    /// Installs the pins into env. Runs in `workdir` — wwwroot, where requirements.txt was synced —
    /// so that local paths in requirements.txt (`./libs/mylib`) resolve to the deployed copy.
    /// uv is given the package sources as flags; pip reads the same `PIP_*` settings from its
    /// environment.
    pub fn install(
        &self,
        env: &Path,
        lock: &Lock,
        workdir: &Path,
        sources: &PackageSources,
        settings: &Settings,
        log: &BuildLog,
    ) -> Result<()> {
        let python = crate::env::python_in(env);
        let requirements = lock.hashed.as_ref().unwrap_or(&lock.path);
        let mut command = match self {
            Installer::Uv { exe, .. } => {
                let mut c = Command::new(exe);
                c.args(["pip", "install", "--no-config", "--python"])
                    .arg(&python)
                    .arg("-r")
                    .arg(requirements)
                    .args(sources.as_args());
                c
            }
            Installer::Pip => {
                let mut c = Command::new(&python);
                c.args(["-m", "pip", "install"]).args(PIP_QUIET_ARGS).arg("-r").arg(requirements);
                c
            }
        };
        let reinstall = match self {
            Installer::Uv { .. } => "--reinstall",
            Installer::Pip => "--force-reinstall",
        };
        if lock.hashed.is_some() {
            // Installed packages are not checked again by either installer: reinstalled, they are.
            command.arg("--require-hashes").arg(reinstall);
        } else if lock.local_code {
            command.arg(reinstall);
        }
        run_logged(
            &format!("installing requirements ({})", self.kind()),
            with_settings(&mut command, settings).current_dir(workdir),
            log,
        )
    }

    pub fn uninstall(&self, env: &Path, packages: &[String], log: &BuildLog) -> Result<()> {
        let python = crate::env::python_in(env);
        let mut command = match self {
            Installer::Uv { exe, .. } => {
                let mut c = Command::new(exe);
                c.args(["pip", "uninstall", "--no-config", "--python"]).arg(&python);
                c
            }
            Installer::Pip => {
                let mut c = Command::new(&python);
                c.args(["-m", "pip", "uninstall", "--yes"]).args(PIP_QUIET_ARGS);
                c
            }
        };
        command.args(packages);
        run_logged(&format!("uninstalling packages ({})", self.kind()), clean_env(&mut command), log)
    }
}

const PIP_QUIET_ARGS: &[&str] = &["--disable-pip-version-check", "--no-input", "--root-user-action=ignore"];

fn find_uv(hint: Option<&Path>) -> Result<Option<Installer>> {
    let exe = match hint {
        Some(path) => path.to_path_buf(),
        None => match which_on_path("uv") {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let out = capture("`uv --version`", Command::new(&exe).arg("--version"))?;
    // "uv 0.13.9 (abcdef 2026-01-01)"
    let version = out.split_whitespace().nth(1).unwrap_or("unknown").to_string();
    Ok(Some(Installer::Uv { exe, version }))
}

fn which_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The pip version installed in env, read from its dist-info directory (no interpreter start).
fn pip_version_in(env: &Path) -> Option<String> {
    let lib = std::fs::read_dir(env.join("lib")).ok()?;
    for python_dir in lib.flatten() {
        let Ok(entries) = std::fs::read_dir(python_dir.path().join("site-packages")) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(version) = name.strip_prefix("pip-").and_then(|v| v.strip_suffix(".dist-info")) {
                return Some(version.to_string());
            }
        }
    }
    None
}

/// Variables of slipway's own environment that would point the installer at another environment;
/// and uv never downloads a Python of its own: the runtimes are the server's.
fn clean_env(command: &mut Command) -> &mut Command {
    command
        .env_remove("VIRTUAL_ENV")
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env_remove("CONDA_PREFIX")
        .env("UV_PYTHON_DOWNLOADS", "never")
}

/// A command for a build tool: the app's settings in its environment, slipway's own variables
/// that would mislead it removed.
pub(crate) fn with_settings<'a>(command: &'a mut Command, settings: &Settings) -> &'a mut Command {
    clean_env(command).envs(settings.iter())
}

/// Names from `name==version` / `name @ url` lines.
fn names_in_lock(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-'))
        .filter_map(|l| l.split(['=', '@', ' ', ';', '[', '<', '>', '~', '!']).next())
        .map(normalize_name)
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The parts of pip's installation report (`--report`) that make a lock.
#[derive(Debug, Deserialize)]
struct PipReport {
    install: Vec<PipReportItem>,
}

#[derive(Debug, Deserialize)]
struct PipReportItem {
    metadata: PipMetadata,
    #[serde(default)]
    is_direct: bool,
    download_info: PipDownloadInfo,
}

#[derive(Debug, Deserialize)]
struct PipMetadata {
    name: String,
    version: String,
}

#[derive(Debug, Deserialize)]
struct PipDownloadInfo {
    url: String,
    #[serde(default)]
    vcs_info: Option<PipVcsInfo>,
}

#[derive(Debug, Deserialize)]
struct PipVcsInfo {
    vcs: String,
    commit_id: String,
}

impl PipReport {
    fn to_requirements(&self) -> String {
        let mut lines: Vec<String> = self
            .install
            .iter()
            .map(|item| {
                let name = &item.metadata.name;
                match (&item.download_info.vcs_info, item.is_direct) {
                    (Some(vcs), _) => format!("{name} @ {}+{}@{}", vcs.vcs, item.download_info.url, vcs.commit_id),
                    (None, true) => format!("{name} @ {}", item.download_info.url),
                    (None, false) => format!("{name}=={}", item.metadata.version),
                }
            })
            .collect();
        lines.sort();
        lines.join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_are_normalized_whatever_the_pin_form() {
        let text = "# comment\nFlask==3.1.3\ntyping_extensions==4.16.0\nmylib @ file:///src/mylib\n--index-url x\nfoo[bar]==1 ; python_version > '3'\n";
        assert_eq!(names_in_lock(text), ["flask", "foo", "mylib", "typing-extensions"]);
    }

    #[test]
    fn pins_with_hashes_on_every_line_are_installed_in_hash_checking_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pins.txt");
        std::fs::write(&path, "-i https://idx/simple\nflask==3.1.3 --hash=sha256:aa\nclick==8.5.1 --hash=sha256:bb\n")
            .unwrap();
        let lock = Lock::from_pins(&path).unwrap();
        assert_eq!(
            (lock.packages.as_slice(), lock.hashed.is_some()),
            (&["click".to_string(), "flask".into()][..], true)
        );
        std::fs::write(&path, "flask==3.1.3 --hash=sha256:aa\nmylib @ git+https://g/m.git@abc\n").unwrap();
        assert!(Lock::from_pins(&path).unwrap().hashed.is_none());
    }

    #[test]
    fn pip_report_becomes_pins() {
        let report: PipReport = serde_json::from_str(
            r#"{"install": [
                {"metadata": {"name": "flask", "version": "3.1.3"}, "is_direct": false, "download_info": {"url": "file:///w/flask.whl"}},
                {"metadata": {"name": "mylib", "version": "0.1"}, "is_direct": true, "download_info": {"url": "file:///src/mylib", "dir_info": {}}},
                {"metadata": {"name": "tool", "version": "1.0"}, "is_direct": true, "download_info": {"url": "https://g/t.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            report.to_requirements(),
            "flask==3.1.3\nmylib @ file:///src/mylib\ntool @ git+https://g/t.git@abc\n"
        );
    }

    #[test]
    fn installer_setting_is_validated() {
        let s: Settings = [(PYTHON_INSTALLER, "poetry")].into_iter().collect();
        assert_eq!(
            Installer::choose(&s, None).unwrap_err().to_string(),
            "setting PYTHON_INSTALLER: `poetry` is not an installer; expected `uv` or `pip`"
        );
        let s: Settings = [(PYTHON_INSTALLER, "PIP")].into_iter().collect();
        assert_eq!(Installer::choose(&s, None).unwrap(), Installer::Pip);
    }
}
