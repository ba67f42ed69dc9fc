//! What every part of the server shares.

use std::sync::Arc;

use slipway_build::RuntimeCatalog;

use crate::apps::AppPaths;
use crate::config::Config;
use crate::deployments::Deployer;
use crate::store::Store;

pub struct Shared {
    pub config: Config,
    pub store: Store,
    /// Probed once at start.
    pub runtimes: RuntimeCatalog,
    /// The address the HTTP listener really got (port 0 resolved).
    pub http_addr: std::net::SocketAddr,
    /// The address the FTP listener really got (port 0 resolved): the apps' FTP host.
    pub ftp_addr: std::net::SocketAddr,
    /// Given to git's hook through its environment; proves a hook connection comes from a push
    /// this server started.
    pub hook_token: String,
    pub hook_socket: std::path::PathBuf,
    pub supervisor: crate::supervisor::Supervisor,
}

impl Shared {
    pub fn app_paths(&self, app: &str) -> AppPaths {
        AppPaths::new(&self.config.data_dir, app)
    }

    pub fn app_exists(&self, app: &str) -> anyhow::Result<bool> {
        Ok(self.store.app_created_at(app)?.is_some())
    }
}

#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    pub deployer: Arc<Deployer>,
    pub proxy: crate::proxy::HttpClient,
}
