//! The task that owns one running process: it stops the process when told to, and restarts it
//! with exponential backoff when it crashes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::process::Child;

use super::health::wait_until_healthy;
use super::process::{kill_leftovers, spawn, terminate, Launch};
use super::{ProcessState, Slot};

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A process that ran this long before crashing starts its backoff afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// A running process's monitor, as its slot holds it.
pub struct Monitor {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    /// Starts monitoring `child`, which `launch` started, for the slot's `generation`.
    pub fn spawn(slot: Arc<Mutex<Slot>>, generation: u64, child: Child, launch: Launch) -> Self {
        let stop = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(run(slot, generation, child, launch, stop.clone()));
        Monitor { stop, task }
    }

    /// Tells the monitor to stop its process and waits until the process is gone.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

async fn run(
    slot: Arc<Mutex<Slot>>,
    generation: u64,
    mut child: Child,
    launch: Launch,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let group = child.id();
        let oom_kills = launch.group.oom_kills();
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop.notified() => {
                terminate(&mut child).await;
                launch.say(&format!("[slipway] {} `{}` stopped", launch.kind, launch.shell));
                return;
            }
        };
        if let Some(group) = group {
            kill_leftovers(group);
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = Duration::from_secs(1);
        }
        let status = if launch.group.oom_kills() > oom_kills {
            launch.oom_message.clone()
        } else {
            status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
        };
        launch.say(&format!("[slipway] {} exited ({status}); restarting in {}s", launch.kind, backoff.as_secs()));
        set_state(&slot, generation, ProcessState::Crashed, None, true);
        record_exit(&slot, generation, status);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.notified() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        set_state(&slot, generation, ProcessState::Restarting, None, false);
        match spawn(&launch) {
            Ok((new_child, _)) => {
                child = new_child;
                let (Some(port), Some(health)) = (launch.port, &launch.health) else {
                    set_state(&slot, generation, ProcessState::Running, child.id(), false);
                    continue;
                };
                let answered = tokio::select! {
                    answered = wait_until_healthy(&mut child, port, health, health.timeout) => Some(answered),
                    _ = stop.notified() => None,
                };
                match answered {
                    Some(Ok(())) => set_state(&slot, generation, ProcessState::Running, child.id(), false),
                    // Left running unhealthy, it would never get requests again: it counts as a
                    // crash, and is restarted with the backoff.
                    Some(Err(why)) => {
                        launch.say(&format!("[slipway] {} is not healthy after its restart: {why}", launch.name));
                        terminate(&mut child).await;
                    }
                    None => return terminate(&mut child).await,
                }
            }
            Err(e) => launch.say(&format!("[slipway] cannot restart the app: {e}")),
        }
    }
}

/// Records how the process ended, unless the slot has moved on to a newer process meanwhile.
fn record_exit(slot: &Arc<Mutex<Slot>>, generation: u64, status: String) {
    let mut slot = slot.lock().unwrap();
    if slot.generation == generation {
        slot.last_exit = Some(status);
    }
}

/// Records a state change, unless the slot has moved on to a newer process meanwhile.
fn set_state(slot: &Arc<Mutex<Slot>>, generation: u64, state: ProcessState, pid: Option<u32>, crashed: bool) {
    let mut slot = slot.lock().unwrap();
    if slot.generation == generation {
        slot.state = state;
        slot.pid = pid;
        if crashed {
            slot.restarts += 1;
        }
        if state == ProcessState::Running {
            slot.started = Instant::now();
        }
    }
}
