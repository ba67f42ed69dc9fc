//! The service layer: every operation on apps, their settings, credentials, deployments and env,
//! implemented once. The REST API, the dashboard, git's hook and FTP all call it and map its
//! [`Error`](crate::error::Error)s to their own answers, so a dashboard button, its API route and
//! the CLI command (which calls the API) cannot disagree.
//!
//! One module per concept: [`apps`], [`credentials`], [`settings`], [`deployments`], [`env`],
//! [`logs`] (the app's log), [`processes`] (ps, scale, idle), [`runs`] (one-off commands), [`cron`], [`domains`] (names
//! and certificates), [`zipdeploy`] (code uploaded as an archive),
//! [`hooks`] (the deployment webhook), [`instances`] (several instances on one store). They all add methods
//! to [`Service`].

pub mod apps;
pub mod credentials;
pub mod cron;
pub mod deployments;
pub mod domains;
pub mod env;
pub mod hooks;
pub mod instances;
pub mod logs;
pub mod processes;
pub mod runs;
pub mod settings;
pub mod zipdeploy;

use std::sync::Arc;

use slipway_build::RuntimeCatalog;

use crate::app_name::AppName;
use crate::deployer::Deployer;
use crate::error::{Error, Result};
use crate::layout::AppPaths;
use crate::state::Shared;

/// A handle on the service layer; cheap to clone.
#[derive(Clone)]
pub struct Service {
    shared: Arc<Shared>,
    deployer: Arc<Deployer>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Service")
    }
}

impl Service {
    pub fn new(shared: Arc<Shared>, deployer: Arc<Deployer>) -> Self {
        Service { shared, deployer }
    }

    /// What the server was started with, and where it listens.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    pub fn runtimes(&self) -> &RuntimeCatalog {
        &self.shared.runtimes
    }

    /// The app's paths, once it is known to exist.
    pub fn paths(&self, app: &AppName) -> AppPaths {
        self.shared.data_dir.app(app)
    }

    /// [`Error::NoSuchApp`] unless the app exists.
    pub fn require_app(&self, app: &AppName) -> Result<()> {
        match self.shared.store.app_created_at(app)? {
            Some(_) => Ok(()),
            None => Err(Error::NoSuchApp(app.to_string())),
        }
    }

    /// Runs blocking work (file trees, argon2, git) off the async workers.
    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce(&Shared) -> Result<T> + Send + 'static) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || work(&shared)).await?
    }
}
