//! One-off commands of an app: its release command, `slipway run`, cron jobs. Each runs once, as
//! the app's user in its sandbox, in a release, with the app's environment (as its processes
//! have it, without `PORT`), in a resource group of its own; its output arrives line by line as
//! it is printed, its exit status at the end. Cancelling kills its whole process group.

use std::path::Path;
use std::process::Stdio;

use slipway_build::log::Cancel;
use tokio::sync::mpsc;

use crate::app_name::AppName;
use crate::cgroups::Limits;
use crate::error::{Error, Result};
use crate::sandbox::Confined;
use crate::settings::AppSettings;
use crate::state::Shared;
use crate::supervisor::environment::app_environment;

/// A command to run once.
pub struct OneOff<'a> {
    pub app: &'a AppName,
    /// The release it runs in (its real folder).
    pub release: &'a Path,
    /// The Python version the release was built with, whose `bin` is on `PATH` after env's.
    pub python: Option<&'a str>,
    pub settings: &'a AppSettings,
    /// Run by `sh -c` as written.
    pub command: &'a str,
    /// Its resource group below the app's: `release`, `run`, `cron`.
    pub part: &'static str,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// `exit status: 1`, `signal: 9 (SIGKILL)`, or that it was killed for memory.
    pub description: String,
}

impl Exit {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs the command; each line of its output (stdout and stderr) goes to `output` as it comes.
pub async fn run(shared: &Shared, oneoff: &OneOff<'_>, cancel: &Cancel, mut output: impl FnMut(&str)) -> Result<Exit> {
    let paths = shared.data_dir.app(oneoff.app);
    let (uid, gid) = shared.app_ids(oneoff.app)?;
    let runtime = shared.runtime_bin(oneoff.python);
    let release = oneoff.release.to_path_buf();
    let confined = Confined {
        app: oneoff.app.clone(),
        uid,
        gid,
        program: "/bin/sh".into(),
        args: vec!["-c".into(), oneoff.command.into()],
        cwd: release.clone(),
        writable: vec![release.clone(), paths.cache(), paths.data()],
        readable: Vec::new(),
        env: app_environment(&release, runtime.as_deref(), oneoff.settings, &paths.data(), None),
        paths,
    };
    let mut command = shared.isolation.command(&confined);
    let limits = Limits::of(oneoff.settings)?;
    let group = shared
        .cgroups
        .group(oneoff.app, oneoff.part, &limits)
        .map_err(|e| Error::io("apply the resource limits of", oneoff.app.to_string(), e))?;
    group.attach_on_exec(&mut command);
    let oom_kills = group.oom_kills();
    let mut command = tokio::process::Command::from(command);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| Error::io("start", oneoff.command.to_string(), e))?;
    let pgid = child.id().map(|id| id as i32);
    if let Some(pgid) = pgid {
        cancel.register(pgid);
    }
    let (lines, mut received) = mpsc::unbounded_channel();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let lines = lines.clone();
        tokio::spawn(crate::lines::for_each(stream, move |line| lines.send(line).is_ok()));
    }
    drop(lines);
    let status = loop {
        tokio::select! {
            Some(line) = received.recv() => output(&line),
            status = child.wait() => break status,
        }
    };
    if let Some(pgid) = pgid {
        // What it left running in the background goes with it, and lets go of its output.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
        cancel.unregister(pgid);
    }
    while let Ok(Some(line)) = tokio::time::timeout(std::time::Duration::from_secs(2), received.recv()).await {
        output(&line);
    }
    let status = status.map_err(|e| Error::io("wait for", oneoff.command.to_string(), e))?;
    let description = if group.oom_kills() > oom_kills {
        crate::supervisor::memory_exhausted(oneoff.settings)
    } else {
        status.to_string()
    };
    Ok(Exit { code: status.code(), description })
}
