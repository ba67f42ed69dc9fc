//! Deployments: the history, one deployment and its log, and starting one (a push, a redeploy,
//! an env reset). The deployments themselves run in [`crate::deployer`].

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Service;
use crate::app_name::AppName;
use crate::deployer::DeployRequest;
use crate::error::{Error, Result};
use crate::git::ObjectAccess;
use crate::store::{Deployment, Trigger};

impl Service {
    /// Newest first.
    pub fn deployments(&self, app: &AppName) -> Result<Vec<Deployment>> {
        self.require_app(app)?;
        Ok(self.shared.store.deployments(app)?)
    }

    pub fn deployment(&self, app: &AppName, id: i64) -> Result<Deployment> {
        self.require_app(app)?;
        self.shared.store.deployment(app, id)?.ok_or_else(|| Error::NoSuchDeployment { app: app.clone(), id })
    }

    /// The deployment's log from byte `offset` on (to follow a running one).
    pub async fn deployment_log(&self, app: &AppName, id: i64, offset: u64) -> Result<Vec<u8>> {
        let deployment = self.deployment(app, id)?;
        let mut bytes = tokio::fs::read(self.paths(app).deployment_log(deployment.id)).await.unwrap_or_default();
        let start = (offset as usize).min(bytes.len());
        bytes.drain(..start);
        Ok(bytes)
    }

    pub fn active_deployment(&self, app: &AppName) -> Result<Option<Deployment>> {
        self.require_app(app)?;
        Ok(self.shared.store.active_deployment(app)?)
    }

    /// Deploys a kept deployment's commit again; it runs on in the background.
    pub async fn redeploy(&self, app: &AppName, id: i64, clean_env: bool) -> Result<Deployment> {
        let deployment = self.deployment(app, id)?;
        self.start_in_background(app, deployment.commit, clean_env, Trigger::Redeploy).await
    }

    /// Starts a deployment of a commit already in the repository; nobody watches it live (its
    /// log is on disk and in the API).
    pub(crate) async fn start_in_background(
        &self,
        app: &AppName,
        commit: String,
        clean_env: bool,
        trigger: Trigger,
    ) -> Result<Deployment> {
        let (progress, _) = mpsc::unbounded_channel::<String>();
        let request = DeployRequest { app: app.clone(), commit, clean_env, trigger, access: ObjectAccess::default() };
        let (record, _handle) = self.deploy(request, progress).await?;
        Ok(record)
    }

    /// Records the deployment and starts it; the handle ends with the final record. Log lines
    /// arrive on `progress` as they are written (git's hook relays them to the pusher).
    pub async fn deploy(
        &self,
        request: DeployRequest,
        progress: mpsc::UnboundedSender<String>,
    ) -> Result<(Deployment, JoinHandle<Deployment>)> {
        self.require_app(&request.app)?;
        self.deployer.start(request, progress).await
    }
}
