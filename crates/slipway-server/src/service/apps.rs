//! Apps: create, list, show, delete, and their running process (restart, stop, output).

use serde::Serialize;
use time::OffsetDateTime;

use super::Service;
use crate::app_name::AppName;
use crate::cluster::AppEvent;
use crate::error::{Error, Result};
use crate::store::{Deployment, Trigger};
use crate::supervisor::ProcessInfo;
use crate::{git, releases, sandbox, secrets};

/// An app as every front-end shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppSummary {
    pub name: AppName,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `ftp://host:port`; the user is the app's name, the password its deployment password.
    pub ftp_host: String,
    pub ftp_user: String,
    pub active_deployment: Option<Deployment>,
    /// The newest deployment, whatever became of it: a failed one here while another is live
    /// means the last push did not go live.
    pub last_deployment: Option<Deployment>,
    pub process: ProcessInfo,
    /// Where the running app answers: `http://<app>.localhost:<port>/`.
    pub url: String,
    /// The deployment branch (`DEPLOYMENT_BRANCH`) and the commit it points to.
    pub branch: String,
    pub branch_head: Option<String>,
    /// Whether the live release is the branch's head; `false` after a rollback, or a redeploy of
    /// an older commit. `None` while nothing is deployed.
    pub live_is_branch_head: Option<bool>,
    /// Where the live release's code came from. `None` while nothing is deployed.
    pub live_from: Option<LiveFrom>,
}

/// Where the live release's code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveFrom {
    /// The deployment branch's head.
    BranchHead,
    /// Another commit of the repository: a rollback, or a redeploy of an older commit.
    OtherCommit,
    /// An upload (`slipway deploy`, `POST …/zipdeploy`).
    Zipdeploy,
    /// A push to `DEPLOYMENT_REPOSITORY`, fetched by the deployment webhook.
    Webhook,
}

impl LiveFrom {
    fn of(live: &Deployment, branch_head: Option<&String>) -> Self {
        match live.trigger {
            Trigger::Zipdeploy => LiveFrom::Zipdeploy,
            Trigger::Webhook => LiveFrom::Webhook,
            _ if Some(&live.commit) == branch_head => LiveFrom::BranchHead,
            _ => LiveFrom::OtherCommit,
        }
    }
}

/// A new app and its deployment password, which is shown this once.
pub struct CreatedApp {
    pub name: AppName,
    pub password: String,
}

impl Service {
    pub fn app_names(&self) -> Result<Vec<AppName>> {
        Ok(self.shared.store.app_names()?)
    }

    pub fn app(&self, app: &AppName) -> Result<AppSummary> {
        let shared = &self.shared;
        let created_at = shared.store.app_created_at(app)?.ok_or_else(|| Error::NoSuchApp(app.to_string()))?;
        let active = shared.store.active_deployment(app)?;
        let branch = self.settings(app)?.deployment_branch().to_string();
        let branch_head = git::ref_value(&self.paths(app).repository(), &format!("refs/heads/{branch}"))?;
        Ok(AppSummary {
            name: app.clone(),
            created_at,
            ftp_host: format!("ftp://{}", shared.ftp_addr),
            ftp_user: app.to_string(),
            live_is_branch_head: active.as_ref().map(|d| Some(&d.commit) == branch_head.as_ref()),
            live_from: active.as_ref().map(|d| LiveFrom::of(d, branch_head.as_ref())),
            active_deployment: active,
            last_deployment: shared.store.newest_deployment(app)?,
            process: shared.placement.info(app),
            url: format!("http://{app}.localhost:{}/", shared.http_addr.port()),
            branch,
            branch_head,
        })
    }

    /// Creates the app (record, folders, git repository) with a new deployment password.
    pub async fn create_app(&self, name: AppName) -> Result<CreatedApp> {
        let password = secrets::generate_password();
        let hashed = password.clone();
        let app = name.clone();
        let created = self
            .blocking(move |shared| {
                let hash = secrets::hash_password(&hashed);
                if !shared.store.create_app(&app, &hash)? {
                    return Ok(false);
                }
                let paths = shared.data_dir.app(&app);
                let made = (|| {
                    for dir in [paths.deployments(), paths.log_files()] {
                        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", dir, e))?;
                    }
                    releases::create(&paths).map_err(|e| Error::io("create", paths.wwwroot(), e))?;
                    git::init_repository(&paths.repository())?;
                    let ids = shared.app_ids(&app)?;
                    let ids = shared.isolation.is_sandboxed().then_some(ids);
                    sandbox::prepare_home(&paths, ids)
                        .map_err(|e| Error::io("set the owners of", paths.home.clone(), e))
                })();
                if let Err(e) = made {
                    let _ = shared.store.delete_app(&app);
                    let _ = std::fs::remove_dir_all(&paths.home);
                    return Err(e);
                }
                Ok(true)
            })
            .await?;
        if !created {
            return Err(Error::AppExists(name));
        }
        tracing::info!("created app {name}");
        self.obtain_base_certificate(&name);
        Ok(CreatedApp { name, password })
    }

    /// Stops the app and deletes everything of it: record, repository, releases, env and logs.
    /// Its deployments are cancelled first, and none can start while it goes.
    pub async fn delete_app(&self, app: &AppName) -> Result<()> {
        self.require_app(app)?;
        self.deployer.cancel_all(app, "the app is being deleted");
        self.deployer.settle(app).await;
        let _no_deployments = self.deployer.lock_app(app).await;
        self.shared.placement.remove(app).await;
        self.shared.metrics.forget(app);
        self.shared.cgroups.remove(app);
        let domains: Vec<_> =
            self.shared.store.domains()?.into_iter().filter(|(_, owner)| owner == app).map(|(d, _)| d).collect();
        let name = app.clone();
        self.blocking(move |shared| {
            shared.store.delete_app(&name)?;
            let home = shared.data_dir.app(&name).home;
            match std::fs::remove_dir_all(&home) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("delete", home, e)),
                _ => Ok(()),
            }
        })
        .await?;
        self.forget_domains(app, &domains);
        self.tell_instances(AppEvent::Remove, app);
        tracing::info!("deleted app {app}");
        Ok(())
    }

    /// Starts the live release again: a new process beside the old one, then the switch.
    pub async fn restart_app(&self, app: &AppName) -> Result<()> {
        self.require_app(app)?;
        self.deployer.restart_live(app).await?;
        self.tell_instances(AppEvent::Restart, app);
        Ok(())
    }

    pub async fn stop_app(&self, app: &AppName) -> Result<()> {
        self.require_app(app)?;
        self.shared.placement.stop(app).await;
        self.tell_instances(AppEvent::Stop, app);
        Ok(())
    }
}
