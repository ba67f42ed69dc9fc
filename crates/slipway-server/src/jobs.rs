//! Build jobs: every build (and a rollback's carrying of user files) runs as `slipway build-job`,
//! as the app's user in its sandbox ([`crate::sandbox`]), never in the server's process: nothing
//! a repository holds runs with the server's rights. The job reads its [`Job`] on standard input,
//! writes its log on standard error — relayed line by line into the deployment's log, control
//! characters escaped again, since the job is not trusted — and its [`BuildReport`] on standard
//! output.
//!
//! The job runs in a process group of its own, registered with the log's
//! [`Cancel`](slipway_build::log::Cancel): cancelling the deployment (the operator, a timeout)
//! kills the whole group, and whatever the job left running is killed when it ends.

use std::path::PathBuf;
use std::process::Stdio;

use slipway_build::job::{BuildReport, Job};
use slipway_build::log::BuildLog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::layout::DATA_VAR;
use crate::sandbox::Confined;
use crate::state::Shared;

/// A report is a few kilobytes; a job that writes more is not believed.
const MAX_REPORT: u64 = 1024 * 1024;

/// What a job may reach besides the app's releases and cache.
pub struct Access {
    pub readable: Vec<PathBuf>,
}

/// How a job ended: its report, or why there is none.
pub enum Ended {
    Reported(BuildReport),
    Cancelled(String),
}

/// Runs `job` for `app`, relaying its log into `log`.
pub async fn run(shared: &Shared, app: &AppName, job: &Job, access: Access, log: &BuildLog) -> Result<Ended> {
    let paths = shared.data_dir.app(app);
    let (uid, gid) = shared.app_ids(app)?;
    let confined = Confined {
        app: app.clone(),
        uid,
        gid,
        program: shared.config.slipway_exe.clone(),
        args: vec!["build-job".into()],
        cwd: paths.releases(),
        writable: vec![paths.releases(), paths.cache(), paths.data()],
        readable: access.readable,
        env: vec![(DATA_VAR.to_string(), paths.data().to_string_lossy().into_owned())],
        paths,
    };
    let mut command = shared.isolation.command(&confined);
    let settings = crate::settings::AppSettings::new(shared.store.settings(app)?);
    let limits = crate::cgroups::Limits::of(&settings)?;
    let cgroup = shared
        .cgroups
        .group(app, "build", &limits)
        .map_err(|e| Error::io("apply the resource limits of", app.to_string(), e))?;
    cgroup.attach_on_exec(&mut command);
    let oom_kills = cgroup.oom_kills();
    let mut command = tokio::process::Command::from(command);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    let program = shared.config.slipway_exe.display().to_string();
    let mut child = command.spawn().map_err(|e| Error::io("start the build job", program, e))?;
    let group = child.id().map(|id| id as i32);
    if let Some(group) = group {
        log.cancel().register(group);
    }
    let input = serde_json::to_vec(job).map_err(|e| Error::Internal(format!("the build job's input: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let relay = {
        let log = log.clone();
        tokio::spawn(crate::lines::for_each(stderr, move |line| {
            log.relay(&line);
            true
        }))
    };
    // A job that dies early closes its input: the write fails, and the report says why.
    let _ = stdin.write_all(&input).await;
    drop(stdin);
    let mut report = Vec::new();
    let _ = stdout.take(MAX_REPORT).read_to_end(&mut report).await;
    let status = child.wait().await;
    if let Some(group) = group {
        // What the job left running goes with it.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(group), nix::sys::signal::Signal::SIGKILL);
        log.cancel().unregister(group);
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), relay).await;
    if let Some(reason) = log.cancel().reason() {
        return Ok(Ended::Cancelled(reason));
    }
    if cgroup.oom_kills() > oom_kills {
        let limit = settings.get(crate::settings::MEMORY_LIMIT).unwrap_or("the host's limit");
        return Ok(Ended::Cancelled(format!(
            "the build was killed for using more memory than it may (MEMORY_LIMIT={limit})"
        )));
    }
    match serde_json::from_slice::<BuildReport>(&report) {
        Ok(report) => Ok(Ended::Reported(report)),
        Err(_) => {
            let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            Err(Error::Internal(format!("the build job ended ({status}) without a report; its log is above")))
        }
    }
}

/// A log for jobs that belong to no deployment (a rollback's): into the server's log.
pub struct TracingSink(pub AppName);

impl slipway_build::log::LogSink for TracingSink {
    fn line(&self, line: &str) {
        tracing::info!("{}: {line}", self.0);
    }
}
