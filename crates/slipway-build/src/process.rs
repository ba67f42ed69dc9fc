//! Running a child process with its output streamed into the build log line by line as it is
//! printed (never buffered to the end), stdout and stderr alike.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::log::BuildLog;
use crate::{BuildError, Result};

/// How long the output of a finished command is waited for.
const LEFTOVER_OUTPUT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `command`, streaming its output into `log`; fails with `what` in the message if it cannot
/// start or exits non-zero.
pub fn run_logged(what: &str, command: &mut Command, log: &BuildLog) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let program = command.get_program().to_string_lossy().into_owned();
    log.cancel().check()?;
    die_with_parent(command);
    // A group of its own, so that cancelling the build reaches the command's children too (in a
    // build job, the job's group, which its runner stops whole).
    let own_group = log.cancel().own_groups();
    if own_group {
        command.process_group(0);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::CommandSpawn { what: what.to_string(), program, source })?;
    let group = child.id() as i32;
    if own_group {
        log.cancel().register(group);
    }
    let (done, forwarded) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("piped stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped stderr")),
    ] {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            forward_lines(stream, &log);
            let _ = done.send(());
        });
    }
    let status = child.wait();
    // What the command left running goes with it: a build step leaves nothing behind, and a
    // background process holding the output open would keep the step from ending. In a build
    // job, whose runner stops the job's group at its end, such output is waited for briefly.
    if own_group {
        kill_group(group);
    }
    for _ in 0..2 {
        if forwarded.recv_timeout(LEFTOVER_OUTPUT_WAIT).is_err() {
            log.warn(format!("{what}: a process it started is still running and holding its output; it is stopped at the end of the build"));
            break;
        }
    }
    let status =
        status.map_err(|source| BuildError::CommandSpawn { what: what.to_string(), program: what.to_string(), source });
    log.cancel().unregister(group);
    log.cancel().check()?;
    let status = status?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::CommandFailed { what: what.to_string(), status: describe_status(status) })
    }
}

/// Runs `command` and returns its stdout; stderr goes to the log. For short queries (versions).
pub fn capture(what: &str, command: &mut Command) -> Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.stdin(Stdio::null()).output().map_err(|source| BuildError::CommandSpawn {
        what: what.to_string(),
        program,
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::Installer(format!(
            "{what} failed ({}): {}",
            describe_status(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// SIGKILL to a process group; one that is gone already is fine.
pub(crate) fn kill_group(group: i32) {
    // SAFETY: killpg has no memory effects.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
}

/// Asks the kernel to kill the child if the process running the build dies (kill -9 of
/// `slipway serve`): an installer left running would go on writing into an env that the next
/// build is replacing. (Linux ties this to the spawning thread, which waits for the child.)
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

fn forward_lines(stream: impl Read, log: &BuildLog) {
    crate::lines::for_each(stream, |line| log.output(line));
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemorySink;
    use std::sync::Arc;

    #[test]
    fn output_of_both_streams_reaches_the_log_and_failure_names_the_command() {
        let sink = Arc::new(MemorySink::default());
        let log = BuildLog::new(sink.clone());
        let err = run_logged("the probe", Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]), &log)
            .unwrap_err();
        assert_eq!(err.to_string(), "the probe failed (exit code 3); its output is in the log above");
        let lines = sink.lines();
        assert!(lines.contains(&"    out".to_string()) && lines.contains(&"    err".to_string()), "{lines:?}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let log = BuildLog::new(Arc::new(MemorySink::default()));
        let err = run_logged("deploy script", &mut Command::new("/nonexistent/x"), &log).unwrap_err();
        assert!(err.to_string().starts_with("cannot run deploy script (`/nonexistent/x`)"), "{err}");
    }
}
