//! `slipway serve` from start to stop.
//!
//! The caller binds the [`Listeners`] (so it knows the addresses before anything runs — tests
//! bind port 0) and hands them to [`serve`] with a shutdown future, mini-redis style. `serve`
//! then, in order: opens the store, makes sure there is an admin token, marks deployments a
//! crash interrupted as failed, finds the Python runtimes, refreshes the git hooks, starts the
//! hook socket, FTP and the HTTP router, says where it listens (stdout and `run/server.json`),
//! stops processes a killed predecessor left behind and starts every deployed app. At shutdown it
//! lets running deployments finish, then stops the apps.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use slipway_build::runtime::{Discovery, RuntimeCatalog};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use crate::config::Config;
use crate::deployer::Deployer;
use crate::git::{self, hook};
use crate::layout::DataDir;
use crate::service::Service;
use crate::settings::AppSettings;
use crate::state::Shared;
use crate::store::Store;
use crate::supervisor::{StartRequest, Supervisor};
use crate::{ftp, http, secrets};

/// How long a stopping server waits for running deployments before recording them as failed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(120);
const INTERRUPTED: &str = "slipway stopped while this deployment was running";

/// The sockets `serve` accepts connections on, and the TLS configuration of the HTTP one.
pub struct Listeners {
    /// API, git, dashboard and the app proxy.
    pub http: TcpListener,
    pub ftp: TcpListener,
    /// With `--tls-cert/--tls-key`: the HTTP port speaks HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Listeners {
    /// Binds both listeners; bad certificate files stop the start here, before anything listens.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let tls = config.tls.as_ref().map(http::tls::server_config).transpose()?;
        let http = TcpListener::bind(config.http).await.with_context(|| format!("listen on {}", config.http))?;
        let ftp = ftp::bind(config).await?;
        Ok(Listeners { http, ftp, tls })
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
    pub data_dir: PathBuf,
}

/// Runs the server until `shutdown` resolves, then lets running deployments finish.
pub async fn serve(
    mut config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Absolute, because git runs the hook (which finds the server through it) in the repository.
    config.data_dir = std::path::absolute(&config.data_dir)
        .with_context(|| format!("--data-dir {}: cannot resolve it", config.data_dir.display()))?;
    let data_dir = DataDir::new(config.data_dir.clone());
    let apps_dir = data_dir.apps_dir();
    std::fs::create_dir_all(&apps_dir).with_context(|| format!("create data dir {}", apps_dir.display()))?;
    let store = Store::open(&data_dir.database())?;
    ensure_admin_token(&store, &data_dir)?;
    for (app, id) in store.fail_interrupted(INTERRUPTED)? {
        tracing::warn!(
            "deployment {id} of {app} was interrupted by a stop; marked failed, its next deployment builds a fresh env"
        );
    }
    let discovery = Discovery::from_process_env(config.pythons.clone(), Some(data_dir.runtime_cache()));
    let runtimes = RuntimeCatalog::discover(&discovery)?;
    tracing::info!("runtimes: {}", runtimes.describe_versions());
    refresh_git_hooks(&store, &data_dir, &config);
    let hook_socket = data_dir.hook_socket();
    let hook_listener =
        hook::bind(&hook_socket).with_context(|| format!("listen on the hook socket {}", hook_socket.display()))?;

    let shared = Arc::new(Shared {
        http_addr: listeners.http.local_addr()?,
        ftp_addr: listeners.ftp.local_addr()?,
        supervisor: Supervisor::new(data_dir.clone()),
        hook_token: secrets::generate_token(),
        config,
        data_dir,
        store,
        runtimes,
    });
    let deployer = Arc::new(Deployer::new(shared.clone()));
    let service = Service::new(shared.clone(), deployer.clone());
    let hook_task = tokio::spawn(hook::serve(hook_listener, service.clone()));
    let ftp_task = tokio::spawn(ftp::serve(listeners.ftp, service.clone()));
    announce(&shared)?;
    shared.supervisor.stop_orphans().await;
    tokio::spawn(start_deployed_apps(service.clone()));
    http::serve(listeners.http, http::router(service), listeners.tls, shutdown).await?;

    ftp_task.abort();
    tracing::info!("stopping: waiting for running deployments");
    if !deployer.drain(SHUTDOWN_GRACE).await {
        shared.store.fail_interrupted(INTERRUPTED)?;
    }
    hook_task.abort();
    shared.supervisor.stop_all().await;
    let _ = std::fs::remove_file(shared.data_dir.hook_socket());
    let _ = std::fs::remove_file(shared.data_dir.server_info());
    Ok(())
}

/// Prints where the server listens and writes it to `run/server.json` (atomically).
fn announce(shared: &Shared) -> anyhow::Result<()> {
    let info = ServerInfo {
        pid: std::process::id(),
        url: format!("{}://{}", shared.config.http_scheme(), shared.http_addr),
        ftp: shared.ftp_addr,
        data_dir: shared.data_dir.root().to_path_buf(),
    };
    let path = shared.data_dir.server_info();
    let mut file = tempfile::NamedTempFile::new_in(shared.data_dir.run_dir())
        .with_context(|| format!("write {}", path.display()))?;
    serde_json::to_writer_pretty(&mut file, &info)?;
    file.persist(&path).with_context(|| format!("write {}", path.display()))?;
    println!("slipway ftp listening on ftp://{}", info.ftp);
    println!("slipway listening on {} (data dir {})", info.url, info.data_dir.display());
    Ok(())
}

/// Rewrites every app's git hook, so it runs this server's binary even if it moved.
fn refresh_git_hooks(store: &Store, data_dir: &DataDir, config: &Config) {
    for app in store.app_names().unwrap_or_default() {
        if let Err(e) = git::install_hook(&data_dir.app(&app).repository(), &config.slipway_exe) {
            tracing::warn!("refreshing the git hook of {app}: {e}");
        }
    }
}

/// After a (re)start, every app with an active deployment is started again.
async fn start_deployed_apps(service: Service) {
    let shared = service.shared();
    for app in shared.store.app_names().unwrap_or_default() {
        if !matches!(shared.store.active_deployment(&app), Ok(Some(_))) {
            continue;
        }
        let settings = AppSettings::new(shared.store.settings(&app).unwrap_or_default());
        let log = |line: &str| tracing::info!("{line}");
        match shared.supervisor.start(StartRequest { app: &app, settings: &settings, log: &log }).await {
            Ok(()) => tracing::info!("started {app}"),
            Err(e) => tracing::warn!("starting {app}: {e}"),
        }
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
