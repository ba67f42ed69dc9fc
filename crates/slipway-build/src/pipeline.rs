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
use crate::installer::{Installer, Lock, ToResolve};
use crate::lifecycle;
use crate::log::BuildLog;
use crate::project::{self, Dependencies};
use crate::requirements::{RequirementFiles, REQUIREMENTS_TXT};
use crate::runtime::{PythonVersion, Runtime, RuntimeCatalog};
use crate::settings::{PackageSources, Settings, SCM_DO_BUILD_DURING_DEPLOYMENT, SCM_OVERWRITE_RUNTIME_FILES};
use crate::sync::{self, SyncOptions};
use crate::tools::{self, ToolShed};
use crate::version::{self, Resolution, VersionContext, VersionSpec};
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
    /// Where Poetry and Pipenv are installed and kept between builds (see [`crate::tools`]);
    /// `None`: in the build's temporary folder, for this build only.
    #[serde(default)]
    pub tools_dir: Option<PathBuf>,
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
    /// The repository checkout.
    checkout: PathBuf,
    /// The app's folder in it (`PROJECT`), which is built and synced.
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
    let settings = &request.settings;
    log.mask_secrets(settings.secrets());
    let (checkout, target) = sync::check_paths(&request.source, &request.target)?;
    let deployment_file = custom_script::read(&checkout)?;
    let source = project::folder(&checkout, settings, deployment_file.project.as_deref())?;
    if let Ok(folder) = source.strip_prefix(&checkout).map(Path::display).map(|d| d.to_string()) {
        if !folder.is_empty() {
            log.info(format!("The app is in the repository's folder `{folder}` (PROJECT): building it from there."));
        }
    }
    let state = request.state_dir.clone().unwrap_or_else(|| target.join(STATE_DIR_NAME));
    let base = request.base.clone();
    let paths = Paths { env: target.join(env::ENV_DIR), checkout, source, target, state, base };
    let temp = tempfile::tempdir().at("create a temporary directory in", std::env::temp_dir())?;
    let tools_dir = request.tools_dir.clone().unwrap_or_else(|| temp.path().join("tools"));

    if let Some(script) = &deployment_file.script {
        return run_custom_script(request, &paths, script, &tools_dir, temp.path(), log);
    }
    if let Some(why) = python_build_skipped(&paths.source, settings)? {
        log.info(format!("{why}: copying files only."));
        log.step("sync", || {
            clone_base_env(&paths, release::Files::Linked)?;
            sync_into_wwwroot(&paths, settings, log)
        })?;
        for step in ["runtime", "resolve", "env", "install", "collectstatic"] {
            log.skip(step, why);
        }
        return Ok(BuildOutcome::default());
    }

    if !looks_like_python_app(&paths.source) {
        return Err(BuildError::NotAPythonApp);
    }
    let sticky = env_python(&paths.existing_env());
    let (resolution, dependencies, installer) = log.step("runtime", || {
        let dependencies = project::detect(&paths.source, settings)?;
        log.info(format!("Dependencies: {dependencies}"));
        for note in project::unused_declarations(&paths.source, dependencies, settings) {
            log.warn(note);
        }
        let context = VersionContext {
            catalog: &request.catalog,
            default: request.default_python,
            sticky: sticky.as_ref(),
            today: lifecycle::today(),
        };
        let resolution = version::resolve(&paths.source, settings, &context, log)?;
        let installer = Installer::for_dependencies(settings, dependencies, request.uv.as_deref())?;
        log.info(format!("Installer: {}", installer.describe()));
        Ok((resolution, dependencies, installer))
    })?;
    let runtime = &resolution.runtime;
    let wanted = WantedEnv { runtime, spec: resolution.spec, installer: installer.kind() };
    let env_plan = env::plan(&paths.existing_env(), &wanted, request.clean_env);
    let sources = settings.package_sources()?;
    let installing =
        Installing { installer: &installer, sources: &sources, settings, runtime, tools_dir: &tools_dir, log };

    let inputs = install_inputs(&paths.source, dependencies)?;
    let up_to_date = match &env_plan {
        EnvPlan::Reuse(marker) => is_up_to_date(marker, &inputs, dependencies, &installing, &paths.existing_env()),
        _ => false,
    };
    let plan = if up_to_date {
        log.skip("resolve", unchanged(dependencies));
        None
    } else {
        Some(log.step("resolve", || plan_install(&installing, dependencies, &inputs, &paths.source, temp.path()))?)
    };

    log.step("sync", || {
        clone_base(&paths, release::Files::Linked)?;
        sync_into_wwwroot(&paths, settings, log)
    })?;
    let prepared = log.step("env", || prepare_env(env_plan, &paths, runtime, &installer, log))?;
    let parked = prepared.parked;
    let env_reused = prepared.reused;
    let installed = Installed { inputs: &inputs, dependencies };
    let finished = finish_python_steps(&installing, prepared.marker, plan, &installed, &paths);
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

/// The Python of the env at `env`, if it is a complete one.
fn env_python(env: &Path) -> Option<PythonVersion> {
    match ExistingEnv::read(env) {
        ExistingEnv::Marked(marker) => Some(marker.python_version),
        _ => None,
    }
}

/// Install (or skip it) and collectstatic, on an env that is ready.
fn finish_python_steps(
    installing: &Installing,
    marker: EnvMarker,
    plan: Option<InstallPlan>,
    installed: &Installed,
    paths: &Paths,
) -> Result<EnvMarker> {
    let log = installing.log;
    let marker = match plan {
        None => {
            log.skip("install", unchanged(installed.dependencies));
            marker
        }
        Some(plan) => log.step("install", || install_planned(installing, marker, plan, installed, &paths.target))?,
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
        project::PYPROJECT_TOML,
        project::UV_LOCK,
        project::POETRY_LOCK,
        project::PIPFILE,
        project::PIPFILE_LOCK,
        "setup.py",
        "setup.cfg",
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
fn clone_base(paths: &Paths, files: release::Files) -> Result<()> {
    match &paths.base {
        Some(base) => release::clone_tree(base, &paths.target, sync::RESERVED_ROOT_NAMES, files),
        None => Ok(()),
    }
}

/// In a new release whose build does not touch env (files only, or a custom script that manages
/// env itself): the base's env comes along as it is, relocated.
fn clone_base_env(paths: &Paths, files: release::Files) -> Result<()> {
    match &paths.base {
        Some(base) if base.join(env::ENV_DIR).is_dir() => {
            clone_base(paths, files)?;
            release::clone_env(&base.join(env::ENV_DIR), &paths.env, base, &paths.target)
        }
        _ => clone_base(paths, files),
    }
}

fn sync_into_wwwroot(paths: &Paths, settings: &Settings, log: &BuildLog) -> Result<()> {
    let options = SyncOptions {
        overwrite_app_files: settings.flag(SCM_OVERWRITE_RUNTIME_FILES)?.unwrap_or(false),
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
    tools_dir: &Path,
    temp: &Path,
    log: &BuildLog,
) -> Result<BuildOutcome> {
    let sticky = env_python(&paths.existing_env());
    let resolution: Option<Resolution> = log.step("runtime", || {
        let context = VersionContext {
            catalog: &request.catalog,
            default: request.default_python,
            sticky: sticky.as_ref(),
            today: lifecycle::today(),
        };
        version::resolve(&paths.source, &request.settings, &context, log).map(Some)
    })?;
    // The script manages env itself (`slipway build env` reuses a compatible one): it gets the
    // base release's, relocated. Its code files are copies: a script may write into a file in
    // place, which through a hard link would change the live release.
    clone_base_env(paths, release::Files::Copied)?;
    std::fs::create_dir_all(&paths.state).at("create directory", &paths.state)?;
    // The script decides what to do with an unclear set of files; the default build would refuse it.
    let package_manager = project::detect(&paths.source, &request.settings).map(|d| d.manager()).unwrap_or_default();
    let vars = ScriptVariables {
        checkout: paths.checkout.clone(),
        source: paths.source.clone(),
        target: paths.target.clone(),
        temp: temp.to_path_buf(),
        previous_manifest: paths.previous_manifest(),
        next_manifest: paths.next_manifest(),
        python: resolution.as_ref().map(|r| r.runtime.path.clone()),
        python_version: resolution.as_ref().map(|r| r.runtime.version.to_string()),
        env: paths.env.clone(),
        clean_env: request.clean_env,
        package_manager: package_manager.to_string(),
        tools_dir: tools_dir.to_path_buf(),
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

/// The files whose content decides what an install of `dependencies` from `root` brings, and
/// the repository's code when the install brings that too.
fn install_inputs(root: &Path, dependencies: Dependencies) -> Result<RequirementFiles> {
    let mut inputs = match dependencies {
        Dependencies::Requirements => RequirementFiles::read(&root.join(REQUIREMENTS_TXT), root)?,
        other => RequirementFiles::read_plain(root, other.deciding_files())?,
    };
    let local_code = match dependencies {
        Dependencies::Requirements => inputs.install_local_paths(),
        Dependencies::UvLock => !local_uv_packages(&inputs).is_empty(),
        _ => false,
    };
    if local_code {
        inputs.local_code = Some(crate::requirements::tree_digest(root)?);
    }
    Ok(inputs)
}

fn local_uv_packages(inputs: &RequirementFiles) -> Vec<String> {
    let lock = inputs.files.iter().find(|f| f.name == project::UV_LOCK);
    lock.map(|lock| project::uv::local_packages(&lock.bytes)).unwrap_or_default()
}

/// Why the resolve and install steps are skipped when nothing changed.
fn unchanged(dependencies: Dependencies) -> String {
    match dependencies {
        Dependencies::None | Dependencies::Requirements => "requirements unchanged since the last install".to_string(),
        other => format!("{} unchanged since the last install", other.deciding_files().join(" and ")),
    }
}

/// What decides an install's result besides its input files: the package manager and its
/// version, the installer and its version, where packages come from.
fn fingerprint(inputs: &RequirementFiles, dependencies: Dependencies, installing: &Installing, env: &Path) -> String {
    let identity = installing.installer.identity(env);
    let tool = match dependencies {
        Dependencies::PoetryLock => tools::POETRY.to_string(),
        Dependencies::PipfileLock => tools::PIPENV.to_string(),
        _ => String::new(),
    };
    let sources = installing.sources.as_args().join(" ");
    inputs.fingerprint(installing.settings, &[dependencies.manager(), &tool, &identity, &sources])
}

fn is_up_to_date(
    marker: &EnvMarker,
    inputs: &RequirementFiles,
    dependencies: Dependencies,
    installing: &Installing,
    env: &Path,
) -> bool {
    marker.requirements_sha256.as_deref() == Some(fingerprint(inputs, dependencies, installing, env).as_str())
}

/// What resolving and installing need besides env and the dependency files.
struct Installing<'a> {
    installer: &'a Installer,
    sources: &'a PackageSources,
    settings: &'a Settings,
    /// The deployment's Python, which Poetry and Pipenv run on too.
    runtime: &'a Runtime,
    tools_dir: &'a Path,
    log: &'a BuildLog,
}

impl Installing<'_> {
    fn tool_shed(&self) -> ToolShed<'_> {
        ToolShed {
            dir: self.tools_dir,
            runtime: self.runtime,
            installer: self.installer,
            sources: self.sources,
            settings: self.settings,
            log: self.log,
        }
    }
}

/// What an install was made from, for its fingerprint.
struct Installed<'a> {
    inputs: &'a RequirementFiles,
    dependencies: Dependencies,
}

/// What the install step does, decided in the resolve step — before anything live changes — so
/// that a lock out of date with its project, or a requirement that cannot be met, fails first.
enum InstallPlan {
    /// Pins for the installer (requirements.txt, an unlocked pyproject.toml, Pipfile.lock);
    /// `None`: nothing to install, but what earlier installs brought is still removed.
    Pins(Option<Lock>),
    /// uv.lock, installed by `uv sync`.
    UvSync,
    /// poetry.lock, installed by `poetry sync` with this Poetry.
    PoetrySync(PathBuf),
}

fn plan_install(
    installing: &Installing,
    dependencies: Dependencies,
    inputs: &RequirementFiles,
    project_dir: &Path,
    temp: &Path,
) -> Result<InstallPlan> {
    let Installing { installer, sources, settings, runtime, log, .. } = installing;
    match dependencies {
        Dependencies::None => {
            log.info("No dependency file (requirements.txt, uv.lock, poetry.lock, Pipfile.lock or pyproject.toml dependencies): nothing to install.");
            Ok(InstallPlan::Pins(None))
        }
        Dependencies::Requirements => {
            lock_requirements(installing, inputs, temp).map(|lock| InstallPlan::Pins(Some(lock)))
        }
        Dependencies::Pyproject => {
            log.warn("pyproject.toml's dependencies are not locked: they are resolved afresh whenever pyproject.toml changes, so a deployment may get other versions than you tested. Commit a lock (`uv lock` makes uv.lock) to deploy exactly what you tested.");
            log.info(format!(
                "Resolving pyproject.toml's dependencies for Python {} (uv pip compile).",
                runtime.version
            ));
            let pyproject = project_dir.join(project::PYPROJECT_TOML);
            let input = ToResolve { file: &pyproject, workdir: project_dir };
            let lock = installer.lock(runtime, input, sources, settings, temp, log)?;
            log.info(format!("Resolved {} packages.", lock.packages.len()));
            Ok(InstallPlan::Pins(Some(lock)))
        }
        Dependencies::UvLock => {
            let uv = installer.uv().expect("uv.lock is installed with uv");
            project::uv::check_lock(uv, project_dir, runtime, sources, settings, log)?;
            Ok(InstallPlan::UvSync)
        }
        Dependencies::PoetryLock => {
            let poetry = tools::POETRY.ensure(&installing.tool_shed())?;
            project::poetry::check_lock(&poetry, project_dir, settings, log)?;
            Ok(InstallPlan::PoetrySync(poetry))
        }
        Dependencies::PipfileLock => {
            let pipenv = tools::PIPENV.ensure(&installing.tool_shed())?;
            let pins = project::pipenv::locked_requirements(&pipenv, project_dir, temp, settings, log)?;
            let lock = Lock::from_pins(&pins)?;
            match &lock.hashed {
                Some(_) => log.info(format!(
                    "Pipfile.lock's default packages: {}, each with its hashes (installed with --require-hashes).",
                    lock.packages.len()
                )),
                None => log.warn("some of Pipfile.lock's packages have no hashes (git or path dependencies): installing without hash checking."),
            }
            Ok(InstallPlan::Pins(Some(lock)))
        }
    }
}

fn lock_requirements(installing: &Installing, files: &RequirementFiles, temp: &Path) -> Result<Lock> {
    let Installing { installer, sources, settings, runtime, log, .. } = installing;
    let path = &files.files[0].path;
    let workdir = path.parent().unwrap_or(Path::new("."));
    let expanded = files.expanded(settings, temp)?;
    if expanded.is_some() {
        log.info("requirements use ${NAME} variables: they are filled in from the app's settings, as pip does.");
    }
    let input = expanded.as_deref().unwrap_or(path);
    log.info(format!("Resolving requirements.txt for Python {} ({}).", runtime.version, installer.resolver()));
    let mut lock = installer.lock(runtime, ToResolve { file: input, workdir }, sources, settings, temp, log)?;
    log.info(format!("Resolved {} packages.", lock.packages.len()));
    if files.use_hashes() {
        log.info(
            "requirements.txt pins hashes: installing from it with --require-hashes, so every package is checked.",
        );
        lock.hashed = Some(input.to_path_buf());
    }
    Ok(lock)
}

/// Carries out the plan in env, and records the result in the marker. The marker's fingerprint is
/// cleared first, so an install that is interrupted is never mistaken for a finished one.
fn install_planned(
    installing: &Installing,
    mut marker: EnvMarker,
    plan: InstallPlan,
    installed: &Installed,
    target: &Path,
) -> Result<EnvMarker> {
    let Installing { installer, sources, settings, log, .. } = installing;
    let env = &target.join(env::ENV_DIR);
    marker.requirements_sha256 = None;
    marker.write(env)?;
    marker.packages = match plan {
        InstallPlan::Pins(lock) => {
            let needed: BTreeSet<String> = match lock {
                Some(mut lock) => {
                    lock.local_code = installed.inputs.local_code.is_some();
                    installer.install(env, &lock, target, sources, settings, log)?;
                    lock.packages.into_iter().collect()
                }
                None => BTreeSet::new(),
            };
            let dropped: Vec<String> = marker.packages.iter().filter(|p| !needed.contains(*p)).cloned().collect();
            if !dropped.is_empty() {
                let by = match installed.dependencies {
                    Dependencies::None => "the app",
                    other => other.file(),
                };
                log.info(format!("Uninstalling packages that {by} no longer needs: {}", dropped.join(", ")));
                installer.uninstall(env, &dropped, log)?;
            }
            needed.into_iter().collect()
        }
        InstallPlan::UvSync => {
            let uv = installer.uv().expect("uv.lock is installed with uv");
            let rebuild = local_uv_packages(installed.inputs);
            project::uv::sync(uv, target, env, sources, settings, &rebuild, log)?;
            env::installed_packages(env)
        }
        InstallPlan::PoetrySync(poetry) => {
            project::poetry::sync(&poetry, target, env, settings, log)?;
            env::installed_packages(env)
        }
    };
    marker.requirements_sha256 = Some(fingerprint(installed.inputs, installed.dependencies, installing, env));
    marker.write(env)?;
    Ok(marker)
}

// ---- The steps one at a time, for `slipway build <step>` in custom scripts. ----

/// `slipway build sync`.
pub fn sync_step(options: &SyncOptions, log: &BuildLog) -> Result<()> {
    sync::check_paths(&options.source, &options.target)?;
    log.step("sync", || sync::sync(options, log).map(|_| ()))
}

/// What `slipway build env` decides with, besides the target.
pub struct EnvStep {
    pub settings: Settings,
    pub catalog: RuntimeCatalog,
    pub default_python: Option<VersionSpec>,
    pub uv: Option<PathBuf>,
    pub clean_env: bool,
}

/// `slipway build env`: picks the Python and the installer from the app synced into `target`, as
/// the default build does, then creates env at `<target>/env`, or reuses it when compatible.
pub fn env_step(target: &Path, step: &EnvStep, log: &BuildLog) -> Result<PreparedEnv> {
    log.mask_secrets(step.settings.secrets());
    let env_dir = target.join(env::ENV_DIR);
    let sticky = env_python(&env_dir);
    let (resolution, installer) = log.step("runtime", || {
        let dependencies = project::detect(target, &step.settings)?;
        let context = VersionContext {
            catalog: &step.catalog,
            default: step.default_python,
            sticky: sticky.as_ref(),
            today: lifecycle::today(),
        };
        let resolution = version::resolve(target, &step.settings, &context, log)?;
        Ok((resolution, Installer::for_dependencies(&step.settings, dependencies, step.uv.as_deref())?))
    })?;
    let wanted = WantedEnv { runtime: &resolution.runtime, spec: resolution.spec, installer: installer.kind() };
    let plan = env::plan(&env_dir, &wanted, step.clean_env);
    let state_dir = target.join(STATE_DIR_NAME);
    let mut prepared =
        log.step("env", || env::apply(plan, &env_dir, &state_dir, &resolution.runtime, &installer, log))?;
    if let Some(parked) = prepared.parked.take() {
        parked.discard()?;
    }
    Ok(prepared)
}

/// `slipway build install`: install the dependencies of the app synced into `target` into
/// `<target>/env`, with its package manager.
pub fn install_step(
    target: &Path,
    settings: &Settings,
    uv: Option<&Path>,
    tools_dir: Option<PathBuf>,
    log: &BuildLog,
) -> Result<bool> {
    log.mask_secrets(settings.secrets());
    let env_dir = target.join(env::ENV_DIR);
    let ExistingEnv::Marked(marker) = ExistingEnv::read(&env_dir) else {
        return Err(BuildError::InvalidPaths(format!(
            "no complete virtual environment at `{}`; run `slipway build env` first",
            env_dir.display()
        )));
    };
    let dependencies = project::detect(target, settings)?;
    let installer = Installer::for_dependencies(settings, dependencies, uv)?;
    if installer.kind() != marker.installer {
        return Err(BuildError::Installer(format!(
            "env was made for installer {}, but {} is selected; recreate env with `slipway build env --clean-env`",
            marker.installer,
            installer.kind()
        )));
    }
    let sources = settings.package_sources()?;
    let runtime = Runtime {
        implementation: marker.implementation.clone(),
        version: marker.python_version.clone(),
        path: marker.base_interpreter.clone(),
    };
    let temp = tempfile::tempdir().at("create a temporary directory in", std::env::temp_dir())?;
    let tools_dir = tools_dir.unwrap_or_else(|| temp.path().join("tools"));
    let installing = Installing {
        installer: &installer,
        sources: &sources,
        settings,
        runtime: &runtime,
        tools_dir: &tools_dir,
        log,
    };
    let inputs = install_inputs(target, dependencies)?;
    if is_up_to_date(&marker, &inputs, dependencies, &installing, &env_dir) {
        log.skip("install", unchanged(dependencies));
        return Ok(false);
    }
    log.step("install", || {
        log.info(format!("Dependencies: {dependencies}"));
        let plan = plan_install(&installing, dependencies, &inputs, target, temp.path())?;
        install_planned(&installing, marker, plan, &Installed { inputs: &inputs, dependencies }, target)
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
