//! The default deployment, top to bottom. The steps are the seed's — sync, pick the Python
//! version, create or reuse env, install requirements.txt, collectstatic — in an order chosen so
//! that bad input fails before anything live changes: the runtime and the requirements are resolved
//! before wwwroot is synced and before env is touched. A build that fails after env was replaced
//! puts the old env back.
//!
//! The `*_step` functions are also what `slipway build <step>` runs, so a custom deployment script
//! made of those commands does what the default build does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::custom_script::{self, CustomScript, ScriptVariables};
use crate::env::{self, EnvMarker, EnvPlan, ExistingEnv, PreparedEnv, WantedEnv};
use crate::error::IoContext;
use crate::installer::{Installer, Lock};
use crate::log::BuildLog;
use crate::requirements::{RequirementFiles, REQUIREMENTS_TXT};
use crate::runtime::{Runtime, RuntimeCatalog};
use crate::settings::{PackageSources, Settings, SCM_DO_BUILD_DURING_DEPLOYMENT};
use crate::sync::{self, SyncOptions};
use crate::version::{self, Resolution, VersionSpec};
use crate::{release, BuildError, Result};

/// slipway's own directory at the root of wwwroot when no state directory is given: the manifest
/// of the last deployment and the env parked during a rebuild.
pub const STATE_DIR_NAME: &str = ".slipway";
pub const MANIFEST_FILE: &str = "manifest";
pub const SKIP_PYTHON_DEPLOYMENT: &str = ".skipPythonDeployment";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BuildRequest {
    /// The repository checkout.
    pub source: PathBuf,
    /// wwwroot, or the new release's directory (see `base`).
    pub target: PathBuf,
    /// The release this build starts from: `target` (which must not exist yet) begins as its copy
    /// made of hard links ([`crate::release`]), env included when it can be reused, and the
    /// base is never written to. `None`: the build works in `target` itself, as `slipway build`.
    pub base: Option<PathBuf>,
    /// Where the manifest lives and an old env is parked; default `<target>/.slipway`. Must be on
    /// the same file system as the target.
    pub state_dir: Option<PathBuf>,
    pub settings: Settings,
    pub clean_env: bool,
    pub catalog: RuntimeCatalog,
    pub default_python: Option<VersionSpec>,
    /// The uv executable, if not on PATH.
    pub uv: Option<PathBuf>,
    /// Directory of the `slipway` executable, for custom scripts that call `slipway build`.
    pub slipway_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct BuildOutcome {
    pub runtime: Option<Runtime>,
    /// env's marker after the build; `None` when the Python steps were skipped.
    pub env: Option<EnvMarker>,
    pub env_reused: bool,
    pub installer_ran: bool,
    pub custom_script: bool,
}

/// Runs the whole build and ends the log with the step timings, whatever happened.
pub fn build(request: &BuildRequest, log: &BuildLog) -> Result<BuildOutcome> {
    let result = run_steps(request, log);
    if let Err(e) = &result {
        log.info(format!("Deployment failed: {e}"));
    }
    log.write_summary();
    result
}

struct Paths {
    source: PathBuf,
    target: PathBuf,
    state: PathBuf,
    env: PathBuf,
    /// The release the build starts from, if it does not work in place.
    base: Option<PathBuf>,
}

impl Paths {
    /// The manifest of what this deployment brought, once it is synced.
    fn manifest(&self) -> PathBuf {
        self.state.join(MANIFEST_FILE)
    }
    /// The manifest of what the previous deployment brought: the base release's, or the target's.
    fn previous_manifest(&self) -> PathBuf {
        match &self.base {
            Some(base) => base.join(STATE_DIR_NAME).join(MANIFEST_FILE),
            None => self.manifest(),
        }
    }
    fn next_manifest(&self) -> PathBuf {
        self.state.join("manifest.next")
    }
    /// The env the build may reuse: the base release's, or the target's.
    fn existing_env(&self) -> PathBuf {
        self.base.as_ref().map(|b| b.join(env::ENV_DIR)).unwrap_or_else(|| self.env.clone())
    }
}

/// The build's steps without the closing table, for callers that add steps of their own (the
/// server starts the app) before they write it.
pub fn run_steps(request: &BuildRequest, log: &BuildLog) -> Result<BuildOutcome> {
    let (source, target) = sync::check_paths(&request.source, &request.target)?;
    let state = request.state_dir.clone().unwrap_or_else(|| target.join(STATE_DIR_NAME));
    let base = request.base.clone();
    let paths = Paths { env: target.join(env::ENV_DIR), source, target, state, base };
    let temp = tempfile::tempdir().at("create a temporary directory in", std::env::temp_dir())?;
    let settings = &request.settings;

    if let Some(script) = custom_script::read(&paths.source)? {
        return run_custom_script(request, &paths, &script, temp.path(), log);
    }
    if let Some(why) = python_build_skipped(&paths.source, settings)? {
        log.info(format!("{why}: copying files only."));
        log.step("sync", || {
            clone_base_env(&paths)?;
            sync_into_wwwroot(&paths, log)
        })?;
        for step in ["runtime", "resolve", "env", "install", "collectstatic"] {
            log.skip(step, why);
        }
        return Ok(BuildOutcome::default());
    }

    if !looks_like_python_app(&paths.source) {
        return Err(BuildError::NotAPythonApp);
    }
    let (resolution, installer) = log.step("runtime", || {
        let resolution = version::resolve(&paths.source, settings, request.default_python, &request.catalog, log)?;
        let installer = Installer::choose(settings, request.uv.as_deref())?;
        log.info(format!("Installer: {}", installer.describe()));
        Ok((resolution, installer))
    })?;
    let runtime = &resolution.runtime;
    let wanted = WantedEnv { runtime, spec: resolution.spec, installer: installer.kind() };
    let env_plan = env::plan(&paths.existing_env(), &wanted, request.clean_env);
    let sources = settings.package_sources()?;
    let installing = Installing { installer: &installer, sources: &sources, settings, log };

    let requirements = read_requirements(&paths.source.join(REQUIREMENTS_TXT), &paths.source)?;
    let up_to_date = match &env_plan {
        EnvPlan::Reuse(marker) => {
            is_up_to_date(marker, requirements.as_ref(), &installer, &paths.existing_env(), &sources)
        }
        _ => false,
    };
    let lock = if up_to_date {
        log.skip("resolve", "requirements unchanged since the last install");
        None
    } else {
        Some(log.step("resolve", || lock_requirements(&installing, runtime, requirements.as_ref(), temp.path()))?)
    };

    log.step("sync", || {
        clone_base(&paths)?;
        sync_into_wwwroot(&paths, log)
    })?;
    let prepared = log.step("env", || prepare_env(env_plan, &paths, runtime, &installer, log))?;
    let parked = prepared.parked;
    let env_reused = prepared.reused;
    let finished = finish_python_steps(&installing, prepared.marker, lock, requirements.as_ref(), &paths);
    let marker = match (finished, parked) {
        (Ok(marker), parked) => {
            if let Some(parked) = parked {
                parked.discard()?;
            }
            marker
        }
        (Err(e), Some(parked)) => {
            parked.restore(log)?;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    Ok(BuildOutcome {
        runtime: Some(resolution.runtime),
        env: Some(marker),
        env_reused,
        installer_ran: !up_to_date,
        custom_script: false,
    })
}

/// Install (or skip it) and collectstatic, on an env that is ready.
fn finish_python_steps(
    installing: &Installing,
    marker: EnvMarker,
    lock: Option<LockedRequirements>,
    requirements: Option<&RequirementFiles>,
    paths: &Paths,
) -> Result<EnvMarker> {
    let log = installing.log;
    let marker = match lock {
        None => {
            log.skip("install", "requirements unchanged since the last install");
            marker
        }
        Some(lock) => log.step("install", || install_locked(installing, marker, &lock, requirements, &paths.target))?,
    };
    collectstatic_step(&paths.target, installing.settings, log)?;
    Ok(marker)
}

/// Any sign of Python within a few levels of the checkout's root.
fn looks_like_python_app(source: &Path) -> bool {
    const MARKERS: &[&str] = &[
        REQUIREMENTS_TXT,
        version::RUNTIME_TXT,
        version::PYTHON_VERSION_FILE,
        "pyproject.toml",
        "setup.py",
        "Procfile",
    ];
    walkdir::WalkDir::new(source).max_depth(3).into_iter().filter_entry(|e| e.file_name() != ".git").flatten().any(
        |e| {
            let name = e.file_name().to_string_lossy();
            e.file_type().is_file() && (name.ends_with(".py") || (e.depth() == 1 && MARKERS.contains(&name.as_ref())))
        },
    )
}

/// Why the Python steps are skipped, if they are.
fn python_build_skipped(source: &Path, settings: &Settings) -> Result<Option<&'static str>> {
    if source.join(SKIP_PYTHON_DEPLOYMENT).exists() {
        return Ok(Some("Found .skipPythonDeployment"));
    }
    if settings.flag(SCM_DO_BUILD_DURING_DEPLOYMENT)? == Some(false) {
        return Ok(Some("SCM_DO_BUILD_DURING_DEPLOYMENT is false"));
    }
    Ok(None)
}

/// Carries out the env plan: in place (parking an old env), or in a new release (reusing the
/// base's env means a relocated copy of it; otherwise a fresh one, and the base's stays as it is).
fn prepare_env(
    plan: EnvPlan,
    paths: &Paths,
    runtime: &Runtime,
    installer: &Installer,
    log: &BuildLog,
) -> Result<PreparedEnv> {
    let Some(base) = &paths.base else {
        return env::apply(plan, &paths.env, &paths.state, runtime, installer, log);
    };
    match env::announce(plan, &paths.existing_env(), log) {
        Some(marker) => {
            release::clone_env(&base.join(env::ENV_DIR), &paths.env, base, &paths.target)?;
            Ok(PreparedEnv { dir: paths.env.clone(), marker, reused: true, parked: None })
        }
        // The base's env stays as it is, with the base: nothing to park or put back.
        None => {
            let marker = env::create(&paths.env, runtime, installer, log)?;
            Ok(PreparedEnv { dir: paths.env.clone(), marker, reused: false, parked: None })
        }
    }
}

/// In a new release: the target starts as a copy of the base's files (not its env, which the env
/// step decides about, nor its state).
fn clone_base(paths: &Paths) -> Result<()> {
    match &paths.base {
        Some(base) => release::clone_tree(base, &paths.target, sync::RESERVED_ROOT_NAMES),
        None => Ok(()),
    }
}

/// In a new release whose build does not touch env (files only, or a custom script that manages
/// env itself): the base's env comes along as it is, relocated.
fn clone_base_env(paths: &Paths) -> Result<()> {
    match &paths.base {
        Some(base) if base.join(env::ENV_DIR).is_dir() => {
            clone_base(paths)?;
            release::clone_env(&base.join(env::ENV_DIR), &paths.env, base, &paths.target)
        }
        _ => clone_base(paths),
    }
}

fn sync_into_wwwroot(paths: &Paths, log: &BuildLog) -> Result<()> {
    let options = SyncOptions {
        source: paths.source.clone(),
        target: paths.target.clone(),
        previous_manifest: Some(paths.previous_manifest()),
        next_manifest: paths.next_manifest(),
    };
    sync::sync(&options, log)?;
    // The files are in wwwroot now, whatever happens next: the next sync must know they came from a
    // deployment.
    promote_manifest(paths)
}

fn promote_manifest(paths: &Paths) -> Result<()> {
    let next = paths.next_manifest();
    if next.exists() {
        std::fs::rename(&next, paths.manifest()).at("replace manifest with", &next)?;
    }
    Ok(())
}

fn run_custom_script(
    request: &BuildRequest,
    paths: &Paths,
    script: &CustomScript,
    temp: &Path,
    log: &BuildLog,
) -> Result<BuildOutcome> {
    let resolution: Option<Resolution> = log.step("runtime", || {
        version::resolve(&paths.source, &request.settings, request.default_python, &request.catalog, log).map(Some)
    })?;
    // The script manages env itself (`slipway build env` reuses a compatible one): it gets the
    // base release's, relocated.
    clone_base_env(paths)?;
    std::fs::create_dir_all(&paths.state).at("create directory", &paths.state)?;
    let vars = ScriptVariables {
        source: paths.source.clone(),
        target: paths.target.clone(),
        temp: temp.to_path_buf(),
        previous_manifest: paths.previous_manifest(),
        next_manifest: paths.next_manifest(),
        python: resolution.as_ref().map(|r| r.runtime.path.clone()),
        python_version: resolution.as_ref().map(|r| r.runtime.version.to_string()),
        env: paths.env.clone(),
        clean_env: request.clean_env,
        slipway_dir: request.slipway_dir.clone(),
    };
    std::fs::create_dir_all(&paths.target).at("create target directory", &paths.target)?;
    let result = log.step("custom script", || custom_script::run(script, &vars, &request.settings, log));
    promote_manifest(paths)?;
    result?;
    Ok(BuildOutcome {
        runtime: resolution.map(|r| r.runtime),
        env: match ExistingEnv::read(&paths.env) {
            ExistingEnv::Marked(marker) => Some(marker),
            _ => None,
        },
        custom_script: true,
        ..BuildOutcome::default()
    })
}

fn read_requirements(path: &Path, root: &Path) -> Result<Option<RequirementFiles>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    RequirementFiles::read(path, root).map(Some)
}

/// What decides an install's result besides the requirement files.
fn fingerprint(
    requirements: Option<&RequirementFiles>,
    installer: &Installer,
    env: &Path,
    sources: &PackageSources,
) -> String {
    let identity = installer.identity(env);
    let sources = sources.as_args().join(" ");
    requirements.cloned().unwrap_or_default().fingerprint(&[&identity, &sources])
}

fn is_up_to_date(
    marker: &EnvMarker,
    requirements: Option<&RequirementFiles>,
    installer: &Installer,
    env: &Path,
    sources: &PackageSources,
) -> bool {
    marker.requirements_sha256.as_deref() == Some(fingerprint(requirements, installer, env, sources).as_str())
}

/// What resolving and installing need besides env and the requirement files.
struct Installing<'a> {
    installer: &'a Installer,
    sources: &'a PackageSources,
    settings: &'a Settings,
    log: &'a BuildLog,
}

/// The resolved pins, or `None` inside when there is no requirements.txt (nothing to install,
/// but what an earlier one brought is still uninstalled).
struct LockedRequirements(Option<Lock>);

fn lock_requirements(
    installing: &Installing,
    runtime: &Runtime,
    requirements: Option<&RequirementFiles>,
    temp: &Path,
) -> Result<LockedRequirements> {
    let Installing { installer, sources, settings, log } = installing;
    let Some(files) = requirements else {
        log.info("No requirements.txt: nothing to install.");
        return Ok(LockedRequirements(None));
    };
    let path = &files.files[0].path;
    log.info(format!("Resolving requirements.txt for Python {} ({}).", runtime.version, installer.resolver()));
    let mut lock = installer.lock(runtime, path, sources, settings, temp, log)?;
    log.info(format!("Resolved {} packages.", lock.packages.len()));
    if files.use_hashes() {
        log.info(
            "requirements.txt pins hashes: installing from it with --require-hashes, so every package is checked.",
        );
        lock.hashed = Some(path.clone());
    }
    Ok(LockedRequirements(Some(lock)))
}

/// Installs the pins into env, uninstalls what is no longer needed, and records the result in the
/// marker. The marker's fingerprint is cleared first, so an install that is interrupted is never
/// mistaken for a finished one.
fn install_locked(
    installing: &Installing,
    mut marker: EnvMarker,
    lock: &LockedRequirements,
    requirements: Option<&RequirementFiles>,
    target: &Path,
) -> Result<EnvMarker> {
    let Installing { installer, sources, settings, log } = installing;
    let env = &target.join(env::ENV_DIR);
    marker.requirements_sha256 = None;
    marker.write(env)?;
    let needed: BTreeSet<String> = match &lock.0 {
        Some(lock) => {
            installer.install(env, lock, target, sources, settings, log)?;
            lock.packages.iter().cloned().collect()
        }
        None => BTreeSet::new(),
    };
    let dropped: Vec<String> = marker.packages.iter().filter(|p| !needed.contains(*p)).cloned().collect();
    if !dropped.is_empty() {
        log.info(format!("Uninstalling packages that requirements.txt no longer needs: {}", dropped.join(", ")));
        installer.uninstall(env, &dropped, log)?;
    }
    marker.packages = needed.into_iter().collect();
    marker.requirements_sha256 = Some(fingerprint(requirements, installer, env, sources));
    marker.write(env)?;
    Ok(marker)
}

// ---- The steps one at a time, for `slipway build <step>` in custom scripts. ----

/// `slipway build sync`.
pub fn sync_step(options: &SyncOptions, log: &BuildLog) -> Result<()> {
    sync::check_paths(&options.source, &options.target)?;
    log.step("sync", || sync::sync(options, log).map(|_| ()))
}

/// `slipway build env`: create env at `<target>/env`, or reuse it when compatible.
pub fn env_step(
    target: &Path,
    resolution: &Resolution,
    installer: &Installer,
    clean: bool,
    state_dir: &Path,
    log: &BuildLog,
) -> Result<PreparedEnv> {
    let env_dir = target.join(env::ENV_DIR);
    let wanted = WantedEnv { runtime: &resolution.runtime, spec: resolution.spec, installer: installer.kind() };
    let plan = env::plan(&env_dir, &wanted, clean);
    let mut prepared =
        log.step("env", || env::apply(plan, &env_dir, state_dir, &resolution.runtime, installer, log))?;
    if let Some(parked) = prepared.parked.take() {
        parked.discard()?;
    }
    Ok(prepared)
}

/// `slipway build install`: install `<target>/requirements.txt` into `<target>/env`.
pub fn install_step(target: &Path, settings: &Settings, uv: Option<&Path>, log: &BuildLog) -> Result<bool> {
    let env_dir = target.join(env::ENV_DIR);
    let ExistingEnv::Marked(marker) = ExistingEnv::read(&env_dir) else {
        return Err(BuildError::InvalidPaths(format!(
            "no complete virtual environment at `{}`; run `slipway build env` first",
            env_dir.display()
        )));
    };
    let installer = Installer::choose(settings, uv)?;
    if installer.kind() != marker.installer {
        return Err(BuildError::Installer(format!(
            "env was made for installer {}, but {} is selected; recreate env with `slipway build env --clean-env`",
            marker.installer,
            installer.kind()
        )));
    }
    let sources = settings.package_sources()?;
    let requirements = read_requirements(&target.join(REQUIREMENTS_TXT), target)?;
    if is_up_to_date(&marker, requirements.as_ref(), &installer, &env_dir, &sources) {
        log.skip("install", "requirements unchanged since the last install");
        return Ok(false);
    }
    let runtime = Runtime {
        implementation: marker.implementation.clone(),
        version: marker.python_version.clone(),
        path: marker.base_interpreter.clone(),
    };
    let temp = tempfile::tempdir().at("create a temporary directory in", std::env::temp_dir())?;
    log.step("install", || {
        let installing = Installing { installer: &installer, sources: &sources, settings, log };
        let lock = lock_requirements(&installing, &runtime, requirements.as_ref(), temp.path())?;
        install_locked(&installing, marker, &lock, requirements.as_ref(), target)
    })?;
    Ok(true)
}

/// `slipway build collectstatic`.
pub fn collectstatic_step(target: &Path, settings: &Settings, log: &BuildLog) -> Result<()> {
    let env_dir = target.join(env::ENV_DIR);
    match crate::django::skip_reason(target, &env_dir, settings)? {
        Some(why) => log.skip("collectstatic", why),
        None => log.step("collectstatic", || crate::django::collectstatic(target, &env_dir, settings, log))?,
    }
    Ok(())
}
