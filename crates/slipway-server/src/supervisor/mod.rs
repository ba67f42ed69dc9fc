//! The process supervisor: runs each app's processes — its `web` processes behind the proxy and
//! its background types (`worker`, `clock`, …) — restarts them when they crash, and switches to
//! new code without a gap.
//!
//! [`Supervisor::start`] starts a release's processes beside the running ones: each web process
//! on a fresh port, and only once all of them answer their health check does the proxy switch
//! to them. The old processes then retire: they keep the requests they have for `WAIT_TO_RETIRE`
//! seconds, then get SIGTERM (servers such as gunicorn finish their requests on it), then
//! SIGKILL after a grace period. Old workers too stop only after the new ones started. A web
//! process that never answers fails the start, and the old ones keep serving. Each process runs
//! in its own process group, so stopping it stops what it started too.
//!
//! Modules: [`process`] (spawning and signalling one process), [`monitor`] (the task that owns a
//! running process and restarts it), [`health`] (the HTTP probe), [`environment`] (what the
//! process's environment holds), [`app_log`] (`LogFiles/app.log`), [`concurrency`]
//! (`WEB_CONCURRENCY`'s default).

pub mod app_log;
mod concurrency;
pub mod environment;
mod health;
mod monitor;
mod process;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app_name::AppName;
use crate::cgroups::{Cgroups, Limits};
use crate::layout::DataDir;
use crate::procfile::WEB;
use crate::sandbox::{Confined, Isolation};
use crate::settings::{AppSettings, WEB_CONCURRENCY};
use crate::start_command::{self, Commands};
use app_log::AppLog;
pub use health::Health;
use monitor::Monitor;
use process::{spawn, terminate, Launch};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    Starting,
    Running,
    Crashed,
    Restarting,
    Stopped,
    /// Stopped after `IDLE_TIMEOUT` without a request; the next request starts it.
    Idle,
}

/// What the API shows about an app's main process (its first web process, else its first one).
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

/// One process, as `slipway ps` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessRow {
    /// `web.1`, `worker.2`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: ProcessState,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub command: String,
    /// Seconds since it (last) started.
    pub uptime: u64,
    pub restarts: u32,
    /// Resident memory of it and what it started, in bytes.
    pub memory: Option<u64>,
    /// CPU time (user and system) of it and what it started, so far.
    pub cpu_seconds: Option<f64>,
    pub last_exit: Option<String>,
    /// The instance it runs on, when several share the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// One process of an app, as the supervisor tracks it.
pub(crate) struct Slot {
    kind: String,
    /// 1-based within its type.
    index: usize,
    state: ProcessState,
    /// Bumped when the process is stopped: its monitor no longer writes here.
    generation: u64,
    launch: Launch,
    pid: Option<u32>,
    restarts: u32,
    last_exit: Option<String>,
    started: Instant,
    /// The task that owns the running process; told to stop, it stops and reaps it.
    monitor: Option<Monitor>,
}

/// What an app's processes run and how, kept to start more of them (scale, wake).
#[derive(Clone)]
struct Running {
    app: AppName,
    /// The number of the deployment that built the release (`4` for v4).
    version: i64,
    ids: (u32, u32),
    release: PathBuf,
    runtime: Option<PathBuf>,
    settings: AppSettings,
    commands: Commands,
    /// `WEB_CONCURRENCY` for a detected web server, when the settings do not give it.
    web_concurrency: Option<u32>,
}

/// An app's processes.
#[derive(Default)]
struct Formation {
    running: Option<Running>,
    processes: Vec<Arc<Mutex<Slot>>>,
    /// Round robin over the running web processes.
    next_web: usize,
    /// Its web processes were stopped for being idle.
    idle: bool,
    /// When the proxy last asked for a web process (or the processes started): for `IDLE_TIMEOUT`.
    last_request: Option<Instant>,
}

pub struct Supervisor {
    data_dir: DataDir,
    /// How app processes run: as the app's user in its sandbox, or as the server's user.
    isolation: Isolation,
    /// Where their resource limits are applied.
    cgroups: Cgroups,
    /// Each app's processes. The proxy reads it on every request; starts, scales, stops and
    /// monitors write it.
    apps: Mutex<HashMap<AppName, Arc<Mutex<Formation>>>>,
    /// One log writer per app, shared by its processes, so rotation is seen by all of them.
    logs: Mutex<HashMap<AppName, Arc<AppLog>>>,
    /// Replaced processes waiting out `WAIT_TO_RETIRE` before they stop; a stopping server
    /// cuts the wait short (`shutting_down`) and waits for them.
    retiring: TaskTracker,
    shutting_down: CancellationToken,
}

/// What starting an app needs: the release to run, its settings, how many of each process, and
/// where to log what the start does.
pub struct StartRequest<'a> {
    pub app: &'a AppName,
    /// The number of the deployment that built the release.
    pub version: i64,
    /// The app's uid and gid.
    pub ids: (u32, u32),
    /// The release directory (its real path, not through `wwwroot`): the processes keep running
    /// this code when `wwwroot` moves on.
    pub release: &'a Path,
    /// The `bin` folder of the runtime the release was built with, if any.
    pub runtime: Option<PathBuf>,
    pub settings: &'a AppSettings,
    /// How many processes of each type (`slipway ps scale`); a type not named runs one.
    pub scale: &'a BTreeMap<String, u32>,
    pub log: &'a (dyn Fn(&str) + Send + Sync),
}

impl Supervisor {
    pub fn new(data_dir: DataDir, isolation: Isolation, cgroups: Cgroups) -> Self {
        Supervisor {
            data_dir,
            isolation,
            cgroups,
            apps: Mutex::default(),
            logs: Mutex::default(),
            retiring: TaskTracker::new(),
            shutting_down: CancellationToken::new(),
        }
    }

    fn formation(&self, app: &AppName) -> Arc<Mutex<Formation>> {
        self.apps.lock().unwrap().entry(app.clone()).or_default().clone()
    }

    /// The app's main process: its first web process, else its first process.
    pub fn info(&self, app: &AppName) -> ProcessInfo {
        let formation = self.formation(app);
        let formation = formation.lock().unwrap();
        let main = formation
            .processes
            .iter()
            .find(|slot| slot.lock().unwrap().kind == WEB)
            // An idle app's workers run on, but the app is idle: its web processes sleep.
            .or_else(|| formation.processes.first().filter(|_| !formation.idle));
        let stopped = if formation.idle { ProcessState::Idle } else { ProcessState::Stopped };
        let Some(main) = main else {
            let release = formation.running.as_ref().map(|r| r.release.clone());
            let state = if release.is_some() { stopped } else { ProcessState::Stopped };
            return ProcessInfo { state, pid: None, port: None, command: None, restarts: 0, release, last_exit: None };
        };
        let slot = main.lock().unwrap();
        ProcessInfo {
            state: slot.state,
            pid: slot.pid,
            port: slot.launch.port,
            command: Some(slot.launch.shell.clone()),
            restarts: slot.restarts,
            release: Some(slot.launch.dir.clone()),
            last_exit: slot.last_exit.clone(),
        }
    }

    /// Every process of the app, for `slipway ps`.
    pub fn processes(&self, app: &AppName) -> Vec<ProcessRow> {
        let mut rows = self.process_rows(app);
        // Each process leads its own group; /proc is read once, outside the formation's lock.
        let usage = process::groups_usage(&rows.iter().filter_map(|row| row.pid).collect::<Vec<_>>());
        for row in &mut rows {
            if let Some(usage) = row.pid.and_then(|pid| usage.get(&pid)) {
                (row.memory, row.cpu_seconds) = (Some(usage.memory), Some(usage.cpu_seconds));
            }
        }
        rows
    }

    fn process_rows(&self, app: &AppName) -> Vec<ProcessRow> {
        let formation = self.formation(app);
        let formation = formation.lock().unwrap();
        formation
            .processes
            .iter()
            .map(|slot| {
                let slot = slot.lock().unwrap();
                ProcessRow {
                    name: format!("{}.{}", slot.kind, slot.index),
                    kind: slot.kind.clone(),
                    state: slot.state,
                    pid: slot.pid,
                    port: slot.launch.port,
                    command: slot.launch.shell.clone(),
                    uptime: slot.started.elapsed().as_secs(),
                    restarts: slot.restarts,
                    memory: None,
                    cpu_seconds: None,
                    last_exit: slot.last_exit.clone(),
                    instance: None,
                }
            })
            .collect()
    }

    /// The port the proxy should send this app's next request to: its running web processes in
    /// turn.
    pub fn port(&self, app: &str) -> Option<u16> {
        let formation = self.apps.lock().unwrap().get(app)?.clone();
        let mut formation = formation.lock().unwrap();
        let ports: Vec<u16> = formation
            .processes
            .iter()
            .filter_map(|slot| {
                let slot = slot.lock().unwrap();
                (slot.kind == WEB && slot.state == ProcessState::Running).then_some(slot.launch.port).flatten()
            })
            .collect();
        if ports.is_empty() {
            return None;
        }
        formation.next_web = formation.next_web.wrapping_add(1);
        formation.last_request = Some(Instant::now());
        Some(ports[formation.next_web % ports.len()])
    }

    /// How long since the app's running web processes last got a request; `None` when none run.
    pub fn idle_for(&self, app: &AppName) -> Option<Duration> {
        let formation = self.apps.lock().unwrap().get(app)?.clone();
        let formation = formation.lock().unwrap();
        let serving = formation.processes.iter().any(|s| s.lock().unwrap().kind == WEB);
        serving.then(|| formation.last_request.map(|t| t.elapsed())).flatten()
    }

    /// Whether any process of the app runs (or is being restarted after a crash).
    pub fn has_processes(&self, app: &AppName) -> bool {
        self.apps.lock().unwrap().get(app).is_some_and(|f| !f.lock().unwrap().processes.is_empty())
    }

    /// Whether the app's web processes were stopped for being idle.
    pub fn is_idle(&self, app: &str) -> bool {
        self.apps.lock().unwrap().get(app).is_some_and(|f| f.lock().unwrap().idle)
    }

    /// Starts the release's processes and waits until its web processes answer their health
    /// check; then the proxy sends requests to them and the previous processes retire. On
    /// failure the previous processes keep running and the error carries the tail of the new
    /// process's output.
    pub async fn start(&self, request: StartRequest<'_>) -> Result<(), String> {
        let commands = start_command::choose(request.release, request.settings)?;
        let web_concurrency = match (&commands.web, request.settings.web_concurrency().map_err(|e| e.to_string())?) {
            (Some(web), None) if web.detected => {
                let (workers, why) = concurrency::default(request.settings);
                (request.log)(&format!("{WEB_CONCURRENCY}={workers}: {why} (set {WEB_CONCURRENCY} to choose)."));
                Some(workers)
            }
            _ => None,
        };
        let running = Running {
            app: request.app.clone(),
            version: request.version,
            ids: request.ids,
            release: request.release.to_path_buf(),
            runtime: request.runtime.clone(),
            settings: request.settings.clone(),
            commands,
            web_concurrency,
        };
        let counts = counts(&running.commands, request.scale);
        (request.log)(&describe_counts(&counts));
        if let Some(web) = &running.commands.web {
            (request.log)(&format!("Start command: `{}` (chosen by {})", web.shell, web.rule));
        }
        let wait_to_retire = request.settings.wait_to_retire().map_err(|e| e.to_string())?;
        let mut started = Vec::new();
        for (kind, count) in &counts {
            for index in 1..=*count {
                match self.start_one(&running, kind, index as usize, request.log).await {
                    Ok(slot) => started.push(slot),
                    Err(why) => {
                        stop_slots(started).await;
                        return Err(why);
                    }
                }
            }
        }
        let formation = self.formation(request.app);
        let previous = {
            let mut formation = formation.lock().unwrap();
            formation.running = Some(running);
            formation.idle = false;
            formation.last_request = Some(Instant::now());
            std::mem::replace(&mut formation.processes, started)
        };
        // The proxy already sends new requests to the new processes; the old ones finish theirs.
        self.retire(previous, wait_to_retire);
        Ok(())
    }

    /// Starts one process of `kind`; a web process only counts as started once it answers.
    async fn start_one(
        &self,
        running: &Running,
        kind: &str,
        index: usize,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Arc<Mutex<Slot>>, String> {
        let name = format!("{kind}.{index}");
        let launch = self.launch(running, kind, &name)?;
        let timeout = running.settings.startup_timeout().map_err(|e| e.to_string())?;
        if let (Some(port), Some(health)) = (launch.port, &launch.health) {
            log(&format!(
                "Starting {name} on 127.0.0.1:{port}; waiting up to {}s for it to answer {} with {}.",
                timeout.as_secs(),
                health.path,
                health.statuses
            ));
        } else {
            log(&format!("Starting {name}: `{}`.", launch.shell));
        }
        let (mut child, tail) = spawn(&launch).map_err(|e| format!("cannot start {name} (`{}`): {e}", launch.shell))?;
        let began = Instant::now();
        if let (Some(port), Some(health)) = (launch.port, &launch.health) {
            let oom_kills = launch.group.oom_kills();
            if let Err(why) = health::wait_until_healthy(&mut child, port, health, timeout).await {
                terminate(&mut child).await;
                let why = if launch.group.oom_kills() > oom_kills { launch.oom_message.clone() } else { why };
                let output = tail.text();
                let output = if output.is_empty() { "(it printed nothing)".to_string() } else { output };
                return Err(format!("{name} did not start: {why}\nLast lines of its output:\n{output}"));
            }
            log(&format!("{name} answers on port {port} after {:.1}s.", began.elapsed().as_secs_f64()));
        }
        let pid = child.id();
        let slot = Arc::new(Mutex::new(Slot {
            kind: kind.to_string(),
            index,
            state: ProcessState::Running,
            generation: 0,
            launch: launch.clone(),
            pid,
            restarts: 0,
            last_exit: None,
            started: Instant::now(),
            monitor: None,
        }));
        let monitor = Monitor::spawn(slot.clone(), 0, child, launch);
        slot.lock().unwrap().monitor = Some(monitor);
        Ok(slot)
    }

    /// How to start (and restart) process `name` (`worker.2`) of `kind` of the running release.
    fn launch(&self, running: &Running, kind: &str, name: &str) -> Result<Launch, String> {
        let (shell, web) = match &running.commands.web {
            Some(web) if kind == WEB => (web.shell.clone(), true),
            _ => match running.commands.background.iter().find(|(k, _)| k == kind) {
                Some((_, command)) => (command.clone(), false),
                None => return Err(format!("the release has no process type `{kind}`")),
            },
        };
        let log = self.app_log(&running.app).map_err(|e| format!("cannot open LogFiles/app.log: {e}"))?;
        let paths = self.data_dir.app(&running.app);
        let port = if web { Some(free_port().map_err(|e| format!("no free port for the app: {e}"))?) } else { None };
        let health = if web {
            let (path, statuses) = running.settings.healthcheck().map_err(|e| e.to_string())?;
            Some(Health::new(path, statuses, &running.settings))
        } else {
            None
        };
        let mut env = environment::app_environment(
            &running.release,
            running.runtime.as_deref(),
            &running.settings,
            &paths.data(),
            port,
        );
        if let Some(workers) = running.web_concurrency.filter(|_| web) {
            env.push((WEB_CONCURRENCY.to_string(), workers.to_string()));
        }
        env.push((PROCESS_VAR.to_string(), name.to_string()));
        let (program, args) = process::shell(&shell);
        let run = Confined {
            app: running.app.clone(),
            uid: running.ids.0,
            gid: running.ids.1,
            program,
            args,
            cwd: running.release.clone(),
            writable: vec![running.release.clone(), paths.cache(), paths.data()],
            readable: Vec::new(),
            env,
            paths,
        };
        let limits = Limits::of(&running.settings).map_err(|e| e.to_string())?;
        let group = self
            .cgroups
            .group(&running.app, kind, &limits)
            .map_err(|e| format!("cannot apply the app's resource limits: {e}"))?;
        Ok(Launch {
            kind: kind.to_string(),
            name: name.to_string(),
            version: running.version,
            shell,
            dir: running.release.clone(),
            run,
            isolation: self.isolation.clone(),
            group,
            oom_message: memory_exhausted(&running.settings),
            port,
            health,
            log,
        })
    }

    /// Runs `count` processes of `kind` from now on: starts the missing ones (web ones answer
    /// before they get requests), stops the extra ones.
    pub async fn scale(
        &self,
        app: &AppName,
        kind: &str,
        count: u32,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<(), String> {
        let formation = self.formation(app);
        let (running, have) = {
            let formation = formation.lock().unwrap();
            let Some(running) = formation.running.clone() else { return Ok(()) };
            let have: Vec<usize> = formation
                .processes
                .iter()
                .map(|s| s.lock().unwrap())
                .filter(|s| s.kind == kind)
                .map(|s| s.index)
                .collect();
            (running, have)
        };
        if !has_type(&running.commands, kind) {
            return Err(unknown_type(&running.commands, kind));
        }
        if kind == WEB && formation.lock().unwrap().idle {
            // Asleep, it stays asleep: the next request wakes as many as it is scaled to now.
            return Ok(());
        }
        let count = count as usize;
        let mut started = Vec::new();
        for index in (1..=count).filter(|i| !have.contains(i)) {
            match self.start_one(&running, kind, index, log).await {
                Ok(slot) => started.push(slot),
                Err(why) => {
                    stop_slots(started).await;
                    return Err(why);
                }
            }
        }
        let extra = {
            let mut formation = formation.lock().unwrap();
            formation.processes.extend(started);
            let (keep, extra): (Vec<_>, Vec<_>) = std::mem::take(&mut formation.processes).into_iter().partition(|s| {
                let slot = s.lock().unwrap();
                slot.kind != kind || slot.index <= count
            });
            formation.processes = keep;
            formation.processes.sort_by_key(|s| {
                let slot = s.lock().unwrap();
                (slot.kind != WEB, slot.kind.clone(), slot.index)
            });
            extra
        };
        stop_slots(extra).await;
        Ok(())
    }

    /// Stops the app's web processes after `IDLE_TIMEOUT` without requests; background
    /// processes go on. [`Supervisor::wake`] starts them again.
    pub async fn put_to_sleep(&self, app: &AppName) {
        let formation = self.formation(app);
        let web = {
            let mut formation = formation.lock().unwrap();
            if formation.idle || formation.running.is_none() {
                return;
            }
            formation.idle = true;
            let (web, others): (Vec<_>, Vec<_>) =
                std::mem::take(&mut formation.processes).into_iter().partition(|s| s.lock().unwrap().kind == WEB);
            formation.processes = others;
            web
        };
        stop_slots(web).await;
    }

    /// Starts the web processes of an idle app again, as many as it is scaled to, with its
    /// current settings.
    pub async fn wake(
        &self,
        app: &AppName,
        settings: &AppSettings,
        scale: &BTreeMap<String, u32>,
    ) -> Result<(), String> {
        let formation = self.formation(app);
        let running = {
            let mut formation = formation.lock().unwrap();
            if !formation.idle {
                return Ok(());
            }
            if let Some(running) = formation.running.as_mut() {
                running.settings = settings.clone();
            }
            formation.running.clone()
        };
        let Some(running) = running else { return Ok(()) };
        let count = counts(&running.commands, scale).get(WEB).copied().unwrap_or(0);
        let log = |line: &str| tracing::info!("{}: {line}", running.app);
        let mut started = Vec::new();
        for index in 1..=count as usize {
            match self.start_one(&running, WEB, index, &log).await {
                Ok(slot) => started.push(slot),
                Err(why) => {
                    stop_slots(started).await;
                    return Err(why);
                }
            }
        }
        let mut formation = formation.lock().unwrap();
        formation.idle = false;
        formation.last_request = Some(Instant::now());
        formation.processes.splice(0..0, started);
        Ok(())
    }

    /// Stops replaced processes after `wait`, in the background.
    fn retire(&self, previous: Vec<Arc<Mutex<Slot>>>, wait: Duration) {
        if previous.is_empty() {
            return;
        }
        let shutting_down = self.shutting_down.clone();
        self.retiring.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutting_down.cancelled() => {}
            }
            stop_slots(previous).await;
        });
    }

    /// A line from `source` (`router`, `release`) in the app's log, under the live release's
    /// number (or `version`, for a release not live yet).
    pub fn log_line(&self, app: &AppName, version: Option<i64>, source: &str, text: &str) {
        let live = || self.formation(app).lock().unwrap().running.as_ref().map(|r| r.version);
        let version = version.or_else(live).unwrap_or(0);
        match self.app_log(app) {
            Ok(log) => log.write(version, source, text),
            Err(e) => tracing::warn!("{app}: cannot open LogFiles/app.log: {e}"),
        }
    }

    /// The app's log (`LogFiles/app.log`, and `app.log.1` for older lines), as asked.
    pub async fn read_log(&self, app: &AppName, query: &app_log::LogQuery) -> app_log::AppOutput {
        let (path, query) = (self.data_dir.app(app).app_log(), query.clone());
        let read = tokio::task::spawn_blocking(move || app_log::read(&path, &query));
        read.await.expect("reading the log does not panic")
    }

    fn app_log(&self, app: &AppName) -> std::io::Result<Arc<AppLog>> {
        let mut logs = self.logs.lock().unwrap();
        if let Some(log) = logs.get(app) {
            return Ok(log.clone());
        }
        let paths = self.data_dir.app(app);
        // A request or a webhook that ends after its app was deleted must not make its home again.
        if !paths.home.is_dir() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "the app has been deleted"));
        }
        let log = AppLog::open(&paths.app_log())?;
        logs.insert(app.clone(), log.clone());
        Ok(log)
    }

    /// Stops the app's processes (SIGTERM to each group, SIGKILL after a grace period).
    pub async fn stop(&self, app: &AppName) {
        let formation = self.formation(app);
        let processes = {
            let mut formation = formation.lock().unwrap();
            formation.idle = false;
            std::mem::take(&mut formation.processes)
        };
        stop_slots(processes).await;
    }

    /// At shutdown: every app's processes, and those still retiring.
    pub async fn stop_all(&self) {
        self.shutting_down.cancel();
        let apps: Vec<AppName> = self.apps.lock().unwrap().keys().cloned().collect();
        futures_util::future::join_all(apps.iter().map(|app| self.stop(app))).await;
        self.retiring.close();
        self.retiring.wait().await;
    }

    /// Forgets an app (after it was deleted).
    pub async fn remove(&self, app: &AppName) {
        self.stop(app).await;
        self.apps.lock().unwrap().remove(app);
        self.logs.lock().unwrap().remove(app);
    }
}

/// The variable that names a process to itself (`web.1`, `worker.2`), as Heroku's `DYNO` does.
pub const PROCESS_VAR: &str = "SLIPWAY_PROCESS";

/// How many of each process type run: the scale set for it, else one.
fn counts(commands: &Commands, scale: &BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    let count = |kind: &str| scale.get(kind).copied().unwrap_or(1);
    if commands.web.is_some() {
        counts.insert(WEB.to_string(), count(WEB));
    }
    for (kind, _) in &commands.background {
        counts.insert(kind.clone(), count(kind));
    }
    counts
}

/// `Processes: web × 2, worker × 1.`
fn describe_counts(counts: &BTreeMap<String, u32>) -> String {
    if counts.is_empty() {
        return "Processes: none (no web process and no Procfile types).".to_string();
    }
    let list: Vec<String> = counts.iter().map(|(kind, n)| format!("{kind} × {n}")).collect();
    format!("Processes: {}.", list.join(", "))
}

fn has_type(commands: &Commands, kind: &str) -> bool {
    (kind == WEB && commands.web.is_some()) || commands.background.iter().any(|(k, _)| k == kind)
}

fn unknown_type(commands: &Commands, kind: &str) -> String {
    let mut types: Vec<&str> = commands.background.iter().map(|(k, _)| k.as_str()).collect();
    if commands.web.is_some() {
        types.insert(0, WEB);
    }
    format!("the live release has no process type `{kind}`; it has: {}", types.join(", "))
}

/// Stops processes, all at once, and waits until they are gone.
async fn stop_slots(slots: Vec<Arc<Mutex<Slot>>>) {
    let monitors: Vec<Monitor> = slots
        .iter()
        .filter_map(|slot| {
            let mut slot = slot.lock().unwrap();
            slot.generation += 1;
            slot.state = ProcessState::Stopped;
            slot.pid = None;
            slot.monitor.take()
        })
        .collect();
    futures_util::future::join_all(monitors.into_iter().map(Monitor::stop)).await;
}

/// What a process killed for memory is said to have died of.
pub fn memory_exhausted(settings: &AppSettings) -> String {
    let limit = settings.get(crate::settings::MEMORY_LIMIT).unwrap_or("the host's limit");
    format!("it was killed for using more memory than it may (MEMORY_LIMIT={limit})")
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
