//! The deployer: runs each deployment — one run of the build for one commit — with its record,
//! status and log, into a release of its own, then has the supervisor start it and switches
//! `wwwroot` to it. Rollbacks switch to a kept release the same way, without a build.
//!
//! One deployment per app at a time (a second waits, and says so); different apps build in
//! parallel. Each runs in its own task, so a client that goes away does not leave it half done.
//! A deployment that fails never touched the live release: its own release is removed and the
//! live one keeps serving. A deployment can be cancelled, and is stopped when its build prints
//! nothing for `SCM_COMMAND_IDLE_TIMEOUT` or runs past `BUILD_TIMEOUT`.
//!
//! A push's deployment also keeps the app's lock until git has moved the branch (the hook
//! accepts the push before `receive-pack` updates the ref): the next push of the app waits for
//! that, then re-checks that the branch is still where it expects it.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slipway_build::job::{Built, Job};
use slipway_build::log::{BuildLog, Cancel, LogSink};
use slipway_build::pipeline::BuildRequest;
use tokio::sync::{mpsc, Notify, OwnedMutexGuard};
use tokio_util::task::TaskTracker;

use crate::app_name::AppName;
use crate::cluster::{AppEvent, ClusterLock};
use crate::error::{Error, Result};
use crate::git::{self, ObjectAccess};
use crate::layout::AppPaths;
use crate::oneoff::OneOff;
use crate::settings::AppSettings;
use crate::state::{Release, Shared};
use crate::store::{Deployment, Finish, NewDeployment, Status, Trigger};
use crate::{jobs, releases};

/// What the operator's cancel says.
pub const CANCELLED_BY_OPERATOR: &str = "cancelled by the operator";
/// How long a push's lock is kept after its deployment at most, should git's process never end.
const PUSH_HOLD_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub app: AppName,
    pub commit: String,
    pub clean_env: bool,
    pub trigger: Trigger,
    pub access: ObjectAccess,
    /// For a push: what it expects of the branch, checked when the deployment's turn comes.
    pub push: Option<PushCheck>,
}

/// A push's compare-and-swap, re-checked after the app's lock is taken.
#[derive(Debug, Clone)]
pub struct PushCheck {
    /// Names this push's `git http-backend` run, which gives the app's lock back when it ends.
    pub id: String,
    /// `refs/heads/main`.
    pub ref_name: String,
    /// The value the push expects the ref to have (all zeros: the branch does not exist yet).
    pub old: String,
}

/// Why a deployment failed: its build, its start, a push that came too late, or slipway itself.
#[derive(Debug, thiserror::Error)]
enum DeployError {
    #[error(transparent)]
    Build(#[from] slipway_build::BuildError),
    #[error("{0}")]
    Start(String),
    #[error("{0}")]
    Release(String),
    #[error("{0}")]
    BranchMoved(String),
    /// The build job's one-line reason.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Slipway(#[from] Error),
}

pub struct Deployer {
    shared: Arc<Shared>,
    /// One per app, taken for the whole of a deployment or a rollback.
    app_locks: Mutex<HashMap<AppName, Arc<tokio::sync::Mutex<()>>>>,
    /// One per app, taken only while a release's processes start and `wwwroot` follows (a
    /// deployment's `start` step, a rollback, a restart): a restart for new settings need not
    /// wait for a whole build, yet never starts a release that a deployment is leaving.
    switch_locks: Mutex<HashMap<AppName, Arc<tokio::sync::Mutex<()>>>>,
    /// The running deployments, which a stopping server waits for.
    tasks: TaskTracker,
    /// Deployments that have not ended (running or waiting for their turn), by id: how to cancel
    /// each. Written when a deployment is recorded and when it ends.
    running: Mutex<HashMap<i64, Running>>,
    /// Locks kept for pushes whose deployment ended while their `git http-backend` still runs,
    /// by push id; given back by [`Deployer::push_ended`].
    held_for_pushes: Mutex<HashMap<String, AppTurn>>,
}

struct Running {
    app: AppName,
    cancel: Cancel,
    /// Wakes a deployment that waits for its turn, so a cancel ends it at once.
    woken: Arc<Notify>,
}

/// A deployment's log keeps at most this much of the build's output; slipway's own lines (steps,
/// the outcome, the timings) are always kept.
pub const MAX_LOG_BYTES: u64 = 10 * 1024 * 1024;

/// Log lines of one deployment: appended to its `log.txt` and sent to whoever is watching.
struct DeploymentSink {
    file: Mutex<CappedLog>,
    progress: mpsc::UnboundedSender<String>,
}

struct CappedLog {
    file: std::fs::File,
    written: u64,
    dropped: u64,
}

impl LogSink for DeploymentSink {
    fn line(&self, line: &str) {
        // Output of the build's commands is indented; past the cap it is dropped (with a note).
        // slipway's own lines go on (the outcome, the timings), up to a hard limit: a build job's
        // lines are relayed, and a script could write unindented ones too.
        let output = line.starts_with("    ") || line.len() > 1024;
        let Ok(mut log) = self.file.lock() else { return };
        if log.written >= MAX_LOG_BYTES + (1 << 20) || (output && log.written >= MAX_LOG_BYTES) {
            if log.dropped == 0 {
                let note = format!(
                    "[slipway] this log passed {} MB: the rest of the build's output is dropped",
                    MAX_LOG_BYTES >> 20
                );
                let _ = writeln!(log.file, "{note}");
                let _ = self.progress.send(note);
            }
            log.dropped += 1;
            return;
        }
        if writeln!(log.file, "{line}").is_ok() {
            log.written += line.len() as u64 + 1;
        }
        drop(log);
        let _ = self.progress.send(line.to_string());
    }
}

/// An app's turn to deploy (or roll back, scale, be deleted): its lock on this instance and,
/// with a shared store, across the cluster. Both go when it is dropped.
pub struct AppTurn {
    _local: OwnedMutexGuard<()>,
    _cluster: Option<ClusterLock>,
}

impl Deployer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Deployer {
            shared,
            app_locks: Mutex::default(),
            switch_locks: Mutex::default(),
            tasks: TaskTracker::new(),
            running: Mutex::default(),
            held_for_pushes: Mutex::default(),
        }
    }

    fn app_lock(&self, app: &AppName) -> Arc<tokio::sync::Mutex<()>> {
        self.app_locks.lock().unwrap().entry(app.clone()).or_default().clone()
    }

    async fn switch_turn(&self, app: &AppName) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.switch_locks.lock().unwrap().entry(app.clone()).or_default().clone();
        lock.lock_owned().await
    }

    /// Starts the live release's processes again with the app's current settings (a new process
    /// beside the old one, then the switch). Between a deployment's or a rollback's switch steps,
    /// so the release restarted is the one `wwwroot` points at when it starts.
    pub async fn restart_live(&self, app: &AppName) -> Result<()> {
        let _switch = self.switch_turn(app).await;
        let paths = self.shared.data_dir.app(app);
        let live = releases::live(&paths).filter(|(id, _)| *id > 0);
        let live = live.and_then(|(id, _)| self.shared.store.deployment(app, id).ok().flatten());
        let live = live.ok_or_else(|| Error::NothingDeployed(app.clone()))?;
        let settings = AppSettings::new(self.shared.store.settings(app)?);
        let log = |line: &str| tracing::info!("{app}: {line}");
        self.shared.start_release(app, Release::of(&live), &settings, &log).await.map_err(Error::StartFailed)
    }

    /// The app's lock, for work that must not run beside a deployment (a rollback, a delete):
    /// this instance's, then the cluster's.
    pub async fn lock_app(&self, app: &AppName) -> AppTurn {
        let local = self.app_lock(app).lock_owned().await;
        let never = Notify::new();
        let cluster = ClusterLock::wait(&self.shared, app, |_| {}, &never).await;
        AppTurn { _local: local, _cluster: cluster }
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
        let record = store.insert_deployment(&NewDeployment {
            app: &request.app,
            commit: &request.commit,
            author: &info.author,
            message: &info.message,
            clean_env: request.clean_env,
            trigger: request.trigger,
            instance: &self.shared.instance.name,
        })?;
        let running = Running { app: request.app.clone(), cancel: Cancel::default(), woken: Arc::default() };
        let (cancel, woken) = (running.cancel.clone(), running.woken.clone());
        self.running.lock().unwrap().insert(record.id, running);
        let this = self.clone();
        let started = record.clone();
        let handle = self.tasks.spawn(async move { this.run(started, request, progress, cancel, woken).await });
        Ok((record, handle))
    }

    /// Cancels a deployment that has not ended: `false` if there is none of that id.
    pub fn cancel(&self, app: &AppName, id: i64, reason: &str) -> bool {
        let running = self.running.lock().unwrap();
        match running.get(&id).filter(|r| r.app == *app) {
            Some(r) => {
                r.cancel.cancel(reason);
                r.woken.notify_one();
                true
            }
            None => false,
        }
    }

    /// Cancels every deployment of the app that has not ended (before the app is deleted).
    pub fn cancel_all(&self, app: &AppName, reason: &str) {
        let ids: Vec<i64> =
            self.running.lock().unwrap().iter().filter(|(_, r)| r.app == *app).map(|(id, _)| *id).collect();
        for id in ids {
            self.cancel(app, id, reason);
        }
    }

    /// `git http-backend` of push `id` ended: the branch is where git left it, the next push of
    /// the app may go.
    pub fn push_ended(&self, id: &str) {
        self.held_for_pushes.lock().unwrap().remove(id);
    }

    async fn run(
        self: Arc<Self>,
        record: Deployment,
        request: DeployRequest,
        progress: mpsc::UnboundedSender<String>,
        cancel: Cancel,
        woken: Arc<Notify>,
    ) -> Deployment {
        let turn = self.take_turn(&record, &progress, &woken).await;
        let store = &self.shared.store;
        let log = match self.open_log(&record, progress) {
            Ok(log) => log.with_cancel(cancel.clone()),
            Err(e) => {
                let reason = e.public_message();
                let finish = Finish { status: Status::Failed, reason: Some(&reason), steps: &[], python_version: None };
                let _ = store.finish(&record.app, record.id, &finish);
                self.running.lock().unwrap().remove(&record.id);
                return record;
            }
        };
        let outcome = match &turn {
            None => {
                let reason = cancel.reason().unwrap_or_else(|| CANCELLED_BY_OPERATOR.to_string());
                log.info(format!("Deployment v{} did not start: {reason}.", record.number));
                Err(DeployError::Build(slipway_build::BuildError::Cancelled(reason)))
            }
            Some(_) => {
                let _ = store.set_status(record.id, Status::Building);
                let outcome = self.deploy(&record, &request, &log).await;
                match &outcome {
                    Ok(_) => log.info(format!("Deployment v{} succeeded.", record.number)),
                    Err(e) => log.info(format!("Deployment v{} failed: {e}", record.number)),
                }
                log.write_summary();
                outcome
            }
        };
        let steps = log.timings();
        let (status, reason, python_version) = match &outcome {
            Ok(built) => (Status::Success, None, built.python_version.clone()),
            // The log has the details (an app's output, say); the record keeps the first line.
            Err(e) => {
                let first = e.to_string().lines().next().map(|l| slipway_build::log::escape_controls(l).into_owned());
                (Status::Failed, first, None)
            }
        };
        let finish = Finish { status, reason: reason.as_deref(), steps: &steps, python_version };
        if let Err(e) = store.finish(&record.app, record.id, &finish) {
            tracing::error!("recording the end of deployment {}: {e}", record.id);
        }
        self.running.lock().unwrap().remove(&record.id);
        if status == Status::Success {
            crate::cluster::tell_instances(&self.shared, AppEvent::Release, &record.app);
        }
        self.purge_old(&record.app);
        if let (Some(push), Some(guard)) = (&request.push, turn) {
            self.hold_for_push(push, guard);
        }
        let ended = store.deployment(&record.app, record.id).ok().flatten().unwrap_or(record);
        crate::webhooks::deployment_ended(&self.shared, &ended);
        ended
    }

    /// Waits for the app's turn — no other deployment of it on this instance, then none on any
    /// other — saying so while it waits; `None` if the deployment is cancelled meanwhile. With
    /// the turn, deployments whose instance died building are failed.
    async fn take_turn(
        &self,
        record: &Deployment,
        progress: &mpsc::UnboundedSender<String>,
        woken: &Notify,
    ) -> Option<AppTurn> {
        let say = |line: String| drop(progress.send(line));
        let lock = self.app_lock(&record.app);
        let local = match lock.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                say(format!("Another deployment of {} is running: waiting for it to finish…", record.app));
                tokio::select! {
                    guard = lock.lock_owned() => guard,
                    _ = woken.notified() => return None,
                }
            }
        };
        let cluster = ClusterLock::wait(&self.shared, &record.app, say, woken).await?;
        crate::cluster::fail_orphans(&self.shared, &record.app, Some(record.id));
        Some(AppTurn { _local: local, _cluster: Some(cluster) })
    }

    /// Keeps the app's lock until the push's git process ends (or a time limit passes).
    fn hold_for_push(self: &Arc<Self>, push: &PushCheck, guard: AppTurn) {
        self.held_for_pushes.lock().unwrap().insert(push.id.clone(), guard);
        let (this, id) = (self.clone(), push.id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(PUSH_HOLD_LIMIT).await;
            if this.held_for_pushes.lock().unwrap().remove(&id).is_some() {
                tracing::warn!(
                    "push {id}: git did not finish within {}s; its app is unlocked",
                    PUSH_HOLD_LIMIT.as_secs()
                );
            }
        });
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
        let file = Mutex::new(CappedLog { file, written: 0, dropped: 0 });
        Ok(BuildLog::new(Arc::new(DeploymentSink { file, progress })))
    }

    /// Builds the commit into its own release and starts it; on any failure the release is
    /// removed and the live one was never left.
    async fn deploy(
        self: &Arc<Self>,
        record: &Deployment,
        request: &DeployRequest,
        log: &BuildLog,
    ) -> Result<Built, DeployError> {
        log.info(format!(
            "Deployment v{} of {}: commit {} by {}: {}",
            record.number,
            record.app,
            record.short_commit(),
            record.author,
            record.message
        ));
        if record.clean_env {
            log.info("A clean env was asked for: env will be deleted and created afresh.");
        }
        if let Some(push) = &request.push {
            self.check_push(&record.app, push)?;
        }
        let paths = self.shared.data_dir.app(&record.app);
        let settings = AppSettings::new(self.shared.store.settings(&record.app).map_err(Error::from)?);
        let released = self.build_and_start(record, request, &paths, &settings, log).await;
        if released.is_err() {
            releases::remove(&paths, record.id);
            let live = releases::live(&paths).filter(|(id, _)| *id > 0);
            if let Some(live) = live.and_then(|(id, _)| self.shared.store.deployment(&record.app, id).ok().flatten()) {
                log.info(format!("The live release (v{}) was never left: it keeps serving.", live.number));
            }
        }
        released
    }

    async fn build_and_start(
        self: &Arc<Self>,
        record: &Deployment,
        request: &DeployRequest,
        paths: &AppPaths,
        settings: &AppSettings,
        log: &BuildLog,
    ) -> Result<Built, DeployError> {
        let watchdog = Watchdog::start(log.clone(), settings)?;
        let release = paths.release(record.id);
        let built = match self.build_release(record, &request.access, settings, log).await {
            Ok(built) => self.release_phase(record, &release, &built, settings, log).await.map(|_| built),
            Err(e) => Err(e),
        };
        watchdog.stop();
        let built = built?;
        self.shared.store.set_status(record.id, Status::Deploying).map_err(Error::from)?;
        let to_start = Release { id: record.id, number: record.number, python: built.python_version.as_deref() };
        let _switch = self.switch_turn(&record.app).await;
        // Read again: settings changed during the build apply to the release that starts now.
        let settings = AppSettings::new(self.shared.store.settings(&record.app).map_err(Error::from)?);
        // Before the start, which already moves the traffic: a failure here leaves the live
        // release as it was.
        self.carry_user_files(&record.app, &release).await.map_err(DeployError::from)?;
        self.start_release(&record.app, to_start, &settings, log).await?;
        releases::switch(paths, record.id).map_err(|e| Error::io("switch wwwroot to", release.clone(), e))?;
        Ok(built)
    }

    /// A push may go only if the branch is still where the push found it: another push may have
    /// moved it while this one waited for its turn.
    fn check_push(&self, app: &AppName, push: &PushCheck) -> Result<(), DeployError> {
        let repository = self.shared.data_dir.app(app).repository();
        let now = git::ref_value(&repository, &push.ref_name).map_err(Error::from)?;
        let expected = (push.old != git::ZERO_SHA).then_some(push.old.as_str());
        if now.as_deref() == expected {
            return Ok(());
        }
        let branch = push.ref_name.trim_start_matches("refs/heads/");
        let short =
            |sha: Option<&str>| sha.map(|s| s[..s.len().min(7)].to_string()).unwrap_or_else(|| "nothing".into());
        Err(DeployError::BranchMoved(format!(
            "the branch `{branch}` moved while this push waited for its turn (it is at {} now; the push was made on {}): fetch, merge or rebase, and push again",
            short(now.as_deref()),
            short(expected)
        )))
    }

    /// The `release` step: the release command (Procfile `release:`, or `RELEASE_COMMAND`) runs
    /// once in the new release, as the app would, before anything switches; a failure fails the
    /// deployment and the live release keeps serving.
    async fn release_phase(
        &self,
        record: &Deployment,
        release: &std::path::Path,
        built: &Built,
        settings: &AppSettings,
        log: &BuildLog,
    ) -> Result<(), DeployError> {
        // A cron schedule that cannot run fails the deployment now, not at midnight.
        crate::app_json::read_cron(release).map_err(DeployError::Release)?;
        let command = crate::start_command::choose_release_command(release, settings).map_err(DeployError::Start)?;
        let Some((command, origin)) = command else {
            log.skip("release", "no release command (a Procfile `release:` line or RELEASE_COMMAND)");
            return Ok(());
        };
        log.announce("release");
        log.info(format!("Release command: `{command}` (from {origin})"));
        let started = Instant::now();
        let app = &record.app;
        // Its output goes to the deployment's log and, as `release`, to the app's.
        let app_log = |line: &str| self.shared.placement.log_line(app, Some(record.number), "release", line);
        app_log(&format!("[slipway] running the release command `{command}`"));
        let oneoff = OneOff {
            app,
            release,
            python: built.python_version.as_deref(),
            settings,
            command: &command,
            part: "release",
        };
        let mut output = |line: &str| {
            app_log(line);
            log.output(line)
        };
        let exit = self.shared.placement.run_once(&self.shared, &oneoff, log.cancel(), &mut output).await;
        let ok = exit.as_ref().is_ok_and(|exit| exit.success());
        if let Ok(exit) = &exit {
            app_log(&format!("[slipway] the release command {}", exit.description));
        }
        log.record_step("release", started.elapsed(), ok);
        if let Some(reason) = log.cancel().reason() {
            return Err(DeployError::Build(slipway_build::BuildError::Cancelled(reason)));
        }
        let exit = exit?;
        if !exit.success() {
            return Err(DeployError::Release(format!("the release command `{command}` failed ({})", exit.description)));
        }
        log.info(format!("The release command succeeded ({}).", exit.description));
        Ok(())
    }

    /// Starts the release's process as the `start` step.
    async fn start_release(
        &self,
        app: &AppName,
        release: Release<'_>,
        settings: &AppSettings,
        log: &BuildLog,
    ) -> Result<(), DeployError> {
        let log_line = |line: &str| log.info(line);
        log.announce("start");
        let started = Instant::now();
        let result = self.shared.start_release(app, release, settings, &log_line).await;
        log.record_step("start", started.elapsed(), result.is_ok());
        result.map_err(DeployError::Start)
    }

    /// Checks the commit out and has a build job build it into `site/releases/<id>`, starting
    /// from the live release; the job's steps join this deployment's.
    async fn build_release(
        &self,
        record: &Deployment,
        access: &ObjectAccess,
        settings: &AppSettings,
        log: &BuildLog,
    ) -> Result<Built, DeployError> {
        let shared = &self.shared;
        let paths = shared.data_dir.app(&record.app);
        let checkout = git::Checkout { dir: paths.checkout(record.id) };
        let (repository, commit, dir, access) =
            (paths.repository(), record.commit.clone(), checkout.dir.clone(), access.clone());
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&dir);
            git::checkout(&repository, &commit, &dir, &access)
        })
        .await
        .map_err(Error::from)?
        .map_err(Error::from)?;
        releases::remove(&paths, record.id);
        let build_settings = settings.build_settings();
        let mut readable = vec![checkout.dir.clone()];
        readable.extend(local_package_sources(&build_settings));
        let request = BuildRequest {
            source: checkout.dir.clone(),
            target: paths.release(record.id),
            base: releases::live(&paths).map(|(_, dir)| dir).filter(|dir| dir.is_dir()),
            state_dir: None,
            settings: build_settings,
            clean_env: record.clean_env,
            catalog: shared.runtimes.clone(),
            default_python: shared.config.default_python,
            uv: shared.uv.clone(),
            slipway_dir: shared.config.slipway_exe.parent().map(PathBuf::from),
            tools_dir: Some(paths.tools()),
        };
        match jobs::run(shared, &record.app, &Job::Build(request), jobs::Access { readable }, log).await? {
            jobs::Ended::Cancelled(reason) => Err(DeployError::Build(slipway_build::BuildError::Cancelled(reason))),
            jobs::Ended::Reported(report) => {
                for step in report.steps {
                    log.record_reported(step);
                }
                report.result.map_err(DeployError::Failed)
            }
        }
    }

    /// Switches the app to a kept release, with no build: the release's process starts, then
    /// `wwwroot` and the store follow. Files users or the app put into the live release come
    /// along. Runs under the app's lock, like a deployment.
    pub async fn roll_back(&self, app: &AppName, target: &Deployment) -> Result<()> {
        let _turn = self.lock_app(app).await;
        let paths = self.shared.data_dir.app(app);
        let release = paths.release(target.id);
        if let Some((live, _)) = releases::live(&paths).filter(|(id, _)| *id != target.id) {
            tracing::info!("{app}: rolling back from deployment {live} to {}", target.id);
        }
        let _switch = self.switch_turn(app).await;
        self.carry_user_files(app, &release).await?;
        let settings = AppSettings::new(self.shared.store.settings(app)?);
        let log = |line: &str| tracing::info!("{app}: {line}");
        self.shared.start_release(app, Release::of(target), &settings, &log).await.map_err(Error::StartFailed)?;
        releases::switch(&paths, target.id).map_err(|e| Error::io("switch wwwroot to", release, e))?;
        self.shared.store.activate(app, target.id)?;
        crate::cluster::tell_instances(&self.shared, AppEvent::Release, app);
        Ok(())
    }

    /// Files that users or the app put into the live release (an FTP upload, a SQLite file) go
    /// along into `release` just before it goes live — those made while it was built too — so
    /// that a deployment or a rollback never leaves them behind. As the app's user, in its
    /// sandbox: the releases are the app's to write.
    async fn carry_user_files(&self, app: &AppName, release: &std::path::Path) -> Result<()> {
        let paths = self.shared.data_dir.app(app);
        let Some((_, live_dir)) = releases::live(&paths).filter(|(_, dir)| dir != release) else { return Ok(()) };
        let job = Job::CarryUserFiles { from: live_dir, to: release.to_path_buf() };
        let log = BuildLog::new(Arc::new(jobs::TracingSink(app.clone())));
        match jobs::run(&self.shared, app, &job, jobs::Access { readable: Vec::new() }, &log).await? {
            jobs::Ended::Reported(report) => report.result.map(|_| ()).map_err(Error::Internal),
            jobs::Ended::Cancelled(reason) => Err(Error::Internal(reason)),
        }
    }

    /// Deletes the records, logs and releases of deployments beyond `SCM_MAX_DEPLOYMENTS`.
    fn purge_old(&self, app: &AppName) {
        let store = &self.shared.store;
        let keep = store.settings(app).map(|s| AppSettings::new(s).max_deployments()).unwrap_or_default().max(1);
        match store.purge_deployments(app, keep) {
            Ok(ids) => {
                let paths = self.shared.data_dir.app(app);
                for id in ids {
                    let _ = std::fs::remove_dir_all(paths.deployment_dir(id));
                    releases::remove(&paths, id);
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

    /// Waits until the app has no deployment that has not ended (after [`Deployer::cancel_all`]).
    pub async fn settle(&self, app: &AppName) {
        while self.running.lock().unwrap().values().any(|r| r.app == *app) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Local folders among the package sources (`PIP_FIND_LINKS=/srv/wheels`): a build job may read them.
fn local_package_sources(settings: &slipway_build::Settings) -> Vec<PathBuf> {
    settings
        .package_sources()
        .map(|sources| sources.find_links.into_iter().map(PathBuf::from).filter(|p| p.is_absolute()).collect())
        .unwrap_or_default()
}

/// Stops a build that prints nothing for `SCM_COMMAND_IDLE_TIMEOUT` or runs past `BUILD_TIMEOUT`.
struct Watchdog(tokio::task::JoinHandle<()>);

impl Watchdog {
    fn start(log: BuildLog, settings: &AppSettings) -> Result<Self, DeployError> {
        let idle_limit = settings.idle_timeout().map_err(Error::from)?;
        let total_limit = settings.build_timeout().map_err(Error::from)?;
        let started = Instant::now();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let idle = log.idle_for();
                let why = if idle >= idle_limit {
                    format!(
                        "the build printed nothing for {}s (SCM_COMMAND_IDLE_TIMEOUT): stopped",
                        idle_limit.as_secs()
                    )
                } else if started.elapsed() >= total_limit {
                    format!("the build ran longer than {}s (BUILD_TIMEOUT): stopped", total_limit.as_secs())
                } else {
                    continue;
                };
                log.info(&why);
                log.cancel().cancel(why);
                return;
            }
        });
        Ok(Watchdog(task))
    }

    fn stop(self) {
        self.0.abort();
    }
}
