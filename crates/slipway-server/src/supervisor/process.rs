//! One app process: started in its own process group with its output going to the app log (and
//! a tail kept for error messages), stopped by signalling the whole group.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::app_log::AppLog;
use super::Health;
use crate::cgroups::Group;
use crate::sandbox::{Confined, Isolation};

/// How long a stopping app gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How many of a process's last output lines are kept for a failed start's message.
const TAIL_LINES: usize = 40;

/// Everything needed to start (and restart) one process of an app.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Its process type: `web`, `worker`, …
    pub kind: String,
    /// `web.1`, `worker.2`: its source in the app's log.
    pub name: String,
    /// The number of the deployment that built its release (`4` for v4).
    pub version: i64,
    /// The start command, run by `sh -c` as written (`cd sub && …`, `VAR=x cmd` work).
    pub shell: String,
    /// The release directory it runs in.
    pub dir: PathBuf,
    /// As whom and in what sandbox: `sh -c <shell>` in `dir`, with the app's environment.
    pub run: Confined,
    pub isolation: Isolation,
    /// Its cgroup (resource limits, and whether the kernel killed it for memory).
    pub group: Group,
    /// What the app log and `apps show` say when the kernel kills it for memory.
    pub oom_message: String,
    /// A web process's port, which it gets as `PORT`.
    pub port: Option<u16>,
    /// What a web process must answer before it gets requests (after a crash too).
    pub health: Option<Health>,
    pub log: Arc<AppLog>,
}

impl Launch {
    /// A line of the process's in the app's log.
    pub fn say(&self, text: &str) {
        self.log.write(self.version, &self.name, text);
    }
}

/// The last lines a process printed.
#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap();
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

pub fn spawn(launch: &Launch) -> std::io::Result<(Child, Tail)> {
    let mut command = launch.isolation.command(&launch.run);
    launch.group.attach_on_exec(&mut command);
    let mut child = Command::from(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        // Should the server end without stopping it (a task dropped mid-start), the app goes too.
        .kill_on_drop(true)
        .spawn()?;
    let tail = Tail::default();
    let streams = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ];
    for stream in streams.into_iter().flatten() {
        let (log, tail, name, version) = (launch.log.clone(), tail.clone(), launch.name.clone(), launch.version);
        tokio::spawn(crate::lines::for_each(stream, move |line| {
            log.write(version, &name, &line);
            tail.push(line);
            true
        }));
    }
    let port = launch.port.map(|p| format!(" on port {p}")).unwrap_or_default();
    launch.say(&format!(
        "[slipway] started {} `{}`{port} (pid {})",
        launch.kind,
        launch.shell,
        child.id().unwrap_or(0)
    ));
    Ok((child, tail))
}

/// The program and arguments that run `command` in a shell.
pub fn shell(command: &str) -> (PathBuf, Vec<std::ffi::OsString>) {
    (PathBuf::from("/bin/sh"), vec!["-c".into(), shell_line(command).into()])
}

/// The line `sh -c` runs: a simple command is exec'd (the process the supervisor watches is the
/// app itself), anything else — `migrate && gunicorn …`, `VAR=x cmd`, `cd sub && …` — runs as
/// written under the shell.
fn shell_line(command: &str) -> String {
    let compound = ["&&", "||", ";", "|", "&", "\n", "$(", "`", "(", ")"].iter().any(|op| command.contains(op));
    let first = command.split_whitespace().next().unwrap_or("");
    let assignment = first
        .split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if compound || assignment || first == "cd" || first == "exec" {
        command.to_string()
    } else {
        format!("exec {command}")
    }
}

/// What a process group (a process and what it started) uses: resident memory, and CPU time so
/// far.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// In bytes.
    pub memory: u64,
    pub cpu_seconds: f64,
}

/// The usage of each of `groups` (the processes of each group together), reading `/proc` once;
/// a group with no process left is absent.
pub fn groups_usage(groups: &[u32]) -> HashMap<u32, Usage> {
    let mut usage: HashMap<u32, Usage> = HashMap::new();
    if groups.is_empty() {
        return usage;
    }
    let page = rustix::param::page_size() as u64;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let Ok(entries) = std::fs::read_dir("/proc") else { return usage };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ppid pgrp … utime stime …`: the name may hold spaces and parentheses.
        let Some(fields) = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>()) else {
            continue;
        };
        let Some(group) = fields.get(2).and_then(|g| g.parse::<u32>().ok()).filter(|g| groups.contains(g)) else {
            continue;
        };
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let total = usage.entry(group).or_insert(Usage { memory: 0, cpu_seconds: 0.0 });
        total.cpu_seconds += (field(11) + field(12)) as f64 / ticks;
        let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else { continue };
        if let Some(pages) = statm.split_whitespace().nth(1).and_then(|r| r.parse::<u64>().ok()) {
            total.memory += pages * page;
        }
    }
    usage
}

/// SIGKILL to what is left of a process group whose leader has exited (a crashed app's workers,
/// a shell's children), so a restart finds its port free.
pub fn kill_leftovers(group: u32) {
    let _ = killpg(Pid::from_raw(group as i32), Signal::SIGKILL);
}

/// Stops a child of ours: SIGTERM to its process group, SIGKILL after the grace period, and
/// waits for it (which also reaps it).
pub async fn terminate(child: &mut Child) {
    let Some(pid) = child.id() else { return };
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands_are_execd_and_others_run_as_written() {
        assert_eq!(shell_line("gunicorn app:app"), "exec gunicorn app:app");
        assert_eq!(shell_line("python manage.py migrate && gunicorn x"), "python manage.py migrate && gunicorn x");
        assert_eq!(shell_line("WEB_CONCURRENCY=2 gunicorn x"), "WEB_CONCURRENCY=2 gunicorn x");
        assert_eq!(shell_line("cd sub && python app.py"), "cd sub && python app.py");
        assert_eq!(shell_line("python app.py --opt=1"), "exec python app.py --opt=1");
        assert_eq!(shell_line("exec gunicorn x"), "exec gunicorn x", "not `exec exec`");
    }
}
