//! The deployer: runs each deployment — one run of the build for one commit — with its record,
//! status and log, then has the supervisor start the result.
//!
//! One deployment per app at a time (a second waits, and says so); different apps build in
//! parallel. Each runs in its own task, so a client that goes away does not leave it half done.
//! A deployment that fails after wwwroot changed puts the active deployment back by building its
//! commit again; the engine itself already restores env when it had replaced it.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use slipway_build::log::{BuildLog, LogSink, StepOutcome};
use slipway_build::pipeline::{self, BuildRequest};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::git::{self, ObjectAccess};
use crate::settings::AppSettings;
use crate::state::Shared;
use crate::store::{Deployment, NewDeployment, Status, Trigger};
use crate::supervisor::StartRequest;

#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub app: AppName,
    pub commit: String,
    pub clean_env: bool,
    pub trigger: Trigger,
    pub access: ObjectAccess,
}

/// Why a deployment failed: its build, its start, or slipway itself.
#[derive(Debug, thiserror::Error)]
enum DeployError {
    #[error(transparent)]
    Build(#[from] slipway_build::BuildError),
    #[error("{0}")]
    Start(String),
    #[error(transparent)]
    Slipway(#[from] Error),
}

pub struct Deployer {
    shared: Arc<Shared>,
    /// One per app, taken for the whole of a deployment: one deployment per app at a time.
    app_locks: Mutex<HashMap<AppName, Arc<tokio::sync::Mutex<()>>>>,
    /// The running deployments, which a stopping server waits for.
    tasks: TaskTracker,
}

/// Log lines of one deployment: appended to its `log.txt` and sent to whoever is watching.
struct DeploymentSink {
    file: Mutex<std::fs::File>,
    progress: mpsc::UnboundedSender<String>,
}

impl LogSink for DeploymentSink {
    fn line(&self, line: &str) {
        if let Ok(mut file) = self.file.lock() {
            let _ = writeln!(file, "{line}");
        }
        let _ = self.progress.send(line.to_string());
    }
}

impl Deployer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Deployer { shared, app_locks: Mutex::default(), tasks: TaskTracker::new() }
    }

    fn app_lock(&self, app: &AppName) -> Arc<tokio::sync::Mutex<()>> {
        self.app_locks.lock().unwrap().entry(app.clone()).or_default().clone()
    }

    /// Records the deployment and starts it; the returned handle ends with the final record.
    /// Log lines arrive on `progress` as they are written.
    pub async fn start(
        self: &Arc<Self>,
        request: DeployRequest,
        progress: mpsc::UnboundedSender<String>,
    ) -> Result<(Deployment, tokio::task::JoinHandle<Deployment>)> {
        let store = &self.shared.store;
        let repository = self.shared.data_dir.app(&request.app).repository();
        let (commit, access) = (request.commit.clone(), request.access.clone());
        let info = tokio::task::spawn_blocking(move || git::commit_info(&repository, &commit, &access)).await??;
        let clean_env = request.clean_env | store.take_needs_clean_env(&request.app)?;
        let record = store.insert_deployment(&NewDeployment {
            app: &request.app,
            commit: &request.commit,
            author: &info.author,
            message: &info.message,
            clean_env,
            trigger: request.trigger,
        })?;
        let this = self.clone();
        let started = record.clone();
        let handle = self.tasks.spawn(async move { this.run(started, request, progress).await });
        Ok((record, handle))
    }

    async fn run(
        self: Arc<Self>,
        record: Deployment,
        request: DeployRequest,
        progress: mpsc::UnboundedSender<String>,
    ) -> Deployment {
        let lock = self.app_lock(&record.app);
        let _turn = match lock.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                let _ = progress
                    .send(format!("Another deployment of {} is running: waiting for it to finish…", record.app));
                lock.lock_owned().await
            }
        };
        let store = &self.shared.store;
        let outcome = match self.open_log(&record, progress).map_err(DeployError::from) {
            Ok(log) => {
                let _ = store.set_status(record.id, Status::Building);
                let outcome = self.deploy(&record, &request, &log).await;
                match &outcome {
                    Ok(()) => log.info(format!("Deployment {} succeeded.", record.id)),
                    Err(e) => log.info(format!("Deployment {} failed: {e}", record.id)),
                }
                log.write_summary();
                outcome
            }
            Err(e) => Err(e),
        };
        let (status, reason) = match &outcome {
            Ok(()) => (Status::Success, None),
            // The log has the details (an app's output, say); the record keeps the first line.
            Err(e) => (Status::Failed, e.to_string().lines().next().map(String::from)),
        };
        if let Err(e) = store.finish(&record.app, record.id, status, reason.as_deref()) {
            tracing::error!("recording the end of deployment {}: {e}", record.id);
        }
        self.purge_old(&record.app);
        store.deployment(&record.app, record.id).ok().flatten().unwrap_or(record)
    }

    fn open_log(&self, record: &Deployment, progress: mpsc::UnboundedSender<String>) -> Result<BuildLog> {
        let paths = self.shared.data_dir.app(&record.app);
        let dir = paths.deployment_dir(record.id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", dir, e))?;
        let path = paths.deployment_log(record.id);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", path, e))?;
        Ok(BuildLog::new(Arc::new(DeploymentSink { file: Mutex::new(file), progress })))
    }

    /// Builds the commit and starts it; if either fails after wwwroot changed, puts the active
    /// deployment back.
    async fn deploy(
        self: &Arc<Self>,
        record: &Deployment,
        request: &DeployRequest,
        log: &BuildLog,
    ) -> Result<(), DeployError> {
        log.info(format!(
            "Deployment {} of {}: commit {} by {}: {}",
            record.id,
            record.app,
            record.short_commit(),
            record.author,
            record.message
        ));
        if record.clean_env {
            log.info("A clean env was asked for: env will be deleted and created afresh.");
        }
        let built =
            self.build_blocking(&record.app, &record.commit, record.clean_env, &request.access, record.id, log).await;
        let started = match built {
            Ok(()) => {
                self.shared.store.set_status(record.id, Status::Deploying).map_err(Error::from)?;
                self.start_app(&record.app, log).await
            }
            Err(e) => Err(e),
        };
        let Err(error) = started else { return Ok(()) };
        self.roll_back(record, log).await;
        Err(error)
    }

    /// Starts what is now in wwwroot as the app's running process, as the `start` step.
    async fn start_app(&self, app: &AppName, log: &BuildLog) -> Result<(), DeployError> {
        let settings = AppSettings::new(self.shared.store.settings(app).map_err(Error::from)?);
        let log_line = |line: &str| log.info(line);
        log.announce("start");
        let started = std::time::Instant::now();
        let result = self.shared.supervisor.start(StartRequest { app, settings: &settings, log: &log_line }).await;
        log.record_step("start", started.elapsed(), result.is_ok());
        result.map_err(DeployError::Start)
    }

    async fn roll_back(self: &Arc<Self>, record: &Deployment, log: &BuildLog) {
        let wwwroot_changed = log.timings().iter().any(|s| s.name == "sync" && s.outcome == StepOutcome::Ok);
        let Ok(Some(active)) = self.shared.store.active_deployment(&record.app) else { return };
        if !wwwroot_changed {
            return;
        }
        log.info(format!("Rolling back to deployment {} (commit {})…", active.id, active.short_commit()));
        let rebuilt =
            self.build_blocking(&record.app, &active.commit, false, &ObjectAccess::default(), record.id, log).await;
        // The previous process normally never stopped; start it again only if it is not running.
        let restarted = match rebuilt {
            Ok(()) if self.shared.supervisor.port(&record.app).is_none() => self.start_app(&record.app, log).await,
            other => other,
        };
        match restarted {
            Ok(()) => log.info(format!("Rolled back to deployment {}", active.id)),
            Err(e) => log.info(format!("Rollback to deployment {} failed: {e}", active.id)),
        }
    }

    async fn build_blocking(
        self: &Arc<Self>,
        app: &AppName,
        commit: &str,
        clean_env: bool,
        access: &ObjectAccess,
        id: i64,
        log: &BuildLog,
    ) -> Result<(), DeployError> {
        let (this, app, commit, access, log) =
            (self.clone(), app.clone(), commit.to_string(), access.clone(), log.clone());
        tokio::task::spawn_blocking(move || this.build_commit(&app, &commit, clean_env, &access, id, &log))
            .await
            .unwrap_or_else(|e| Err(Error::from(e).into()))
    }

    fn build_commit(
        &self,
        app: &AppName,
        commit: &str,
        clean_env: bool,
        access: &ObjectAccess,
        id: i64,
        log: &BuildLog,
    ) -> Result<(), DeployError> {
        let shared = &self.shared;
        let paths = shared.data_dir.app(app);
        let checkout = git::Checkout { dir: paths.checkout(id) };
        let _ = std::fs::remove_dir_all(&checkout.dir);
        git::checkout(&paths.repository(), commit, &checkout.dir, access).map_err(Error::from)?;
        let settings = AppSettings::new(shared.store.settings(app).map_err(Error::from)?);
        let request = BuildRequest {
            source: checkout.dir.clone(),
            target: paths.wwwroot(),
            state_dir: Some(paths.deployments()),
            settings: settings.build_settings(),
            clean_env,
            catalog: shared.runtimes.clone(),
            default_python: shared.config.default_python,
            uv: shared.config.uv.clone(),
            slipway_dir: shared.config.slipway_exe.parent().map(PathBuf::from),
        };
        pipeline::run_steps(&request, log)?;
        Ok(())
    }

    /// Deletes the records and logs of deployments beyond `SCM_MAX_DEPLOYMENTS`.
    fn purge_old(&self, app: &AppName) {
        let store = &self.shared.store;
        let keep = store.settings(app).map(|s| AppSettings::new(s).max_deployments()).unwrap_or_default().max(1);
        match store.purge_deployments(app, keep) {
            Ok(ids) => {
                let paths = self.shared.data_dir.app(app);
                for id in ids {
                    let _ = std::fs::remove_dir_all(paths.deployment_dir(id));
                }
            }
            Err(e) => tracing::warn!("purging old deployments of {app}: {e}"),
        }
    }

    /// Waits for running deployments at shutdown, up to `grace`; returns whether all finished.
    pub async fn drain(&self, grace: std::time::Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }
}
