//! `slipway serve` from start to stop.
//!
//! Before anything else, and before the async runtime starts, [`Startup::prepare`] takes the data
//! dir: one server per data dir (an exclusive lock on `run/lock`), and this process marked as its
//! owner (see [`crate::owner`]). The caller then binds the [`Listeners`] (so it knows the
//! addresses before anything runs — tests bind port 0) and hands both to [`serve`] with a shutdown
//! future, mini-redis style. `serve` then, in order: opens the store, makes sure there is an admin
//! token, marks deployments a crash interrupted as failed, finds the Python runtimes, brings every
//! app's releases in line with the store and refreshes its git hook, stops processes a killed
//! predecessor left behind, starts the hook socket, FTP and the HTTP router, says where it listens
//! (stdout and `run/server.json`) and starts every deployed app. At shutdown it lets running
//! deployments finish, then stops the apps.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use slipway_build::runtime::{Discovery, RuntimeCatalog};
use tokio::net::TcpListener;
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

use crate::certs::acme::Acme;
use crate::certs::Certificates;
use crate::hosts::{DomainName, Hosts};

use crate::app_name::AppName;
use crate::cgroups::Cgroups;
use crate::cluster::{self, ClusterLock, Instance};
use crate::config::Config;
use crate::deployer::Deployer;
use crate::git::{self, hook};
use crate::layout::DataDir;
use crate::sandbox::{self, Isolation};
use crate::service::Service;
use crate::settings::AppSettings;
use crate::state::{Release, Shared};
use crate::store::{Copied, Location, Status, Store};
use crate::supervisor::Supervisor;
use crate::{ftp, http, owner, releases, secrets};

/// How long a stopping server waits for running deployments before recording them as failed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(120);

/// The data dir, taken: made absolute and created, locked for this server, and this process
/// marked as the owner of what it will start.
pub struct Startup {
    config: Config,
    owner: String,
    /// Held (flock) while the server runs; the kernel lets go if it dies.
    _lock: std::fs::File,
}

impl Startup {
    /// Call before the async runtime exists (it sets this process's environment).
    pub fn prepare(mut config: Config) -> anyhow::Result<Self> {
        // Absolute, because git runs the hook (which finds the server through it) in the repository.
        config.data_dir = std::path::absolute(&config.data_dir)
            .with_context(|| format!("--data-dir {}: cannot resolve it", config.data_dir.display()))?;
        let data_dir = config.data_dir();
        for dir in [data_dir.apps_dir(), data_dir.run_dir()] {
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        }
        // Nobody but the server's user reads the data dir: settings, hashes, tokens, apps.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir.root(), std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("make {} private", data_dir.root().display()))?;
        let lock = lock_data_dir(&data_dir)?;
        // The database URL may hold a password: nothing the server starts (git, hooks) inherits it.
        std::env::remove_var("SLIPWAY_DATABASE");
        // Each instance on a shared data dir stops only what it started itself.
        let owner = owner::owner_id(&data_dir.root().join(config.instance.as_deref().unwrap_or_default()));
        owner::mark_this_process(&owner);
        Ok(Startup { config, owner, _lock: lock })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// `slipway db migrate-to`: copies the data dir's SQLite store into the (empty) database at
/// `target`, holding the data dir's lock meanwhile so that no server writes to it.
pub fn migrate_store(data_dir: &Path, target: &Location) -> anyhow::Result<Copied> {
    let data_dir = DataDir::new(
        std::path::absolute(data_dir)
            .with_context(|| format!("--data-dir {}: cannot resolve it", data_dir.display()))?,
    );
    let source = data_dir.database();
    anyhow::ensure!(source.is_file(), "{}: no slipway store there (give the server's --data-dir)", source.display());
    let _lock = lock_data_dir(&data_dir).context("stop slipway serve before copying its store")?;
    let from = Store::open(&Location::Sqlite(source))?;
    let to = Store::open(target)?;
    Ok(from.copy_into(&to)?)
}

/// Takes `run/lock` for this server and writes its pid there; refuses, naming the holder's pid,
/// when another server has it.
fn lock_data_dir(data_dir: &DataDir) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = data_dir.lock_file();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            anyhow::bail!(
                "the data dir {} is in use by another slipway serve (pid {}): stop it, or give this one another --data-dir (or, with a PostgreSQL --database, an --instance name of its own)",
                data_dir.root().display(),
                holder.trim()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("lock {}", path.display())),
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

/// The sockets `serve` accepts connections on, and the certificate of the HTTP one.
pub struct Listeners {
    /// API, git, dashboard and the app proxy.
    pub http: TcpListener,
    pub ftp: TcpListener,
    /// With `--https`: the same, over TLS, each domain with its own certificate.
    pub https: Option<TcpListener>,
    /// With `--tls-cert/--tls-key`: the HTTP port speaks HTTPS with this certificate, which the
    /// HTTPS listener also presents for names without their own.
    pub tls: Option<Arc<CertifiedKey>>,
}

impl Listeners {
    /// Binds the listeners; bad certificate files stop the start here, before anything listens.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let tls = config.tls.as_ref().map(http::tls::certified_key).transpose()?;
        let http = TcpListener::bind(config.http).await.with_context(|| format!("listen on {}", config.http))?;
        let ftp = ftp::bind(config).await?;
        let https = match config.https {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| format!("listen on {addr} (--https)"))?),
            None => None,
        };
        Ok(Listeners { http, ftp, https, tls })
    }
}

/// What a running server writes to `<data-dir>/run/server.json` once it accepts connections:
/// scripts and tests read its addresses there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    pub pid: u32,
    /// `http://127.0.0.1:8080` (or `https://…`).
    pub url: String,
    pub ftp: SocketAddr,
    /// `https://127.0.0.1:8443`, with `--https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
    pub data_dir: PathBuf,
}

/// Runs the server until `shutdown` resolves, then lets running deployments finish.
pub async fn serve(
    startup: Startup,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Startup { config, owner, _lock } = startup;
    let data_dir = config.data_dir();
    let location = config.database.clone().unwrap_or_else(|| Location::Sqlite(data_dir.database()));
    let store = Store::open(&location)?;
    let instance = Instance::new(config.instance_name());
    tracing::info!("store: {location}; this instance: {}", instance.name);
    ensure_admin_token(&store, &data_dir)?;
    let discovery = Discovery::from_process_env(config.pythons.clone(), Some(data_dir.runtime_cache()));
    let runtimes = RuntimeCatalog::discover(&discovery)?;
    tracing::info!("runtimes: {}", runtimes.describe_versions());
    let uv = config.uv.clone().or_else(|| which("uv")).map(|uv| std::fs::canonicalize(&uv).unwrap_or(uv));
    let isolation = Isolation::detect(sandbox_tools(&runtimes, uv.as_deref(), &config.slipway_exe))?;
    if !isolation.is_sandboxed() {
        let warning = "slipway serve runs as an ordinary user: every app runs as that user, and apps are not isolated from each other or from slipway's data (run it as root to give each app its own user and sandbox)";
        tracing::warn!("{warning}");
        println!("warning: {warning}");
    }
    let cgroups = Cgroups::detect(&owner);
    tracing::info!("resource limits (MEMORY_LIMIT, CPU_LIMIT, PROCESS_LIMIT): {}", cgroups.describe());
    let stopped = owner::stop_leftovers(&owner).await;
    if stopped > 0 {
        tracing::warn!("stopped {stopped} process groups an earlier server of this data dir left running");
    }
    let hook_socket = data_dir.hook_socket();
    let hook_listener =
        hook::bind(&hook_socket).with_context(|| format!("listen on the hook socket {}", hook_socket.display()))?;

    let hosts = hosts(&config, &store)?;
    let acme = config.https.map(|_| Acme::new(config.acme.clone(), data_dir.acme()));
    let certs = Arc::new(Certificates::load(data_dir.certs(), listeners.tls.clone(), acme));
    let shared = Arc::new(Shared {
        instance,
        notices: Default::default(),
        http_addr: listeners.http.local_addr()?,
        https_addr: listeners.https.as_ref().map(TcpListener::local_addr).transpose()?,
        hosts,
        certs: certs.clone(),
        ftp_addr: listeners.ftp.local_addr()?,
        placement: Box::new(Supervisor::new(data_dir.clone(), isolation.clone(), cgroups.clone())),
        metrics: crate::metrics::Metrics::default(),
        commands: Default::default(),
        waking: Default::default(),
        isolation,
        cgroups,
        uv,
        hook_token: secrets::generate_token(),
        logins: Default::default(),
        config,
        data_dir,
        store,
        runtimes,
    });
    cluster::recover_orphans(&shared, true);
    git::install_hook(&shared.data_dir.git_hooks(), &shared.config.slipway_exe)
        .map_err(|e| anyhow::anyhow!("installing slipway's git hook: {e}"))?;
    for app in shared.store.app_names()? {
        // An app another instance deploys right now is that instance's to tidy.
        if let Some(_lock) = ClusterLock::try_take(&shared, &app) {
            recover_app(&shared, &app);
        }
    }
    let deployer = Arc::new(Deployer::new(shared.clone()));
    let service = Service::new(shared.clone(), deployer.clone());
    let hook_task = tokio::spawn(hook::serve(hook_listener, service.clone()));
    let ftp_task = tokio::spawn(ftp::serve(listeners.ftp, service.clone()));
    announce(&shared)?;
    tokio::spawn(start_deployed_apps(service.clone()));
    let cron_task = tokio::spawn(run_cron_jobs(service.clone()));
    let idle_task = tokio::spawn(sleep_idle_apps(service.clone()));
    let renew_task = tokio::spawn(renew_certificates(service.clone()));
    let observe_task = tokio::spawn(observe_processes(service.clone()));
    let listen_task = tokio::spawn(follow_other_instances(service.clone()));
    let stopping = CancellationToken::new();
    let router = http::router(service);
    let https_task = listeners.https.map(|listener| {
        let config = http::tls::server_config(certs.resolver());
        let (router, stopping) = (router.clone(), stopping.clone());
        tokio::spawn(async move {
            http::listen::serve(listener, router, Some(config?), stopping).await.map_err(anyhow::Error::from)
        })
    });
    let http_tls =
        listeners.tls.map(|key| http::tls::server_config(Arc::new(http::tls::SingleCert(key)))).transpose()?;
    let http_task = tokio::spawn(http::listen::serve(listeners.http, router, http_tls, stopping.clone()));
    shutdown.await;
    stopping.cancel();
    http_task.await??;
    if let Some(task) = https_task {
        task.await??;
    }

    cron_task.abort();
    idle_task.abort();
    renew_task.abort();
    ftp_task.abort();
    tracing::info!("stopping: waiting for running deployments");
    if !deployer.drain(SHUTDOWN_GRACE).await {
        cluster::recover_orphans(&shared, true);
    }
    observe_task.abort();
    listen_task.abort();
    let _ = shared.store.remove_instance(&shared.instance.name);
    hook_task.abort();
    shared.placement.stop_all().await;
    shared.cgroups.remove_all();
    let _ = std::fs::remove_file(shared.data_dir.hook_socket());
    let _ = std::fs::remove_file(shared.data_dir.server_info());
    Ok(())
}

/// What builds and apps need to read besides the system: each runtime's installation (its
/// `bin/..`), uv, and the slipway executable (builds run `slipway build-job`).
fn sandbox_tools(runtimes: &RuntimeCatalog, uv: Option<&Path>, slipway: &Path) -> Vec<PathBuf> {
    let mut tools: Vec<PathBuf> = runtimes
        .runtimes
        .iter()
        .filter_map(|r| r.path.parent().and_then(Path::parent).map(Path::to_path_buf))
        .collect();
    tools.extend(uv.map(Path::to_path_buf));
    tools.push(std::fs::canonicalize(slipway).unwrap_or_else(|_| slipway.to_path_buf()));
    tools.sort();
    tools.dedup();
    tools
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// Prints where the server listens and writes it to `run/server.json` (atomically).
fn announce(shared: &Shared) -> anyhow::Result<()> {
    let info = ServerInfo {
        pid: std::process::id(),
        url: format!("{}://{}", shared.config.http_scheme(), shared.http_addr),
        ftp: shared.ftp_addr,
        https: shared.https_addr.map(|addr| format!("https://{addr}")),
        data_dir: shared.data_dir.root().to_path_buf(),
    };
    let path = shared.data_dir.server_info();
    let mut file = tempfile::NamedTempFile::new_in(shared.data_dir.run_dir())
        .with_context(|| format!("write {}", path.display()))?;
    serde_json::to_writer_pretty(&mut file, &info)?;
    file.persist(&path).with_context(|| format!("write {}", path.display()))?;
    println!("slipway ftp listening on ftp://{}", info.ftp);
    println!("slipway listening on {} (data dir {})", info.url, info.data_dir.display());
    if let Some(https) = &info.https {
        println!("slipway listening on {https} (each domain with its own certificate)");
    }
    Ok(())
}

/// After a (re)start: the app's releases agree with the store (the live one is the store's, a
/// release a crash left half-built is gone), and its git hook runs this server's binary.
fn recover_app(shared: &Shared, app: &AppName) {
    let Shared { store, data_dir, isolation, .. } = shared;
    let paths = data_dir.app(app);
    let ids = isolation.is_sandboxed().then(|| store.app_number(app).ok().flatten().map(sandbox::app_ids)).flatten();
    if let Err(e) = sandbox::prepare_home(&paths, ids) {
        tracing::warn!("setting the owners and modes of {app}'s home: {e}");
    }
    let deployments = store.deployments(app).unwrap_or_default();
    let live = deployments.iter().find(|d| d.active).map(|d| d.id);
    let kept = deployments.iter().filter(|d| d.status == Status::Success).map(|d| d.id).collect();
    if let Err(e) = releases::recover(&paths, live, &kept) {
        tracing::warn!("recovering the releases of {app}: {e}");
    }
    // A repository made before the hooks moved out of the app homes has its own: it goes, so
    // that nothing in an app home looks as if git ran it.
    let _ = std::fs::remove_file(paths.repository().join("hooks/pre-receive"));
}

/// After a (re)start, every app with an active deployment is started again.
async fn start_deployed_apps(service: Service) {
    let shared = service.shared();
    for app in shared.store.app_names().unwrap_or_default() {
        let Ok(Some(active)) = shared.store.active_deployment(&app) else { continue };
        let settings = AppSettings::new(shared.store.settings(&app).unwrap_or_default());
        let log = |line: &str| tracing::info!("{line}");
        match shared.start_release(&app, Release::of(&active), &settings, &log).await {
            Ok(()) => tracing::info!("started {app}"),
            Err(e) => tracing::warn!("starting {app}: {e}"),
        }
    }
}

/// Once a minute, on the minute: every app's cron jobs that are due.
async fn run_cron_jobs(service: Service) {
    loop {
        let now = chrono::Utc::now();
        let next = now + chrono::TimeDelta::seconds(60 - i64::from(now.timestamp() as u32 % 60));
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        service.run_due_cron_jobs(next).await;
    }
}

/// How often certificates are checked for renewal (also once at start).
const RENEWAL_CHECK: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

async fn renew_certificates(service: Service) {
    loop {
        service.renew_certificates().await;
        tokio::time::sleep(RENEWAL_CHECK).await;
    }
}

/// The host table: `--domain`, `--admin-host`, and the custom domains stored.
fn hosts(config: &Config, store: &Store) -> anyhow::Result<Hosts> {
    let base = config
        .domain
        .as_deref()
        .map(|d| DomainName::parse(d).map_err(|e| anyhow::anyhow!("--domain: {e}")))
        .transpose()?;
    let hosts = Hosts::new(base, config.admin_hosts.clone());
    hosts.set_domains(store.domains()?);
    Ok(hosts)
}

/// How often apps are checked against their `IDLE_TIMEOUT`.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Every [`cluster::HEARTBEAT`]: each app's processes are read once (off the async threads: it
/// reads /proc) for the memory and CPU charts and for this instance's heartbeat; then deployments
/// and runs of instances that died are failed.
async fn observe_processes(service: Service) {
    loop {
        let observing = service.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let running = observing.sample_usage();
            observing.beat_and_sweep(running);
        })
        .await;
        tokio::time::sleep(cluster::HEARTBEAT).await;
    }
}

/// What the other instances say about apps, applied to this one's processes.
async fn follow_other_instances(service: Service) {
    let Some(mut notices) = service.shared().store.listen() else { return };
    while let Some(notice) = notices.recv().await {
        let service = service.clone();
        tokio::spawn(async move { service.follow(notice).await });
    }
}

async fn sleep_idle_apps(service: Service) {
    loop {
        tokio::time::sleep(IDLE_CHECK).await;
        service.sleep_idle_apps().await;
    }
}

/// First start: a new admin token, written to `<data-dir>/admin-token` (0600) and stored hashed.
fn ensure_admin_token(store: &Store, data_dir: &DataDir) -> anyhow::Result<()> {
    let path = data_dir.admin_token();
    match std::fs::read_to_string(&path) {
        Ok(token) => {
            // The file is the operator's: if the database is new, adopt it.
            let hash = secrets::token_sha256(token.trim());
            if store.admin_token_hash()?.as_deref() != Some(hash.as_str()) {
                store.set_admin_token_hash(&hash)?;
            }
        }
        Err(_) => {
            let token = secrets::generate_token();
            secrets::write_token_file(&path, &token)?;
            store.set_admin_token_hash(&secrets::token_sha256(&token))?;
            println!("admin token written to {} (mode 0600)", path.display());
        }
    }
    Ok(())
}
