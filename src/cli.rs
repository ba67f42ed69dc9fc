//! Command-line definitions. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// git push a Python web app; slipway builds and runs it.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about)]
pub struct Cli {
    /// Where probed runtimes are cached [default: $XDG_CACHE_HOME/slipway or ~/.cache/slipway].
    #[arg(long, global = true, env = "SLIPWAY_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the default build locally, with no server: sync, runtime, env, install, collectstatic.
    ///
    /// App settings (PYTHON_VERSION, PYTHON_INSTALLER, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL,
    /// PIP_FIND_LINKS, PIP_NO_INDEX, DISABLE_COLLECTSTATIC, SCM_DO_BUILD_DURING_DEPLOYMENT) are read
    /// from the environment.
    Build(BuildArgs),
    /// List the Python interpreters found on this machine.
    Runtimes(RuntimesArgs),
    /// Print the default build as a custom deployment script to start from.
    DeploymentScript,
    /// Run the service: REST API, git smart HTTP and deployments, in one process.
    Serve(ServeArgs),
    /// git hooks of app repositories (run by git, not by people).
    #[command(hide = true)]
    Hook {
        #[arg(value_parser = ["pre-receive"])]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where slipway keeps its database, admin token and apps.
    #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = "./slipway-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// HTTP address: API, git, dashboard and `<app>.localhost` proxy.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub http: std::net::SocketAddr,
    /// FTP address (shown as each app's FTP host).
    #[arg(long, default_value = "127.0.0.1:2121", value_name = "ADDR")]
    pub ftp: std::net::SocketAddr,
    /// Version used when an app asks for none [default: the newest runtime found].
    #[arg(long, env = "SLIPWAY_DEFAULT_PYTHON", value_name = "VERSION")]
    pub default_python: Option<String>,
    /// Also offer this interpreter as a runtime (repeatable).
    #[arg(long, value_name = "PATH")]
    pub python: Vec<PathBuf>,
    /// The uv executable [default: `uv` on PATH].
    #[arg(long, env = "SLIPWAY_UV", value_name = "PATH")]
    pub uv: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BuildArgs {
    #[command(subcommand)]
    pub step: Option<BuildStep>,

    #[command(flatten)]
    pub full: FullBuildArgs,
}

#[derive(Debug, Args)]
pub struct FullBuildArgs {
    /// The repository checkout to deploy.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// wwwroot: where the code is deployed; env is `<target>/env`.
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    #[command(flatten)]
    pub python: PythonArgs,
    /// Delete env and create it afresh.
    #[arg(long)]
    pub clean_env: bool,
    /// Where the deployment manifest is kept [default: <target>/.slipway].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct PythonArgs {
    /// Python version (`3.12`, `3.12.1`; like the PYTHON_VERSION setting) or an interpreter's path.
    #[arg(long, value_name = "VERSION|PATH")]
    pub python: Option<String>,
    /// Version used when nothing asks for one [default: the newest runtime found].
    #[arg(long, env = "SLIPWAY_DEFAULT_PYTHON", value_name = "VERSION")]
    pub default_python: Option<String>,
    /// The uv executable [default: `uv` on PATH].
    #[arg(long, env = "SLIPWAY_UV", value_name = "PATH")]
    pub uv: Option<PathBuf>,
}

/// One step of the default build, as a custom deployment script runs it.
#[derive(Debug, Subcommand)]
pub enum BuildStep {
    /// Copy the checkout into the target, deleting what the previous deployment brought and this one doesn't.
    Sync {
        #[arg(long, value_name = "DIR")]
        source: PathBuf,
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
        /// The previous deployment's manifest (may not exist yet).
        #[arg(long, value_name = "FILE")]
        previous_manifest: Option<PathBuf>,
        /// Where to write this deployment's manifest [default: <target>/.slipway/manifest].
        #[arg(long, value_name = "FILE")]
        next_manifest: Option<PathBuf>,
    },
    /// Create `<target>/env`, or reuse it when it is compatible.
    Env {
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
        #[command(flatten)]
        python: PythonArgs,
        #[arg(long)]
        clean_env: bool,
    },
    /// Install `<target>/requirements.txt` into `<target>/env`.
    Install {
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
        #[arg(long, env = "SLIPWAY_UV", value_name = "PATH")]
        uv: Option<PathBuf>,
    },
    /// Run Django's `manage.py collectstatic` if the target is a Django project.
    Collectstatic {
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RuntimesArgs {
    /// Also consider this interpreter (repeatable).
    #[arg(long, value_name = "PATH")]
    pub python: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
