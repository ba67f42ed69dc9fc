use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use slipway_build::log::BuildLog;
use slipway_build::pipeline::{self, BuildRequest, STATE_DIR_NAME};
use slipway_build::runtime::{self, Discovery, RuntimeCatalog};
use slipway_build::settings::{Settings, PYTHON_VERSION, SCM_OVERWRITE_RUNTIME_FILES};
use slipway_build::sync::SyncOptions;
use slipway_build::version::VersionSpec;

use crate::cli::{BuildArgs, BuildStep, FullBuildArgs, PythonArgs};

pub fn run(args: BuildArgs, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let log = BuildLog::to_stderr();
    match args.step {
        None => full_build(args.full, cache_dir, &log),
        Some(BuildStep::Sync { source, target, previous_manifest, next_manifest }) => {
            let state = target.join(STATE_DIR_NAME);
            let options = SyncOptions {
                overwrite_app_files: Settings::from_process_env().flag(SCM_OVERWRITE_RUNTIME_FILES)?.unwrap_or(false),
                previous_manifest: previous_manifest.or_else(|| Some(state.join(pipeline::MANIFEST_FILE))),
                next_manifest: next_manifest.unwrap_or_else(|| state.join(pipeline::MANIFEST_FILE)),
                source,
                target,
            };
            Ok(pipeline::sync_step(&options, &log)?)
        }
        Some(BuildStep::Env { target, python, clean_env }) => {
            let step = pipeline::EnvStep {
                settings: settings(&python)?,
                catalog: catalog(&python, cache_dir)?,
                default_python: default_python(&python)?,
                uv: python.uv.clone(),
                clean_env,
            };
            pipeline::env_step(&target, &step, &log)?;
            Ok(())
        }
        Some(BuildStep::Install { target, uv, tools_dir }) => {
            let tools_dir = tools_dir.or_else(|| cache_dir.map(|dir| dir.join("tools")));
            pipeline::install_step(&target, &Settings::from_process_env(), uv.as_deref(), tools_dir, &log)?;
            Ok(())
        }
        Some(BuildStep::Collectstatic { target }) => {
            Ok(pipeline::collectstatic_step(&target, &Settings::from_process_env(), &log)?)
        }
    }
}

fn full_build(args: FullBuildArgs, cache_dir: Option<PathBuf>, log: &BuildLog) -> anyhow::Result<()> {
    let (Some(source), Some(target)) = (args.source, args.target) else {
        bail!("`slipway build` needs --source DIR and --target DIR (or a step: sync, env, install, collectstatic)");
    };
    let request = BuildRequest {
        source,
        target,
        base: None,
        state_dir: args.state_dir,
        settings: settings(&args.python)?,
        clean_env: args.clean_env,
        catalog: catalog(&args.python, cache_dir.clone())?,
        default_python: default_python(&args.python)?,
        uv: args.python.uv.clone(),
        slipway_dir: std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)),
        tools_dir: cache_dir.map(|dir| dir.join("tools")),
    };
    pipeline::build(&request, log)?;
    Ok(())
}

/// The build settings from the environment; `--python VERSION` acts as the PYTHON_VERSION setting.
fn settings(python: &PythonArgs) -> anyhow::Result<Settings> {
    let mut settings = Settings::from_process_env();
    if let Some(version) = python.python.as_deref().filter(|v| !is_path(v)) {
        settings.set(PYTHON_VERSION, version);
    }
    Ok(settings)
}

/// The runtimes to choose from: only the interpreter `--python PATH` names, else all found.
fn catalog(python: &PythonArgs, cache_dir: Option<PathBuf>) -> anyhow::Result<RuntimeCatalog> {
    if let Some(path) = python.python.as_deref().filter(|v| is_path(v)) {
        let runtime = runtime::probe(Path::new(path))
            .with_context(|| format!("--python `{path}` is not a Python interpreter that slipway can run"))?;
        return Ok(RuntimeCatalog::from_runtimes(vec![runtime]));
    }
    Ok(RuntimeCatalog::discover(&Discovery::from_process_env(vec![], cache_dir))?)
}

fn default_python(python: &PythonArgs) -> anyhow::Result<Option<VersionSpec>> {
    python
        .default_python
        .as_deref()
        .map(|v| {
            VersionSpec::parse(v)
                .with_context(|| format!("--default-python `{v}` is not a Python version; expected `3.X` or `3.X.Y`"))
        })
        .transpose()
}

fn is_path(value: &str) -> bool {
    value.contains('/')
}

/// `slipway build-job`: the build `slipway serve` describes on standard input, its log on standard
/// error, the report on standard output (see `slipway_build::job`).
pub fn job() -> anyhow::Result<()> {
    use slipway_build::log::Cancel;
    let job: slipway_build::job::Job =
        serde_json::from_reader(std::io::stdin().lock()).context("read the job from standard input")?;
    let log = BuildLog::to_stderr().with_cancel(Cancel::in_callers_group());
    let report = slipway_build::job::run(&job, &log);
    serde_json::to_writer(std::io::stdout().lock(), &report).context("write the build report")?;
    if report.result.is_err() {
        std::process::exit(1);
    }
    Ok(())
}
