//! Deployments: the history, one deployment and its log, and starting one (a push, a redeploy,
//! an env reset). The deployments themselves run in [`crate::deployer`].

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Service;
use crate::app_name::AppName;
use crate::deployer::{DeployRequest, CANCELLED_BY_OPERATOR};
use crate::error::{Error, Result};
use crate::git::ObjectAccess;
use crate::store::{Deployment, Status, Trigger};

impl Service {
    /// Newest first.
    pub fn deployments(&self, app: &AppName) -> Result<Vec<Deployment>> {
        self.require_app(app)?;
        Ok(self.shared.store.deployments(app)?)
    }

    pub fn deployment_by_number(&self, app: &AppName, number: i64) -> Result<Deployment> {
        self.require_app(app)?;
        self.shared
            .store
            .deployment_by_number(app, number)?
            .ok_or_else(|| Error::NoSuchDeploymentNumber { app: app.clone(), number })
    }

    pub fn deployment(&self, app: &AppName, id: i64) -> Result<Deployment> {
        self.require_app(app)?;
        self.shared.store.deployment(app, id)?.ok_or_else(|| Error::NoSuchDeployment { app: app.clone(), id })
    }

    /// The deployment's log from byte `offset` on (to follow a running one).
    pub async fn deployment_log(&self, app: &AppName, id: i64, offset: u64) -> Result<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        if let Some(mut file) = self.deployment_log_from(app, id, offset).await? {
            file.read_to_end(&mut bytes).await.map_err(|e| Error::io("read the log of", id.to_string(), e))?;
        }
        Ok(bytes)
    }

    /// The deployment's log opened at byte `offset`, to stream; `None` before it has a log.
    pub async fn deployment_log_from(&self, app: &AppName, id: i64, offset: u64) -> Result<Option<tokio::fs::File>> {
        use tokio::io::AsyncSeekExt;
        let deployment = self.deployment(app, id)?;
        let Ok(mut file) = tokio::fs::File::open(self.paths(app).deployment_log(deployment.id)).await else {
            return Ok(None);
        };
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| Error::io("read the log of", id.to_string(), e))?;
        Ok(Some(file))
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
        let access = ObjectAccess::default();
        let request = DeployRequest { app: app.clone(), commit, clean_env, trigger, access, push: None };
        let (record, _handle) = self.deploy(request, progress).await?;
        Ok(record)
    }

    /// Cancels a deployment that has not ended: its build and everything the build started stop,
    /// and it ends `failed`, "cancelled by the operator". `None`: the newest one that runs.
    pub fn cancel(&self, app: &AppName, id: Option<i64>) -> Result<Deployment> {
        let deployment = match id {
            Some(id) => self.deployment(app, id)?,
            None => self
                .deployments(app)?
                .into_iter()
                .find(|d| !d.status.is_finished())
                .ok_or_else(|| Error::Invalid(format!("app `{app}` has no running deployment to cancel")))?,
        };
        if deployment.status.is_finished() || !self.deployer.cancel(app, deployment.id, CANCELLED_BY_OPERATOR) {
            return Err(Error::Invalid(format!(
                "deployment v{} of `{app}` has ended ({}): there is nothing to cancel",
                deployment.number, deployment.status
            )));
        }
        tracing::info!("{app}: deployment v{} cancelled by the operator", deployment.number);
        Ok(deployment)
    }

    /// The kept releases (successful deployments whose release is still on disk), newest first.
    pub fn releases(&self, app: &AppName) -> Result<Vec<Deployment>> {
        let paths = self.paths(app);
        Ok(self
            .deployments(app)?
            .into_iter()
            .filter(|d| d.status == Status::Success && paths.release(d.id).is_dir())
            .collect())
    }

    /// Switches the app to a kept release with no rebuild: `id`, or by default the newest kept
    /// release older than the live one. Returns the release now live.
    pub async fn rollback(&self, app: &AppName, id: Option<i64>) -> Result<Deployment> {
        let releases = self.releases(app)?;
        let live = releases.iter().find(|d| d.active).map(|d| d.id);
        let target = match id {
            Some(id) => {
                releases.iter().find(|d| d.id == id).cloned().ok_or_else(|| match self.deployment(app, id) {
                    Ok(d) if d.status != Status::Success => Error::Invalid(format!(
                        "deployment v{} of `{app}` {}: there is no release to roll back to",
                        d.number, d.status
                    )),
                    Ok(d) => Error::Invalid(format!(
                        "the release of deployment v{} of `{app}` is no longer kept (SCM_MAX_DEPLOYMENTS)",
                        d.number
                    )),
                    Err(e) => e,
                })?
            }
            None => releases.iter().find(|d| live.is_some_and(|live| d.id < live)).cloned().ok_or_else(|| {
                Error::Invalid(format!("app `{app}` has no kept release older than the live one to roll back to"))
            })?,
        };
        if Some(target.id) == live {
            return Err(Error::Invalid(format!(
                "deployment v{} is already the live release of `{app}`",
                target.number
            )));
        }
        self.deployer.roll_back(app, &target).await?;
        tracing::info!("{app}: rolled back to deployment v{}", target.number);
        self.deployment(app, target.id)
    }

    /// `git http-backend` of a push ended (see [`crate::deployer::Deployer::push_ended`]).
    pub fn push_ended(&self, push_id: &str) {
        self.deployer.push_ended(push_id);
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
