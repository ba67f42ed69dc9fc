//! The env lifecycle: `site/wwwroot/env`, the app's virtual environment.
//!
//! env carries a marker, `env/slipway-env.json`, written only once env is complete. Whether env can be
//! reused is decided in one place, [`reasons_not_to_reuse`], which returns *every* reason it cannot
//! be, so the log can print them all (as Heroku's Python buildpack does). An env without a readable
//! marker — half-built by a crashed build, committed, or made by hand — is never reused.
//!
//! When env is recreated, the old one is first parked beside the build's state rather than deleted,
//! so that a build failing later can put it back: a failed deployment leaves env intact.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::IoContext;
use crate::installer::{Installer, InstallerKind};
use crate::log::BuildLog;
use crate::runtime::{PythonVersion, Runtime};
use crate::version::VersionSpec;
use crate::{BuildError, Result};

pub const ENV_DIR: &str = "env";
pub const MARKER_FILE: &str = "slipway-env.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvMarker {
    pub implementation: String,
    pub python_version: PythonVersion,
    pub base_interpreter: PathBuf,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The fingerprint of the last successful install ([`crate::requirements::fingerprint`]);
    /// `None` until one succeeds, so an interrupted install is always run again.
    pub requirements_sha256: Option<String>,
    pub installer: InstallerKind,
    /// The packages (normalized names) that requirements.txt brought at the last successful install:
    /// what to uninstall when a later requirements.txt no longer needs them.
    #[serde(default)]
    pub packages: Vec<String>,
}

impl EnvMarker {
    pub fn new(runtime: &Runtime, installer: &Installer) -> Self {
        EnvMarker {
            implementation: runtime.implementation.clone(),
            python_version: runtime.version.clone(),
            base_interpreter: runtime.path.clone(),
            created_at: now_rfc3339(),
            requirements_sha256: None,
            installer: installer.kind(),
            packages: Vec::new(),
        }
    }

    /// Writes the marker atomically: a reader sees the old marker or the new one, never half.
    pub fn write(&self, env: &Path) -> Result<()> {
        let path = env.join(MARKER_FILE);
        let mut tmp = tempfile::NamedTempFile::new_in(env).at("create temporary file in", env)?;
        serde_json::to_writer_pretty(&mut tmp, self).map_err(|e| BuildError::io("write", &path, e.into()))?;
        tmp.persist(&path).map_err(|e| BuildError::io("write", &path, e.error))?;
        Ok(())
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC timestamps always format")
}

/// What is at `env` before the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingEnv {
    Missing,
    /// env exists but has no marker, or not one slipway can read.
    Unmarked {
        problem: String,
    },
    Marked(EnvMarker),
}

impl ExistingEnv {
    pub fn read(env: &Path) -> Self {
        if std::fs::symlink_metadata(env).is_err() {
            return ExistingEnv::Missing;
        }
        let marker_path = env.join(MARKER_FILE);
        match std::fs::read(&marker_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ExistingEnv::Unmarked {
                problem: format!("env has no marker ({MARKER_FILE}): it is half-built, committed or made by hand"),
            },
            Err(e) => ExistingEnv::Unmarked { problem: format!("env's marker {MARKER_FILE} cannot be read: {e}") },
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(marker) => ExistingEnv::Marked(marker),
                Err(e) => ExistingEnv::Unmarked { problem: format!("env's marker {MARKER_FILE} is not valid: {e}") },
            },
        }
    }
}

/// What the deployment needs env to be.
#[derive(Debug, Clone)]
pub struct WantedEnv<'a> {
    pub runtime: &'a Runtime,
    /// The version as requested; an exact request (`3.12.1`) must match env exactly.
    pub spec: Option<VersionSpec>,
    pub installer: InstallerKind,
}

/// Why an existing env cannot be reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    CleanBuildRequested,
    Unmarked(String),
    PythonVersionChanged {
        env: PythonVersion,
        wanted: PythonVersion,
    },
    ImplementationChanged {
        env: String,
        wanted: String,
    },
    BaseInterpreterGone(PathBuf),
    InstallerChanged {
        env: InstallerKind,
        wanted: InstallerKind,
    },
    /// env's own `bin/python` is missing or does not run (a half-finished `rm -r env`).
    InterpreterBroken(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::CleanBuildRequested => write!(f, "A clean build was requested."),
            Reason::Unmarked(problem) => write!(f, "{problem}."),
            Reason::PythonVersionChanged { env, wanted } => {
                write!(f, "Virtual environment is for Python {env}, deployment needs Python {wanted}: deleting it.")
            }
            Reason::ImplementationChanged { env, wanted } => {
                write!(f, "Virtual environment is for {env}, deployment needs {wanted}.")
            }
            Reason::BaseInterpreterGone(path) => {
                write!(f, "The interpreter env was made from, {}, is gone.", path.display())
            }
            Reason::InstallerChanged { env, wanted } => {
                write!(f, "Virtual environment was made for installer {env}, deployment uses {wanted}.")
            }
            Reason::InterpreterBroken(problem) => write!(f, "{problem}."),
        }
    }
}

/// Every reason the existing env cannot serve the wanted one; empty means reuse.
///
/// `base_exists` is asked about the interpreter the marker names, and `interpreter_problem` whether
/// env's own interpreter runs (parameters, so tests need no real interpreter).
pub fn reasons_not_to_reuse(
    existing: &ExistingEnv,
    wanted: &WantedEnv,
    clean_requested: bool,
    base_exists: impl Fn(&Path) -> bool,
    interpreter_problem: impl Fn() -> Option<String>,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if clean_requested {
        reasons.push(Reason::CleanBuildRequested);
    }
    match existing {
        ExistingEnv::Missing => {}
        ExistingEnv::Unmarked { problem } => reasons.push(Reason::Unmarked(problem.clone())),
        ExistingEnv::Marked(marker) => {
            let have = &marker.python_version;
            let want = &wanted.runtime.version;
            let exact_mismatch = wanted.spec.is_some_and(|s| s.patch.is_some()) && have != want;
            if have.major_minor() != want.major_minor() || exact_mismatch {
                reasons.push(Reason::PythonVersionChanged { env: have.clone(), wanted: want.clone() });
            }
            if marker.implementation != wanted.runtime.implementation {
                reasons.push(Reason::ImplementationChanged {
                    env: marker.implementation.clone(),
                    wanted: wanted.runtime.implementation.clone(),
                });
            }
            if !base_exists(&marker.base_interpreter) {
                reasons.push(Reason::BaseInterpreterGone(marker.base_interpreter.clone()));
            }
            if marker.installer != wanted.installer {
                reasons.push(Reason::InstallerChanged { env: marker.installer, wanted: wanted.installer });
            }
            if let Some(problem) = interpreter_problem() {
                reasons.push(Reason::InterpreterBroken(problem));
            }
        }
    }
    reasons
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvPlan {
    Create,
    Reuse(EnvMarker),
    Recreate(Vec<Reason>),
}

/// Decides what to do with the env at `env`, from what is there and what the deployment needs.
pub fn plan(env: &Path, wanted: &WantedEnv, clean_requested: bool) -> EnvPlan {
    let existing = ExistingEnv::read(env);
    let reasons = reasons_not_to_reuse(&existing, wanted, clean_requested, |p| p.exists(), || interpreter_problem(env));
    decide(existing, reasons)
}

/// Why env's own interpreter cannot be used, if it cannot: missing, or it does not run.
pub fn interpreter_problem(env: &Path) -> Option<String> {
    let python = python_in(env);
    if std::fs::metadata(&python).is_err() {
        return Some(format!("env's interpreter {ENV_DIR}/bin/python is missing (env is incomplete)"));
    }
    match std::process::Command::new(&python).args(["-I", "-c", "pass"]).stdin(std::process::Stdio::null()).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stderr);
            let first = said.lines().next().unwrap_or("").trim().to_string();
            Some(format!("env's interpreter {ENV_DIR}/bin/python does not run ({}): {first}", out.status))
        }
        Err(e) => Some(format!("env's interpreter {ENV_DIR}/bin/python does not run: {e}")),
    }
}

/// The plan, given what is there and every reason it cannot be reused.
fn decide(existing: ExistingEnv, reasons: Vec<Reason>) -> EnvPlan {
    match existing {
        ExistingEnv::Missing => EnvPlan::Create,
        ExistingEnv::Marked(marker) if reasons.is_empty() => EnvPlan::Reuse(marker),
        _ => EnvPlan::Recreate(reasons),
    }
}

/// An old env moved out of the way while its replacement is built.
#[derive(Debug)]
pub struct ParkedEnv {
    env: PathBuf,
    parked: PathBuf,
}

impl ParkedEnv {
    /// Puts the old env back (after a failed build), discarding whatever was built in its place.
    pub fn restore(self, log: &BuildLog) -> Result<()> {
        remove_path(&self.env)?;
        std::fs::rename(&self.parked, &self.env).at("restore previous env from", &self.parked)?;
        log.info("Restored the previous virtual environment.");
        Ok(())
    }

    /// Deletes the old env for good (after a successful build).
    pub fn discard(self) -> Result<()> {
        remove_path(&self.parked)
    }
}

/// The env a build works with, once `apply` has done what the plan says.
#[derive(Debug)]
pub struct PreparedEnv {
    pub dir: PathBuf,
    pub marker: EnvMarker,
    pub reused: bool,
    pub parked: Option<ParkedEnv>,
}

impl PreparedEnv {
    pub fn python(&self) -> PathBuf {
        python_in(&self.dir)
    }
}

/// The packages installed in `env` (normalized names, sorted), read from its dist-info folders —
/// but the installers' own (pip, setuptools, wheel), which env keeps whatever the app needs.
pub fn installed_packages(env: &Path) -> Vec<String> {
    const INSTALLERS_OWN: &[&str] = &["pip", "setuptools", "wheel"];
    let mut names = Vec::new();
    for python_dir in std::fs::read_dir(env.join("lib")).into_iter().flatten().flatten() {
        let site = python_dir.path().join("site-packages");
        for entry in std::fs::read_dir(&site).into_iter().flatten().flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file_name.strip_suffix(".dist-info") else { continue };
            // `name-version`: the name has no `-` once normalized to `_` by the wheel spec.
            let name = crate::requirements::normalize_name(stem.split('-').next().unwrap_or(stem));
            if !INSTALLERS_OWN.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

pub fn python_in(env: &Path) -> PathBuf {
    env.join("bin").join("python")
}

/// What activating env does, for a command that runs in it: `VIRTUAL_ENV` set, env's `bin`
/// first on `PATH` (a `manage.py` that runs a tool of env finds it), no `PYTHONHOME`.
pub fn activate(command: &mut std::process::Command, env: &Path) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![env.join("bin")];
    dirs.extend(std::env::split_paths(&path));
    command.env("VIRTUAL_ENV", env).env("PATH", std::env::join_paths(dirs).unwrap_or(path)).env_remove("PYTHONHOME");
}

/// Carries out the plan: logs the decision, deletes (parks) an incompatible env, creates a new one.
/// `park_dir` must be on the same file system as env.
pub fn apply(
    plan: EnvPlan,
    env: &Path,
    park_dir: &Path,
    runtime: &Runtime,
    installer: &Installer,
    log: &BuildLog,
) -> Result<PreparedEnv> {
    let recreate = matches!(plan, EnvPlan::Recreate(_));
    if let Some(marker) = announce(plan, env, log) {
        return Ok(PreparedEnv { dir: env.to_path_buf(), marker, reused: true, parked: None });
    }
    let parked = if recreate { Some(park(env, park_dir)?) } else { None };
    let created = create(env, runtime, installer, log);
    match (created, parked) {
        (Ok(marker), parked) => Ok(PreparedEnv { dir: env.to_path_buf(), marker, reused: false, parked }),
        (Err(e), Some(parked)) => {
            parked.restore(log)?;
            Err(e)
        }
        (Err(e), None) => {
            remove_path(env)?;
            Err(e)
        }
    }
}

/// Logs what the plan decided (with every reason an env is not reused); returns the marker of an
/// env that is reused as it is.
pub fn announce(plan: EnvPlan, env: &Path, log: &BuildLog) -> Option<EnvMarker> {
    match plan {
        EnvPlan::Reuse(marker) => {
            log_reuse(&marker, log);
            Some(marker)
        }
        EnvPlan::Create => {
            log.info(format!("No virtual environment at {}: creating one.", env.display()));
            None
        }
        EnvPlan::Recreate(reasons) => {
            log.info("Deleting incompatible virtual environment.");
            for reason in &reasons {
                log.info(format!("  - {reason}"));
            }
            None
        }
    }
}

/// Kudu's words for a reused env, so that people who grep their logs find them.
pub fn log_reuse(marker: &EnvMarker, log: &BuildLog) {
    log.info("Found compatible virtual environment.");
    log.info(format!("Found compatible virtual environment (Python {}), skipping creation.", marker.python_version));
}

/// Creates a fresh env and writes its marker (without an install fingerprint yet).
pub fn create(env: &Path, runtime: &Runtime, installer: &Installer, log: &BuildLog) -> Result<EnvMarker> {
    log.info(format!("Creating virtual environment with {} using {}.", runtime, installer.kind()));
    installer.create_venv(runtime, env, log)?;
    let marker = EnvMarker::new(runtime, installer);
    marker.write(env)?;
    Ok(marker)
}

fn park(env: &Path, park_dir: &Path) -> Result<ParkedEnv> {
    std::fs::create_dir_all(park_dir).at("create directory", park_dir)?;
    let parked = park_dir.join("env-previous");
    // Left over by a build that crashed: it is garbage now.
    remove_path(&parked)?;
    match std::fs::rename(env, &parked) {
        Ok(()) => Ok(ParkedEnv { env: env.to_path_buf(), parked }),
        Err(e) => Err(BuildError::io("move aside old env", env, e)),
    }
}

/// Removes a file, symlink or directory tree; a missing path is fine.
pub fn remove_path(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if meta.is_dir() {
        std::fs::remove_dir_all(path).at("delete", path)
    } else {
        std::fs::remove_file(path).at("delete", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(version: &str) -> Runtime {
        Runtime {
            implementation: "CPython".into(),
            version: PythonVersion::parse(version).unwrap(),
            path: PathBuf::from(format!("/py/{version}/bin/python")),
        }
    }

    fn marker(version: &str, installer: InstallerKind) -> EnvMarker {
        let rt = runtime(version);
        EnvMarker {
            implementation: rt.implementation,
            python_version: rt.version,
            base_interpreter: rt.path,
            created_at: "2026-01-01T00:00:00Z".into(),
            requirements_sha256: None,
            installer,
            packages: vec![],
        }
    }

    fn reasons(
        existing: ExistingEnv,
        version: &str,
        spec: Option<&str>,
        clean: bool,
        base_exists: bool,
    ) -> Vec<Reason> {
        let rt = runtime(version);
        let wanted = WantedEnv { runtime: &rt, spec: spec.and_then(VersionSpec::parse), installer: InstallerKind::Uv };
        reasons_not_to_reuse(&existing, &wanted, clean, |_| base_exists, || None)
    }

    #[test]
    fn compatible_env_has_no_reasons() {
        assert!(reasons(ExistingEnv::Marked(marker("3.12.1", InstallerKind::Uv)), "3.12.1", Some("3.12"), false, true)
            .is_empty());
    }

    #[test]
    fn a_newer_patch_release_is_compatible_unless_an_exact_version_is_asked() {
        let env = ExistingEnv::Marked(marker("3.12.1", InstallerKind::Uv));
        assert!(reasons(env.clone(), "3.12.3", Some("3.12"), false, true).is_empty());
        assert!(matches!(
            reasons(env, "3.12.3", Some("3.12.3"), false, true)[..],
            [Reason::PythonVersionChanged { .. }]
        ));
    }

    #[test]
    fn version_change_uses_the_documented_wording() {
        let r = reasons(ExistingEnv::Marked(marker("3.11.7", InstallerKind::Uv)), "3.12.1", None, false, true);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].to_string(),
            "Virtual environment is for Python 3.11.7, deployment needs Python 3.12.1: deleting it."
        );
    }

    #[test]
    fn base_interpreter_gone() {
        let r = reasons(ExistingEnv::Marked(marker("3.12.1", InstallerKind::Uv)), "3.12.1", None, false, false);
        assert_eq!(r, vec![Reason::BaseInterpreterGone(PathBuf::from("/py/3.12.1/bin/python"))]);
    }

    #[test]
    fn installer_changed() {
        let r = reasons(ExistingEnv::Marked(marker("3.12.1", InstallerKind::Pip)), "3.12.1", None, false, true);
        assert_eq!(r, vec![Reason::InstallerChanged { env: InstallerKind::Pip, wanted: InstallerKind::Uv }]);
    }

    #[test]
    fn implementation_changed() {
        let mut m = marker("3.12.1", InstallerKind::Uv);
        m.implementation = "PyPy".into();
        let r = reasons(ExistingEnv::Marked(m), "3.12.1", None, false, true);
        assert_eq!(r, vec![Reason::ImplementationChanged { env: "PyPy".into(), wanted: "CPython".into() }]);
    }

    #[test]
    fn marker_missing_or_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        assert_eq!(ExistingEnv::read(&env), ExistingEnv::Missing);
        std::fs::create_dir(&env).unwrap();
        let missing = ExistingEnv::read(&env);
        assert!(matches!(&missing, ExistingEnv::Unmarked { problem } if problem.contains("has no marker")));
        std::fs::write(env.join(MARKER_FILE), "{ half").unwrap();
        let unreadable = ExistingEnv::read(&env);
        assert!(matches!(&unreadable, ExistingEnv::Unmarked { problem } if problem.contains("is not valid")));
        assert!(matches!(reasons(unreadable, "3.12.1", None, false, true)[..], [Reason::Unmarked(_)]));
    }

    #[test]
    fn clean_build_requested() {
        let r = reasons(ExistingEnv::Marked(marker("3.12.1", InstallerKind::Uv)), "3.12.1", None, true, true);
        assert_eq!(r, vec![Reason::CleanBuildRequested]);
    }

    #[test]
    fn every_reason_is_reported_at_once() {
        let r = reasons(ExistingEnv::Marked(marker("3.11.7", InstallerKind::Pip)), "3.12.1", None, true, false);
        assert_eq!(r.len(), 4, "{r:?}");
    }

    #[test]
    fn plan_creates_missing_reuses_compatible_recreates_otherwise() {
        assert_eq!(decide(ExistingEnv::Missing, vec![]), EnvPlan::Create);
        // A clean build of a missing env is simply a creation.
        assert_eq!(decide(ExistingEnv::Missing, vec![Reason::CleanBuildRequested]), EnvPlan::Create);
        let unmarked = ExistingEnv::Unmarked { problem: "x".into() };
        assert!(matches!(decide(unmarked, vec![Reason::Unmarked("x".into())]), EnvPlan::Recreate(_)));
        let m = marker("3.12.1", InstallerKind::Uv);
        assert_eq!(decide(ExistingEnv::Marked(m.clone()), vec![]), EnvPlan::Reuse(m));
    }

    #[test]
    fn a_broken_interpreter_is_a_reason() {
        let rt = runtime("3.12.1");
        let wanted = WantedEnv { runtime: &rt, spec: None, installer: InstallerKind::Uv };
        let existing = ExistingEnv::Marked(marker("3.12.1", InstallerKind::Uv));
        let broken = || Some("env's interpreter env/bin/python is missing (env is incomplete)".to_string());
        let r = reasons_not_to_reuse(&existing, &wanted, false, |_| true, broken);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].to_string(), "env's interpreter env/bin/python is missing (env is incomplete).");
        let dir = tempfile::tempdir().unwrap();
        assert!(interpreter_problem(dir.path()).unwrap().contains("is missing"));
    }

    #[test]
    fn marker_round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let m = marker("3.13.0", InstallerKind::Uv);
        m.write(dir.path()).unwrap();
        assert_eq!(ExistingEnv::read(dir.path()), ExistingEnv::Marked(m));
    }
}
