//! The process supervisor: runs each app's deployed code, restarts it when it crashes, and
//! switches to new code without a gap.
//!
//! [`Supervisor::start`] starts a release's code beside the running process, on a fresh port;
//! only when it answers HTTP does the proxy switch to it. The old process then retires: it keeps
//! the requests it has for `WAIT_TO_RETIRE` seconds, then gets SIGTERM (servers such as
//! gunicorn finish their requests on it), then SIGKILL after a grace period. A process that never
//! answers is killed and the old one keeps serving. Each app runs in its own process group, so
//! stopping it stops its workers too.
//!
//! Modules: [`process`] (spawning and signalling one process), [`monitor`] (the task that owns a
//! running process and restarts it), [`health`] (the HTTP probe), [`environment`] (what the
//! process's environment holds), [`app_log`] (`LogFiles/app.log`).

pub mod app_log;
mod environment;
mod health;
mod monitor;
mod process;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app_name::AppName;
use crate::cgroups::{Cgroups, Limits};
use crate::layout::DataDir;
use crate::sandbox::{Confined, Isolation};
use crate::settings::AppSettings;
use crate::start_command;
use app_log::AppLog;
use monitor::Monitor;
use process::{spawn, terminate, Launch};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    Starting,
    Running,
    Crashed,
    Restarting,
    Stopped,
}

/// What the API shows about an app's process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessInfo {
    pub state: ProcessState,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub command: Option<String>,
    pub restarts: u32,
    /// The release directory it runs from.
    pub release: Option<PathBuf>,
    /// How it last ended, when it did not stop on request: `exit status: 1`, or killed for
    /// memory (over `MEMORY_LIMIT`).
    pub last_exit: Option<String>,
}

/// One app's process, as the supervisor tracks it.
pub(crate) struct Slot {
    state: ProcessState,
    /// Bumped by every start and stop: a monitor of an older process no longer writes here.
    generation: u64,
    launch: Option<Launch>,
    pid: Option<u32>,
    restarts: u32,
    last_exit: Option<String>,
    /// The task that owns the running process; told to stop, it stops and reaps it.
    monitor: Option<Monitor>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            state: ProcessState::Stopped,
            generation: 0,
            launch: None,
            pid: None,
            restarts: 0,
            last_exit: None,
            monitor: None,
        }
    }
}

pub struct Supervisor {
    data_dir: DataDir,
    /// How app processes run: as the app's user in its sandbox, or as the server's user.
    isolation: Isolation,
    /// Where their resource limits are applied.
    cgroups: Cgroups,
    /// Each app's process. The proxy reads it on every request; starts, stops and monitors
    /// write it.
    slots: Mutex<HashMap<AppName, Arc<Mutex<Slot>>>>,
    /// One log writer per app, shared by its processes, so rotation is seen by all of them.
    logs: Mutex<HashMap<AppName, Arc<AppLog>>>,
    /// Replaced processes waiting out `WAIT_TO_RETIRE` before they stop; a stopping server
    /// cuts the wait short (`shutting_down`) and waits for them.
    retiring: TaskTracker,
    shutting_down: CancellationToken,
}

/// What starting an app needs: the release to run, its settings, and where to log what the
/// start does.
pub struct StartRequest<'a> {
    pub app: &'a AppName,
    /// The app's uid and gid.
    pub ids: (u32, u32),
    /// The release directory (its real path, not through `wwwroot`): the process keeps running
    /// this code when `wwwroot` moves on.
    pub release: &'a Path,
    /// The `bin` folder of the runtime the release was built with, if any.
    pub runtime: Option<PathBuf>,
    pub settings: &'a AppSettings,
    pub log: &'a (dyn Fn(&str) + Send + Sync),
}

impl Supervisor {
    pub fn new(data_dir: DataDir, isolation: Isolation, cgroups: Cgroups) -> Self {
        Supervisor {
            data_dir,
            isolation,
            cgroups,
            slots: Mutex::default(),
            logs: Mutex::default(),
            retiring: TaskTracker::new(),
            shutting_down: CancellationToken::new(),
        }
    }

    fn slot(&self, app: &AppName) -> Arc<Mutex<Slot>> {
        self.slots.lock().unwrap().entry(app.clone()).or_default().clone()
    }

    pub fn info(&self, app: &AppName) -> ProcessInfo {
        let slot = self.slot(app);
        let slot = slot.lock().unwrap();
        ProcessInfo {
            state: slot.state,
            pid: slot.pid,
            port: slot.launch.as_ref().map(|l| l.port),
            command: slot.launch.as_ref().map(|l| l.shell.clone()),
            restarts: slot.restarts,
            release: slot.launch.as_ref().map(|l| l.dir.clone()),
            last_exit: slot.last_exit.clone(),
        }
    }

    /// The port the proxy should send this app's requests to, while it is running.
    pub fn port(&self, app: &str) -> Option<u16> {
        let slot = self.slots.lock().unwrap().get(app)?.clone();
        let slot = slot.lock().unwrap();
        (slot.state == ProcessState::Running).then(|| slot.launch.as_ref().map(|l| l.port)).flatten()
    }

    /// Starts the release as the app's new process and waits until it answers HTTP; then the
    /// proxy sends requests to it and the previous process retires. On failure the previous
    /// process keeps running and the error carries the tail of the new process's output.
    pub async fn start(&self, request: StartRequest<'_>) -> Result<(), String> {
        let dir = request.release.to_path_buf();
        let chosen = start_command::choose(&dir, request.settings.startup_command())?;
        (request.log)(&format!("Start command: `{}` (chosen by {})", chosen.shell, chosen.rule));
        let timeout = request.settings.startup_timeout().map_err(|e| e.to_string())?;
        let wait_to_retire = request.settings.wait_to_retire().map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| format!("no free port for the app: {e}"))?;
        let log = self.app_log(request.app).map_err(|e| format!("cannot open LogFiles/app.log: {e}"))?;
        let paths = self.data_dir.app(request.app);
        let (program, args) = process::shell(&chosen.shell);
        let run = Confined {
            app: request.app.clone(),
            uid: request.ids.0,
            gid: request.ids.1,
            program,
            args,
            cwd: dir.clone(),
            writable: vec![dir.clone(), paths.cache()],
            readable: Vec::new(),
            env: environment::app_environment(&dir, request.runtime.as_deref(), request.settings, port),
            paths,
        };
        let limits = Limits::of(request.settings).map_err(|e| e.to_string())?;
        let group = self
            .cgroups
            .group(request.app, "web", &limits)
            .map_err(|e| format!("cannot apply the app's resource limits: {e}"))?;
        let oom_message = memory_exhausted(request.settings);
        let isolation = self.isolation.clone();
        let launch = Launch { shell: chosen.shell, dir, run, isolation, group, oom_message, port, log };
        (request.log)(&format!(
            "Starting the app on 127.0.0.1:{port}; waiting up to {}s for it to answer HTTP.",
            timeout.as_secs()
        ));
        let (mut child, tail) = spawn(&launch).map_err(|e| format!("cannot start `{}`: {e}", launch.shell))?;
        let started = Instant::now();
        let oom_kills = launch.group.oom_kills();
        if let Err(why) = health::wait_until_answering(&mut child, port, timeout).await {
            terminate(&mut child).await;
            let why = if launch.group.oom_kills() > oom_kills { memory_exhausted(request.settings) } else { why };
            return Err(format!("the app did not start: {why}\nLast lines of its output:\n{}", tail.text()));
        }
        (request.log)(&format!("The app answers on port {port} after {:.1}s.", started.elapsed().as_secs_f64()));
        let pid = child.id();
        let slot = self.slot(request.app);
        let previous = {
            let mut guard = slot.lock().unwrap();
            guard.generation += 1;
            guard.state = ProcessState::Running;
            guard.pid = pid;
            guard.restarts = 0;
            guard.last_exit = None;
            guard.launch = Some(launch.clone());
            let monitor = Monitor::spawn(slot.clone(), guard.generation, child, launch);
            guard.monitor.replace(monitor)
        };
        // The proxy already sends new requests to the new process; the old one finishes what it has.
        if let Some(previous) = previous {
            self.retire(previous, wait_to_retire);
        }
        Ok(())
    }

    /// Stops a replaced process after `wait`, in the background.
    fn retire(&self, previous: Monitor, wait: Duration) {
        let shutting_down = self.shutting_down.clone();
        self.retiring.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutting_down.cancelled() => {}
            }
            previous.stop().await;
        });
    }

    fn app_log(&self, app: &AppName) -> std::io::Result<Arc<AppLog>> {
        let mut logs = self.logs.lock().unwrap();
        if let Some(log) = logs.get(app) {
            return Ok(log.clone());
        }
        let log = AppLog::open(&self.data_dir.app(app).app_log())?;
        logs.insert(app.clone(), log.clone());
        Ok(log)
    }

    /// Stops the app's process (SIGTERM to its group, SIGKILL after a grace period).
    pub async fn stop(&self, app: &AppName) {
        let slot = self.slot(app);
        let monitor = {
            let mut slot = slot.lock().unwrap();
            slot.generation += 1;
            slot.state = ProcessState::Stopped;
            slot.pid = None;
            slot.monitor.take()
        };
        if let Some(monitor) = monitor {
            monitor.stop().await;
        }
    }

    /// At shutdown: every app's process, and those still retiring.
    pub async fn stop_all(&self) {
        self.shutting_down.cancel();
        let apps: Vec<AppName> = self.slots.lock().unwrap().keys().cloned().collect();
        futures_util::future::join_all(apps.iter().map(|app| self.stop(app))).await;
        self.retiring.close();
        self.retiring.wait().await;
    }

    /// Forgets an app (after it was deleted).
    pub async fn remove(&self, app: &AppName) {
        self.stop(app).await;
        self.slots.lock().unwrap().remove(app);
        self.logs.lock().unwrap().remove(app);
    }
}

/// What a process killed for memory is said to have died of.
pub fn memory_exhausted(settings: &AppSettings) -> String {
    let limit = settings.get(crate::settings::MEMORY_LIMIT).unwrap_or("the host's limit");
    format!("it was killed for using more memory than it may (MEMORY_LIMIT={limit})")
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
