//! Command-line definitions. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use slipway_server::config::{parse_port_range, DEFAULT_DATA_DIR, DEFAULT_FTP, DEFAULT_FTP_PASSIVE, DEFAULT_HTTP};

use crate::app_arg::AppArg;

/// An argument clap accepted whose shape its command checks itself (`KEY=VALUE`, `TYPE=COUNT`,
/// where the first argument may instead be the app): `main` exits 2 for it, as clap does for the
/// usage errors it finds.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// git push a Python web app; slipway builds and runs it.
///
/// Exit status: 0 on success, 1 on an error (one line on stderr saying what was wrong), 2 on a
/// usage error; `slipway run` exits with its command's status.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where `build` and `runtimes` cache what they learn about interpreters.
#[derive(Debug, Args, Clone)]
pub struct CacheArgs {
    /// Where probed runtimes are cached [default: $XDG_CACHE_HOME/slipway or ~/.cache/slipway].
    #[arg(long, global = true, env = "SLIPWAY_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the default build locally, with no server: sync, runtime, env, install, collectstatic.
    ///
    /// App settings (PYTHON_VERSION, PYTHON_INSTALLER, PYTHON_PACKAGE_MANAGER, PROJECT,
    /// ALLOW_EOL_PYTHON, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX,
    /// DISABLE_COLLECTSTATIC, SCM_DO_BUILD_DURING_DEPLOYMENT, and index credentials such as
    /// UV_INDEX_<NAME>_PASSWORD) are read from the environment.
    Build(BuildArgs),
    /// List the Python interpreters found on this machine.
    Runtimes(RuntimesArgs),
    /// Print the default build as a custom deployment script to start from.
    DeploymentScript,
    /// Run the service in one process: REST API, git smart HTTP, FTP, dashboard, deployments, the apps and the `<app>.localhost` proxy.
    Serve(ServeArgs),
    /// Remember a slipway server and its admin token, so client commands work from any directory.
    Login(LoginArgs),
    /// Forget the server `slipway login` remembered.
    Logout,
    /// Open an app's URL in a browser ($BROWSER, else xdg-open), or print it when there is none.
    Open(OpenArgs),
    /// Create, list, show and delete apps; reset an app's deployment password; restart, stop or start its process.
    Apps(AppsArgs),
    /// An app's settings: environment variables for its builds and the running app.
    Config(ConfigArgs),
    /// An app's deployment history, newest first.
    Deployments(AppTableArgs),
    /// An app's logs: its processes' output and a line per request, merged; or a deployment's build log.
    Logs(LogsArgs),
    /// Deploy a commit again (default: the active deployment's) and follow its log.
    Redeploy(RedeployArgs),
    /// Upload a folder and deploy it, as Kudu's zipdeploy (no git needed), and follow its log.
    Deploy(DeployArgs),
    /// List an app's kept releases (successful deployments still on disk), newest first.
    Releases(AppTableArgs),
    /// Switch an app to a kept release, with no rebuild (default: the one before the live one).
    Rollback(RollbackArgs),
    /// Stop a running deployment and everything its build started (default: the running one).
    Cancel(CancelArgs),
    /// An app's Python virtual environment (env): show it, or reset it.
    Env(EnvArgs),
    /// An app's processes (type, pid, state, uptime, restarts, memory); `ps scale` sets how many run.
    Ps(PsArgs),
    /// Run a command once in the app's live release, with its env and settings: `slipway run APP -- CMD…`.
    Run(RunArgs),
    /// An app's cron jobs (app.json's `cron`), with their last and next runs; `cron APP run N` runs one now.
    Cron(CronArgs),
    /// An app's domain names and their certificates: list, add, remove, or give one a certificate.
    Domains(DomainsArgs),
    /// The app's deployment webhook: a URL that a Git host calls on a push to deploy it from
    /// DEPLOYMENT_REPOSITORY.
    Webhook(WebhookArgs),
    /// The instances sharing the server's store: name, state, address, processes.
    Instances(InstancesArgs),
    /// The server's store: copy the embedded SQLite store into PostgreSQL.
    Db(DbArgs),
    /// Run one build described as JSON on standard input (run by `slipway serve`, not by people).
    #[command(hide = true)]
    BuildJob,
    /// git hooks of app repositories (run by git, not by people).
    #[command(hide = true)]
    Hook {
        #[arg(value_parser = ["pre-receive"])]
        name: String,
    },
}

impl Command {
    /// `serve` and what slipway runs itself (builds, git hooks): these handle a closed pipe as
    /// an error rather than dying of it.
    pub fn is_internal(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::Db(_) | Command::BuildJob | Command::Hook { .. })
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where slipway keeps its database, admin token and apps.
    #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Keep apps, settings and deployments in PostgreSQL (`postgres://USER:PASSWORD@HOST:PORT/DB`)
    /// instead of the embedded SQLite file [default: <data-dir>/slipway.db]. Prefer the
    /// environment variable: a command line is visible to every user of the host.
    #[arg(long, env = "SLIPWAY_DATABASE", hide_env_values = true, value_name = "URL")]
    pub database: Option<String>,
    /// This instance's name, when several `slipway serve` share the data dir and a PostgreSQL
    /// --database; its run time state goes to `<data-dir>/run/instances/NAME/`
    /// [default: the host's name, and `<data-dir>/run/`].
    #[arg(long, env = "SLIPWAY_INSTANCE", value_name = "NAME", value_parser = slipway_server::cluster::parse_instance_name)]
    pub instance: Option<String>,
    /// HTTP address: API, git, dashboard and `<app>.localhost` proxy.
    #[arg(long, default_value = DEFAULT_HTTP, value_name = "ADDR")]
    pub http: std::net::SocketAddr,
    /// FTP address (shown as each app's FTP host).
    #[arg(long, default_value = DEFAULT_FTP, value_name = "ADDR")]
    pub ftp: std::net::SocketAddr,
    /// Ports offered for FTP passive data connections (PASV/EPSV).
    #[arg(long, default_value = DEFAULT_FTP_PASSIVE, value_name = "FROM-TO", value_parser = parse_port_range)]
    pub ftp_passive: std::ops::RangeInclusive<u16>,
    /// Certificate chain (PEM) for explicit FTPS (AUTH TLS); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse FTP sessions that do not switch to TLS before logging in (needs --tls-cert/--tls-key).
    #[arg(long, requires = "tls_cert")]
    pub ftp_require_tls: bool,
    /// Version used when an app asks for none [default: the newest runtime found].
    #[arg(long, env = "SLIPWAY_DEFAULT_PYTHON", value_name = "VERSION")]
    pub default_python: Option<String>,
    /// Also offer this interpreter as a runtime (repeatable).
    #[arg(long, value_name = "PATH")]
    pub python: Vec<PathBuf>,
    /// The uv executable [default: `uv` on PATH].
    #[arg(long, env = "SLIPWAY_UV", value_name = "PATH")]
    pub uv: Option<PathBuf>,
    /// Give every app the name `<app>.DOMAIN` besides `<app>.localhost` (point `*.DOMAIN` here).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// A name the API, git and dashboard answer on, besides IP addresses and `localhost` (repeatable).
    #[arg(long = "admin-host", value_name = "NAME")]
    pub admin_hosts: Vec<String>,
    /// Serve HTTPS here (e.g. `0.0.0.0:443`), each domain with its own certificate from ACME.
    #[arg(long, value_name = "ADDR")]
    pub https: Option<std::net::SocketAddr>,
    /// The ACME directory certificates come from.
    #[arg(long, value_name = "URL", default_value = slipway_server::certs::acme::LETS_ENCRYPT)]
    pub acme_directory: String,
    /// The contact address of the ACME account.
    #[arg(long, value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// Trust this root certificate (PEM) for the ACME server's own HTTPS (a test CA such as pebble).
    #[arg(long, value_name = "FILE")]
    pub acme_ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BuildArgs {
    #[command(subcommand)]
    pub step: Option<BuildStep>,

    #[command(flatten)]
    pub full: FullBuildArgs,

    #[command(flatten)]
    pub cache: CacheArgs,
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
    /// Install the dependencies of the app in `<target>` into `<target>/env`, with its package
    /// manager (requirements.txt, uv.lock, poetry.lock, Pipfile.lock or pyproject.toml).
    Install {
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
        #[arg(long, env = "SLIPWAY_UV", value_name = "PATH")]
        uv: Option<PathBuf>,
        /// Where Poetry and Pipenv are kept [default: <cache-dir>/tools].
        #[arg(long, env = "SLIPWAY_TOOLS_DIR", value_name = "DIR")]
        tools_dir: Option<PathBuf>,
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
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InstancesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy the data dir's SQLite store (apps, settings, credentials, deployments) into an empty
    /// PostgreSQL database, then serve with `--database URL`. Stop `slipway serve` first.
    MigrateTo {
        /// postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set SLIPWAY_DATABASE).
        #[arg(env = "SLIPWAY_DATABASE", hide_env_values = true, value_name = "URL")]
        url: String,
        /// The data dir whose store is copied.
        #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
    },
}

/// Where the server is and where to find the admin token; shared by the client commands.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// The slipway server's address [default: the one `slipway login` stored, else http://127.0.0.1:8080].
    #[arg(long, global = true, env = "SLIPWAY_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The server's data dir, to read `<data-dir>/admin-token` [default: the token `slipway login`
    /// stored, else ./slipway-data] (env SLIPWAY_TOKEN takes precedence).
    #[arg(long, global = true, env = "SLIPWAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's address, e.g. http://127.0.0.1:8080.
    #[arg(value_name = "URL")]
    pub server: String,
    /// The admin token [default: env SLIPWAY_TOKEN, else `<--data-dir>/admin-token` when given,
    /// else read from standard input].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Read the token from this server data dir's admin-token file.
    #[arg(long, value_name = "DIR", conflicts_with = "token")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    #[command(flatten)]
    pub app: AppArg,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct AppsArgs {
    #[command(subcommand)]
    pub command: AppsCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Create an app; prints its git URL, FTP host and user, and its password (shown once).
    Create {
        /// 3 to 40 lowercase letters, digits and `-`, starting with a letter.
        name: String,
        /// Print the API's JSON answer (with the password) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List apps with their active deployment.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show an app: git URL, FTP host and user, the live and the last deployment.
    Show {
        #[command(flatten)]
        name: AppArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete an app with its repository, code, env and logs.
    Delete {
        #[command(flatten)]
        name: AppArg,
        /// Really delete it.
        #[arg(long)]
        yes: bool,
    },
    /// Make a new deployment password for an app (the old one stops working).
    ResetPassword {
        #[command(flatten)]
        name: AppArg,
        /// Print the API's JSON answer (with the password) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Start the active deployment again (a new process; the old one stops once it answers).
    Restart {
        #[command(flatten)]
        name: AppArg,
    },
    /// Stop the app's process (SIGTERM to its process group, SIGKILL after 10 s).
    Stop {
        #[command(flatten)]
        name: AppArg,
    },
    /// Start the app's active deployment.
    Start {
        #[command(flatten)]
        name: AppArg,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List an app's settings as KEY=VALUE lines (secret values masked), then the server-wide
    /// ones it does not override.
    List {
        #[command(flatten)]
        app: AppArg,
        /// Print JSON instead of KEY=VALUE lines.
        #[arg(long)]
        json: bool,
        /// Show the values in clear.
        #[arg(long)]
        reveal: bool,
        /// List the server-wide settings instead of an app's.
        #[arg(long, conflicts_with = "app")]
        global: bool,
    },
    /// Set one or more settings; the app's processes restart with them (no failed request).
    Set {
        /// `[APP] KEY=VALUE…`: the app is inferred from the git remote `slipway` when the first
        /// argument is a pair.
        #[arg(required = true, value_name = "[APP] KEY=VALUE")]
        args: Vec<String>,
        /// Store them only: they apply at the next restart or deployment.
        #[arg(long)]
        no_restart: bool,
        /// Set server-wide settings (`KEY=VALUE…`, no APP): every app that does not set the key
        /// itself gets them at its next deployment or restart.
        #[arg(long, conflicts_with = "no_restart")]
        global: bool,
    },
    /// Remove one or more settings; the app's processes restart without them.
    Unset {
        /// `[APP] KEY…`: with one argument it is the KEY, and the app is inferred from the git
        /// remote `slipway`.
        #[arg(required = true, value_name = "[APP] KEY")]
        args: Vec<String>,
        /// Remove them only: it applies at the next restart or deployment.
        #[arg(long)]
        no_restart: bool,
        /// Remove server-wide settings (`KEY…`, no APP).
        #[arg(long, conflicts_with = "no_restart")]
        global: bool,
    },
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(subcommand)]
    pub command: Option<PsCommand>,
    #[command(flatten)]
    pub table: AppTableArgs,
}

#[derive(Debug, Subcommand)]
pub enum PsCommand {
    /// Set how many processes of each type run: `slipway ps scale APP web=2 worker=1`.
    Scale {
        /// `[APP] TYPE=COUNT…`, e.g. `web=2 worker=1`.
        #[arg(required = true, value_name = "[APP] TYPE=COUNT")]
        args: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// The command and its arguments, after `--`: `slipway run APP -- python manage.py migrate`.
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct CronArgs {
    #[command(flatten)]
    pub app: AppArg,
    #[command(subcommand)]
    pub command: Option<CronCommand>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DomainsArgs {
    #[command(subcommand)]
    pub command: DomainsCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// The app's names (`<app>.localhost`, `<app>.<--domain>`, custom domains) and their certificates.
    List {
        #[command(flatten)]
        app: AppArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Route DOMAIN to the app (point its DNS at this server); with `serve --https` a certificate follows.
    Add {
        /// `[APP] DOMAIN`.
        #[arg(required = true, num_args = 1..=2, value_name = "[APP] DOMAIN")]
        args: Vec<String>,
    },
    /// Stop routing DOMAIN to the app, and forget its certificate.
    Remove {
        /// `[APP] DOMAIN`.
        #[arg(required = true, num_args = 1..=2, value_name = "[APP] DOMAIN")]
        args: Vec<String>,
    },
    /// Serve DOMAIN with your own certificate instead of one from ACME.
    Cert {
        /// `[APP] DOMAIN`.
        #[arg(required = true, num_args = 1..=2, value_name = "[APP] DOMAIN")]
        args: Vec<String>,
        /// The certificate chain, PEM.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Its private key, PEM.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// Run job N (as `slipway cron APP` numbers them) now.
    Run {
        /// The job's number in `slipway cron APP`.
        number: usize,
    },
}

/// A command that prints one app's table: `deployments`, `releases`.
#[derive(Debug, Args)]
pub struct AppTableArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// A deployment's build log instead, by its number: `v3` or `3`.
    #[arg(value_name = "VERSION", value_parser = parse_version)]
    pub number: Option<i64>,
    /// How many of the last lines to show.
    #[arg(short = 'n', long = "num", value_name = "N", default_value_t = 100, conflicts_with = "number")]
    pub lines: usize,
    /// Only the lines of this source: `web` (every web process), `web.1`, `worker`, `router`,
    /// `release`.
    #[arg(long, value_name = "SOURCE", conflicts_with = "number")]
    pub source: Option<String>,
    /// Keep printing new lines until interrupted (with VERSION: until the deployment ends).
    #[arg(short, long, visible_alias = "tail")]
    pub follow: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct RedeployArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// The deployment whose commit to deploy again [default: the active deployment], as its number: `v3` or `3`.
    #[arg(value_name = "VERSION", value_parser = parse_version)]
    pub number: Option<i64>,
    /// Delete env and create it afresh for this deployment.
    #[arg(long)]
    pub clean_env: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// Make a new secret and print the URL with it (once); the old URL stops working.
    #[arg(long)]
    pub reset: bool,
    /// Print JSON instead.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// `[APP] [DIR]`: the folder to deploy [default: the current one]; the app is inferred from
    /// the git remote `slipway` when only a folder (or nothing) is given.
    #[arg(value_name = "[APP] [DIR]", num_args = 0..=2)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// The deployment whose release goes live [default: the newest kept release older than the live one], as its number: `v3` or `3`.
    #[arg(value_name = "VERSION", value_parser = parse_version)]
    pub number: Option<i64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// The deployment to cancel [default: the one that is running or waiting], as its number: `v3` or `3`.
    #[arg(value_name = "VERSION", value_parser = parse_version)]
    pub number: Option<i64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub command: EnvCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Show env: Python version, when it was created, installer, size and packages.
    Show {
        #[command(flatten)]
        app: AppArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete env and redeploy the active commit with a fresh env; follows the deployment's log.
    Reset {
        #[command(flatten)]
        app: AppArg,
    },
}

/// A deployment's number among its app's, as `slipway deployments` shows it: `v3`, or `3`.
pub fn parse_version(text: &str) -> Result<i64, String> {
    text.strip_prefix('v')
        .unwrap_or(text)
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a deployment number such as `v3`, not `{text}`"))
}
