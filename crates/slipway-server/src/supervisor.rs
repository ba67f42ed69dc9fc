//! The process supervisor: runs each app's active release, restarts it when it crashes, and
//! switches releases without a gap.
//!
//! A new release starts beside the running one on a fresh port; only when it answers HTTP does the
//! proxy switch to it and the old one stop. A release that never answers is killed and the old one
//! keeps serving. Each app runs in its own process group, so stopping it stops its workers too.
//! Its output goes to `LogFiles/app.log`, rotated by size.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::apps::AppPaths;
use crate::startup;

pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping app gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A process that ran this long before crashing starts its backoff afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
pub const APP_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
const TAIL_LINES: usize = 40;

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
}

/// Everything needed to start (and restart) one release.
#[derive(Debug, Clone)]
struct Launch {
    shell: String,
    wwwroot: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    log: Arc<AppLog>,
}

struct Slot {
    state: ProcessState,
    generation: u64,
    launch: Option<Launch>,
    pid: Option<u32>,
    restarts: u32,
    /// The task that owns the running release's process; told to stop, it stops and reaps it.
    monitor: Option<Monitor>,
}

struct Monitor {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    /// Tells the monitor to stop its process and waits until the process is gone.
    async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

pub struct Supervisor {
    data_dir: PathBuf,
    slots: Mutex<HashMap<String, Arc<Mutex<Slot>>>>,
    /// One writer per app, shared by its releases, so rotation is seen by all of them.
    logs: Mutex<HashMap<String, Arc<AppLog>>>,
}

/// The settings and the start command's choice, logged line by line into the deployment log.
pub struct ReleaseRequest<'a> {
    pub app: &'a str,
    pub settings: &'a std::collections::BTreeMap<String, String>,
    pub log: &'a (dyn Fn(&str) + Send + Sync),
}

impl Supervisor {
    pub fn new(data_dir: PathBuf) -> Self {
        Supervisor { data_dir, slots: Mutex::default(), logs: Mutex::default() }
    }

    fn slot(&self, app: &str) -> Arc<Mutex<Slot>> {
        self.slots
            .lock()
            .unwrap()
            .entry(app.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Slot {
                    state: ProcessState::Stopped,
                    generation: 0,
                    launch: None,
                    pid: None,
                    restarts: 0,
                    monitor: None,
                }))
            })
            .clone()
    }

    pub fn info(&self, app: &str) -> ProcessInfo {
        let slot = self.slot(app);
        let slot = slot.lock().unwrap();
        ProcessInfo {
            state: slot.state,
            pid: slot.pid,
            port: slot.launch.as_ref().map(|l| l.port),
            command: slot.launch.as_ref().map(|l| l.shell.clone()),
            restarts: slot.restarts,
        }
    }

    /// The port the proxy should send this app's requests to, while it is running.
    pub fn port(&self, app: &str) -> Option<u16> {
        let slot = self.slots.lock().unwrap().get(app)?.clone();
        let slot = slot.lock().unwrap();
        (slot.state == ProcessState::Running).then(|| slot.launch.as_ref().map(|l| l.port)).flatten()
    }

    /// Starts the code now in wwwroot as the app's new release and waits until it answers HTTP;
    /// then stops the previous release. On failure the previous release keeps running and the
    /// error carries the tail of the new process's output.
    pub async fn release(&self, request: ReleaseRequest<'_>) -> Result<(), String> {
        let paths = AppPaths::new(&self.data_dir, request.app);
        let wwwroot = paths.wwwroot();
        let chosen = startup::choose(&wwwroot, request.settings.get("STARTUP_COMMAND").map(String::as_str))?;
        (request.log)(&format!("Start command: `{}` (chosen by {})", chosen.shell, chosen.rule));
        let timeout = startup_timeout(request.settings)?;
        let port = free_port().map_err(|e| format!("no free port for the app: {e}"))?;
        let log = self.app_log(&paths).map_err(|e| format!("cannot open LogFiles/app.log: {e}"))?;
        let launch = Launch {
            shell: chosen.shell,
            wwwroot: wwwroot.clone(),
            env: app_environment(&wwwroot, request.settings, port),
            port,
            log,
        };
        (request.log)(&format!(
            "Starting the app on 127.0.0.1:{port}; waiting up to {}s for it to answer HTTP.",
            timeout.as_secs()
        ));
        let (mut child, tail) = spawn(&launch).map_err(|e| format!("cannot start `{}`: {e}", launch.shell))?;
        let started = Instant::now();
        if let Err(why) = wait_until_answering(&mut child, port, timeout).await {
            terminate(&mut child).await;
            let tail = tail.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n");
            return Err(format!("the app did not start: {why}\nLast lines of its output:\n{tail}"));
        }
        (request.log)(&format!("The app answers on port {port} after {:.1}s.", started.elapsed().as_secs_f64()));
        let pid = child.id();
        let slot = self.slot(request.app);
        let stop = Arc::new(tokio::sync::Notify::new());
        let previous = {
            let mut guard = slot.lock().unwrap();
            guard.generation += 1;
            guard.state = ProcessState::Running;
            guard.pid = pid;
            guard.restarts = 0;
            guard.launch = Some(launch.clone());
            let task = tokio::spawn(monitor(slot.clone(), guard.generation, child, launch, stop.clone()));
            guard.monitor.replace(Monitor { stop, task })
        };
        self.record_pid(request.app, pid);
        // The proxy already sends requests to the new release; the old one can go.
        if let Some(previous) = previous {
            previous.stop().await;
        }
        Ok(())
    }

    /// Where the process group of an app's release is recorded, so that a server that was killed
    /// can stop it at its next start.
    fn pid_file(&self, app: &str) -> PathBuf {
        self.data_dir.join("run/apps").join(format!("{app}.pid"))
    }

    fn record_pid(&self, app: &str, pid: Option<u32>) {
        let path = self.pid_file(app);
        match pid {
            Some(pid) => {
                let _ = std::fs::create_dir_all(path.parent().expect("pid file has a directory"));
                let _ = std::fs::write(&path, pid.to_string());
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Stops app processes left running by a server that died without stopping them (kill -9).
    pub async fn stop_orphans(&self) {
        let Ok(entries) = std::fs::read_dir(self.data_dir.join("run/apps")) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let app = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let pid: Option<u32> = std::fs::read_to_string(&path).ok().and_then(|p| p.trim().parse().ok());
            let wwwroot = AppPaths::new(&self.data_dir, &app).wwwroot();
            // Only a process still working in this app's wwwroot: the pid may have been reused.
            if let Some(pid) =
                pid.filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == wwwroot))
            {
                tracing::info!("stopping {app}'s process {pid}, left over from before the restart");
                stop_group(pid).await;
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    fn app_log(&self, paths: &AppPaths) -> std::io::Result<Arc<AppLog>> {
        let mut logs = self.logs.lock().unwrap();
        if let Some(log) = logs.get(&paths.home.to_string_lossy().into_owned()) {
            return Ok(log.clone());
        }
        let log = AppLog::open(&paths.log_files())?;
        logs.insert(paths.home.to_string_lossy().into_owned(), log.clone());
        Ok(log)
    }

    /// Stops the app's process (SIGTERM to its group, SIGKILL after a grace period).
    pub async fn stop(&self, app: &str) {
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
        self.record_pid(app, None);
    }

    pub async fn stop_all(&self) {
        let apps: Vec<String> = self.slots.lock().unwrap().keys().cloned().collect();
        futures_util::future::join_all(apps.iter().map(|app| self.stop(app))).await;
    }

    /// Forgets an app (after it was deleted).
    pub async fn remove(&self, app: &str) {
        self.stop(app).await;
        self.slots.lock().unwrap().remove(app);
        self.logs.lock().unwrap().remove(&AppPaths::new(&self.data_dir, app).home.to_string_lossy().into_owned());
    }
}

fn startup_timeout(settings: &std::collections::BTreeMap<String, String>) -> Result<Duration, String> {
    match settings.get("STARTUP_TIMEOUT").map(|v| v.trim()) {
        None | Some("") => Ok(DEFAULT_STARTUP_TIMEOUT),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("setting STARTUP_TIMEOUT: `{v}` is not a number of seconds between 1 and 3600")),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The app's environment: every setting, `PORT`, and env's `bin` first on PATH.
fn app_environment(
    wwwroot: &Path,
    settings: &std::collections::BTreeMap<String, String>,
    port: u16,
) -> Vec<(String, String)> {
    let env_dir = wwwroot.join("env");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut vars: Vec<(String, String)> = settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.push(("PORT".into(), port.to_string()));
    vars.push(("PYTHONUNBUFFERED".into(), "1".into()));
    if env_dir.join("bin").is_dir() {
        vars.push(("VIRTUAL_ENV".into(), env_dir.to_string_lossy().into_owned()));
        vars.push(("PATH".into(), format!("{}:{path}", env_dir.join("bin").display())));
    }
    vars
}

type Tail = Arc<Mutex<VecDeque<String>>>;

fn spawn(launch: &Launch) -> std::io::Result<(Child, Tail)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {}", launch.shell))
        .current_dir(&launch.wwwroot)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        // Should the server end without stopping it (a task dropped mid-start), the app goes too.
        .kill_on_drop(true)
        .spawn()?;
    let tail: Tail = Arc::default();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let (log, tail) = (launch.log.clone(), tail.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.line(&line);
                let mut tail = tail.lock().unwrap();
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
    }
    launch.log.line(&format!(
        "[slipway] started `{}` on port {} (pid {})",
        launch.shell,
        launch.port,
        child.id().unwrap_or(0)
    ));
    Ok((child, tail))
}

/// Polls until something answers HTTP on the port, the process exits, or time runs out.
async fn wait_until_answering(child: &mut Child, port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status}) before answering HTTP on port {port}"));
        }
        if answers_http(port).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing answered HTTP on 127.0.0.1:{port} within {}s (the app must listen on $PORT; STARTUP_TIMEOUT sets the wait)",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Any HTTP response counts: a 404 or a 500 still proves the app is up.
pub async fn answers_http(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: slipway-health\r\n\r\n").await.ok()?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).await.ok()?;
        if &head != b"HTTP/" {
            return None;
        }
        // Read the rest too (briefly): closing early makes the app log a "connection reset".
        let (mut rest, mut sink) = ((&mut stream).take(1 << 20), Vec::new());
        let _ = tokio::time::timeout(Duration::from_millis(500), rest.read_to_end(&mut sink)).await;
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten().is_some()
}

/// Owns one release's process: stops it when told to, restarts it with backoff when it crashes.
async fn monitor(
    slot: Arc<Mutex<Slot>>,
    generation: u64,
    mut child: Child,
    launch: Launch,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop.notified() => {
                terminate(&mut child).await;
                launch.log.line(&format!("[slipway] release on port {} stopped", launch.port));
                return;
            }
        };
        if started.elapsed() >= HEALTHY_RUN {
            backoff = Duration::from_secs(1);
        }
        let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        launch.log.line(&format!("[slipway] the app exited ({status}); restarting in {}s", backoff.as_secs()));
        set_state(&slot, generation, ProcessState::Crashed, None, true);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.notified() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        set_state(&slot, generation, ProcessState::Restarting, None, false);
        match spawn(&launch) {
            Ok((new_child, _)) => {
                child = new_child;
                let answered = tokio::select! {
                    answered = wait_until_answering(&mut child, launch.port, DEFAULT_STARTUP_TIMEOUT) => Some(answered.is_ok()),
                    _ = stop.notified() => None,
                };
                match answered {
                    Some(true) => set_state(&slot, generation, ProcessState::Running, child.id(), false),
                    Some(false) => {}
                    None => return terminate(&mut child).await,
                }
            }
            Err(e) => launch.log.line(&format!("[slipway] cannot restart the app: {e}")),
        }
    }
}

fn set_state(slot: &Arc<Mutex<Slot>>, generation: u64, state: ProcessState, pid: Option<u32>, crashed: bool) {
    let mut slot = slot.lock().unwrap();
    if slot.generation == generation {
        slot.state = state;
        slot.pid = pid;
        if crashed {
            slot.restarts += 1;
        }
    }
}

/// Stops a child of ours: SIGTERM to its process group, SIGKILL after the grace period, and
/// waits for it (which also reaps it).
async fn terminate(child: &mut Child) {
    let Some(pid) = child.id() else { return };
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
}

/// SIGTERM to the process group of a process that is not our child (left over from before a
/// restart; init reaps it), SIGKILL if it is still there after the grace period.
async fn stop_group(pid: u32) {
    let group = Pid::from_raw(pid as i32);
    if killpg(group, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if killpg(group, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}

/// `LogFiles/app.log`, rotated to `app.log.1` when it passes [`APP_LOG_MAX_BYTES`].
#[derive(Debug)]
pub struct AppLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AppLog {
    fn open(dir: &Path) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("app.log");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Arc::new(AppLog { path, file: Mutex::new(file) }))
    }

    fn line(&self, line: &str) {
        let mut file = self.file.lock().unwrap();
        let _ = file.write_all(format!("{line}\n").as_bytes());
        if file.metadata().map(|m| m.len() > APP_LOG_MAX_BYTES).unwrap_or(false) {
            let _ = std::fs::rename(&self.path, self.path.with_extension("log.1"));
            if let Ok(fresh) = std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
                *file = fresh;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_log_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let log = AppLog::open(dir.path()).unwrap();
        let big = "x".repeat(1024 * 1024);
        // Ten lines of 1 MiB and a newline pass 10 MiB: the tenth one rotates the file.
        for _ in 0..APP_LOG_MAX_BYTES / (1024 * 1024) {
            log.line(&big);
        }
        log.line("after the rotation");
        let rotated = std::fs::metadata(dir.path().join("app.log.1")).unwrap().len();
        assert!(rotated > APP_LOG_MAX_BYTES, "{rotated}");
        let current = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
        assert!(current == "after the rotation\n", "app.log holds {} bytes", current.len());
    }

    #[test]
    fn startup_timeout_is_validated() {
        let settings = |v: &str| [("STARTUP_TIMEOUT".to_string(), v.to_string())].into_iter().collect();
        assert_eq!(startup_timeout(&settings("5")).unwrap(), Duration::from_secs(5));
        assert_eq!(startup_timeout(&Default::default()).unwrap(), DEFAULT_STARTUP_TIMEOUT);
        assert_eq!(
            startup_timeout(&settings("soon")).unwrap_err(),
            "setting STARTUP_TIMEOUT: `soon` is not a number of seconds between 1 and 3600"
        );
    }
}
