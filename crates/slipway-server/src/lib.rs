//! `slipway serve`: one process holding the store, the REST API, git smart HTTP and the
//! deployments, built on the engine in `slipway-build`.
//!
//! [`serve`] takes its listeners' configuration and a shutdown future, mini-redis style, so tests
//! start the real server on port 0 in a temporary data dir.

pub mod api;
pub mod apps;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod deployments;
pub mod env_info;
pub mod error;
pub mod ftp;
pub mod git;
pub mod git_http;
pub mod hook;
pub mod https;
pub mod proxy;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod vfs;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::any;
use axum::Router;
use slipway_build::runtime::{Discovery, RuntimeCatalog};

use crate::config::Config;
use crate::deployments::Deployer;
use crate::state::{AppState, Shared};
use crate::store::Store;

pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// How long a stopping server waits for running deployments before recording them as failed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(120);
const INTERRUPTED: &str = "slipway stopped while this deployment was running";

/// Runs the server until `shutdown` resolves, then lets running deployments finish.
pub async fn serve(mut config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    // Absolute, because git runs the hook (which finds the server through it) in the repository.
    config.data_dir =
        std::path::absolute(&config.data_dir).with_context(|| format!("resolve {}", config.data_dir.display()))?;
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir.join("apps"))
        .with_context(|| format!("create data dir {}", data_dir.display()))?;
    let store = Store::open(&data_dir.join("slipway.db"))?;
    ensure_admin_token(&store, data_dir)?;
    // Bad certificate files stop the start here, before anything listens.
    let tls = config.tls.as_ref().map(https::server_config).transpose()?;
    for (app, id) in store.fail_interrupted(INTERRUPTED)? {
        tracing::warn!(
            "deployment {id} of {app} was interrupted by a stop; marked failed, its next deployment builds a fresh env"
        );
    }
    let runtimes =
        RuntimeCatalog::discover(&Discovery::from_process_env(config.pythons.clone(), Some(data_dir.join("cache"))))?;
    tracing::info!("runtimes: {}", runtimes.describe_versions());
    for app in store.app_names()? {
        let repo = apps::AppPaths::new(data_dir, &app).repository();
        if let Err(e) = git::install_hook(&repo, &config.slipway_exe) {
            tracing::warn!("refreshing the git hook of {app}: {e:#}");
        }
    }

    let listener =
        tokio::net::TcpListener::bind(config.http).await.with_context(|| format!("listen on {}", config.http))?;
    let http_addr = listener.local_addr()?;
    let ftp_listener = ftp::bind(&config).await?;
    let ftp_addr = ftp_listener.local_addr()?;
    let hook_socket = data_dir.join("run/hook.sock");
    let hook_listener = bind_hook_socket(&hook_socket)?;
    let supervisor = supervisor::Supervisor::new(data_dir.clone());
    let shared = Arc::new(Shared {
        config,
        store,
        runtimes,
        http_addr,
        ftp_addr,
        hook_token: secrets::generate_token(),
        hook_socket,
        supervisor,
    });
    let deployer = Arc::new(Deployer::new(shared.clone()));
    let state = AppState { shared: shared.clone(), deployer: deployer.clone(), proxy: proxy::client() };
    tokio::spawn(hook::serve(hook_listener, shared.clone(), deployer.clone()));

    let router = Router::new()
        .nest("/api", api::router(state.clone()).layer(DefaultBodyLimit::max(api::MAX_JSON_BODY)))
        .route("/git/{repo}/{*rest}", any(git_http::handle))
        .merge(dashboard::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state.clone(), proxy::route_app_hosts))
        .with_state(state);
    let ftp_task = tokio::spawn(ftp::serve(ftp_listener, shared.clone()));
    println!("slipway ftp listening on ftp://{ftp_addr}");
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("slipway listening on {scheme}://{http_addr} (data dir {})", shared.config.data_dir.display());
    shared.supervisor.stop_orphans().await;
    tokio::spawn(start_active_releases(shared.clone()));
    match tls {
        Some(config) => https::serve(listener, router, config, shutdown).await?,
        None => {
            use axum::serve::ListenerExt;
            // TCP_NODELAY: proxied responses otherwise stall ~40 ms on delayed ACKs.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }

    ftp_task.abort();
    tracing::info!("stopping: waiting for running deployments");
    if !deployer.drain(SHUTDOWN_GRACE).await {
        shared.store.fail_interrupted(INTERRUPTED)?;
    }
    shared.supervisor.stop_all().await;
    let _ = std::fs::remove_file(&shared.hook_socket);
    Ok(())
}

/// After a (re)start, every app with an active deployment is started again.
async fn start_active_releases(shared: Arc<Shared>) {
    let Ok(names) = shared.store.app_names() else { return };
    for app in names {
        if !matches!(shared.store.active_deployment(&app), Ok(Some(_))) {
            continue;
        }
        let settings = shared.store.settings(&app).unwrap_or_default();
        let log = |line: &str| tracing::info!("{line}");
        let request = supervisor::ReleaseRequest { app: &app, settings: &settings, log: &log };
        match shared.supervisor.release(request).await {
            Ok(()) => tracing::info!("started {app}"),
            Err(e) => tracing::warn!("starting {app}: {e}"),
        }
    }
}

/// First start: a new admin token, written to `<data-dir>/admin-token` (0600) and stored hashed.
fn ensure_admin_token(store: &Store, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
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

fn bind_hook_socket(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().expect("socket has a directory");
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path).with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}
