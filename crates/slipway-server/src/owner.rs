//! Which processes belong to a data dir's server, found without pid files (which go stale when
//! a crashed app is restarted under a new pid, and miss the processes a build's commands start).
//!
//! `slipway serve` puts [`OWNER_VAR`]`=<id of its data dir>` in its own environment before it
//! starts anything, so every process it starts — app processes, build commands and whatever
//! those start in turn — inherits it. After a crash (kill -9), the next server on the same data
//! dir finds them all in `/proc` and stops their process groups.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};

pub const OWNER_VAR: &str = "SLIPWAY_OWNER";
/// How long leftovers get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The owner id of a data dir: its absolute path, hashed.
pub fn owner_id(data_dir: &Path) -> String {
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Marks this process as the owner, for all it will start. Call before any thread starts.
pub fn mark_this_process(owner: &str) {
    // The server calls this from `main`'s thread before the runtime exists: nothing reads the
    // environment concurrently.
    std::env::set_var(OWNER_VAR, owner);
}

/// What to stop: whole process groups whose leader carries the mark (an app's process, a build
/// command: each is started as a group leader, so its group is all slipway's), and single
/// marked processes in other groups (a group may be a shell's job that holds other programs).
#[derive(Debug, Default, PartialEq, Eq)]
struct Leftovers {
    groups: BTreeSet<i32>,
    single: BTreeSet<i32>,
}

impl Leftovers {
    /// Every process (but this one) marked with `owner`.
    fn find(owner: &str) -> Self {
        let mark = format!("{OWNER_VAR}={owner}");
        let me = std::process::id() as i32;
        let Ok(entries) = std::fs::read_dir("/proc") else { return Leftovers::default() };
        let marked: BTreeSet<i32> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
            .filter(|pid| *pid != me)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == mark.as_bytes()))
            })
            .collect();
        let mut leftovers = Leftovers::default();
        for pid in &marked {
            match process_group(*pid) {
                Some(group) if marked.contains(&group) => leftovers.groups.insert(group),
                _ => leftovers.single.insert(*pid),
            };
        }
        leftovers
    }

    fn signal(&self, signal: Option<Signal>) -> bool {
        let mut alive = false;
        for group in &self.groups {
            alive |= killpg(Pid::from_raw(*group), signal).is_ok();
        }
        for pid in &self.single {
            alive |= nix::sys::signal::kill(Pid::from_raw(*pid), signal).is_ok();
        }
        alive
    }
}

/// Field 5 of `/proc/<pid>/stat`, after the command name (which may hold spaces and parentheses).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

/// Stops every process an earlier server of this data dir left running: SIGTERM, then SIGKILL
/// to what is left after a grace period. Returns how many groups and processes there were.
pub async fn stop_leftovers(owner: &str) -> usize {
    let leftovers = Leftovers::find(owner);
    let count = leftovers.groups.len() + leftovers.single.len();
    if count == 0 {
        return 0;
    }
    tracing::info!(
        "stopping what an earlier server of this data dir left running: process groups {:?}, processes {:?}",
        leftovers.groups,
        leftovers.single
    );
    leftovers.signal(Some(Signal::SIGTERM));
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && leftovers.signal(None) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    leftovers.signal(Some(Signal::SIGKILL));
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_group_is_read_past_the_command_name() {
        assert_eq!(process_group(std::process::id() as i32), Some(nix::unistd::getpgrp().as_raw()));
        assert_eq!(owner_id(Path::new("/a")), owner_id(Path::new("/a")));
        assert_ne!(owner_id(Path::new("/a")), owner_id(Path::new("/b")));
    }
}
