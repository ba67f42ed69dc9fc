//! Several instances on one PostgreSQL store and one shared data dir — App Service's scale-out
//! model (`docs/scale-out.md`): who this instance is, an app's cluster-wide lock, and what the
//! instances tell each other about apps. With the embedded SQLite store there is one instance and
//! all of this is local.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::app_name::AppName;
use crate::state::Shared;
use crate::store::{app_lock_key, InstanceRecord, Status, Unfinished};

/// How often an instance records that it is alive (and its processes).
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// An instance not seen for this long is gone: its unfinished work is failed by the others.
const GONE_AFTER: Duration = Duration::from_secs(20);
/// An instance gone for this long leaves `slipway instances`.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How often a deployment waiting for another instance's asks again.
const LOCK_POLL: Duration = Duration::from_millis(300);

/// This instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `--instance`, else the host's name.
    pub name: String,
    pub started_at: OffsetDateTime,
}

impl Instance {
    pub fn new(name: String) -> Self {
        Instance { name, started_at: OffsetDateTime::now_utc() }
    }
}

/// `--instance NAME`: lowercase letters, digits and `-`, 1–63 characters, as a host name label.
pub fn parse_instance_name(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!("--instance `{name}`: expected 1-63 lowercase letters, digits and `-`, not starting with `-`"))
    }
}

/// The host's name, as an instance name (`localhost` if it has none that fits).
pub fn host_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_lowercase();
    let label = host.split('.').next().unwrap_or_default().to_string();
    parse_instance_name(&label).unwrap_or_else(|_| "localhost".to_string())
}

/// What an instance tells the others about an app; each applies it to its own processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEvent {
    /// The live release changed (a deployment, a rollback): run it.
    Release,
    /// Start the live release again (settings changed, `apps restart|start`).
    Restart,
    Stop,
    /// The formation changed (`ps scale`).
    Scale,
    /// The app was deleted.
    Remove,
    /// Its custom domains changed.
    Domains,
}

const EVENTS: [(AppEvent, &str); 6] = [
    (AppEvent::Release, "release"),
    (AppEvent::Restart, "restart"),
    (AppEvent::Stop, "stop"),
    (AppEvent::Scale, "scale"),
    (AppEvent::Remove, "remove"),
    (AppEvent::Domains, "domains"),
];

/// A notice between instances: `<origin> <event> <app>`.
pub fn notice(origin: &str, event: AppEvent, app: &AppName) -> String {
    let name = EVENTS.iter().find(|(e, _)| *e == event).map(|(_, name)| *name).unwrap_or_default();
    format!("{origin} {name} {app}")
}

/// `(origin, event, app)` of a notice; `None` for one this version does not know.
pub fn parse_notice(notice: &str) -> Option<(&str, AppEvent, AppName)> {
    let mut words = notice.split(' ');
    let (origin, event, app) = (words.next()?, words.next()?, words.next()?);
    let event = EVENTS.iter().find(|(_, name)| *name == event)?.0;
    Some((origin, event, AppName::parse(app).ok()?))
}

/// A cluster-wide lock (an app's, or the cron leader's), held until dropped.
pub struct ClusterLock {
    shared: Arc<Shared>,
    key: String,
}

impl ClusterLock {
    /// The app's lock, if no other instance holds it (a store error counts as held, and is logged).
    pub fn try_take(shared: &Arc<Shared>, app: &AppName) -> Option<Self> {
        Self::try_take_key(shared, app_lock_key(app))
    }

    pub fn try_take_key(shared: &Arc<Shared>, key: String) -> Option<Self> {
        match shared.store.try_lock(&key) {
            Ok(true) => Some(ClusterLock { shared: shared.clone(), key }),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!("cannot take the lock `{key}`: {e}");
                None
            }
        }
    }

    /// Waits for the lock; `say` is told once, naming the instance whose deployment runs. `None`
    /// when `cancelled` fires first.
    pub async fn wait(
        shared: &Arc<Shared>,
        app: &AppName,
        say: impl Fn(String),
        cancelled: &tokio::sync::Notify,
    ) -> Option<Self> {
        let mut said = false;
        loop {
            if let Some(lock) = Self::try_take(shared, app) {
                return Some(lock);
            }
            if !said {
                said = true;
                say(format!(
                    "Another deployment of {app} is running on {}: waiting for it to finish…",
                    holder(shared, app)
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(LOCK_POLL) => {}
                _ = cancelled.notified() => return None,
            }
        }
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        if let Err(e) = self.shared.store.unlock(&self.key) {
            tracing::warn!("cannot let go of the lock `{}`: {e}", self.key);
        }
    }
}

/// Tells the other instances (with a shared store) what changed about an app.
pub fn tell_instances(shared: &Shared, event: AppEvent, app: &AppName) {
    if let Err(e) = shared.store.notify(&notice(&shared.instance.name, event, app)) {
        tracing::warn!("{app}: cannot tell the other instances: {e}");
    }
}

/// Why a deployment that this instance's previous run left unfinished failed.
pub const INTERRUPTED: &str = "slipway stopped while this deployment was running";

/// Fails the app's deployments that are building on no live instance — call it holding the app's
/// cluster lock, so that none is — and removes what they left half-built. `except` is the caller's.
pub fn fail_orphans(shared: &Shared, app: &AppName, except: Option<i64>) {
    let unfinished = shared.store.unfinished_deployments().unwrap_or_default();
    for orphan in unfinished.iter().filter(|d| d.app == *app && Some(d.id) != except && d.status != Status::Pending) {
        fail_orphan(shared, orphan);
    }
}

/// Deployments and runs no live instance will finish: at start, this instance's own from its
/// previous run; always, those building with their app's lock free (their instance's session
/// ended: it died), and those waiting on, and runs of, instances gone silent.
pub fn recover_orphans(shared: &Arc<Shared>, at_start: bool) {
    let me = shared.instance.name.as_str();
    let instances = shared.store.instances().unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let gone: Vec<&str> = instances.iter().filter(|i| is_gone(i, me, now)).map(|i| i.name.as_str()).collect();
    let live = |name: &str| instances.iter().any(|i| i.name == name) && !gone.contains(&name);
    for orphan in shared.store.unfinished_deployments().unwrap_or_default() {
        match orphan.instance.as_deref() {
            // Building: only the lock says its builder died (a slow instance still holds it).
            Some(name) if name != me && orphan.status != Status::Pending => {
                if let Some(_lock) = ClusterLock::try_take(shared, &orphan.app) {
                    fail_orphan(shared, &orphan);
                }
            }
            // Waiting for its turn (nothing on disk yet): orphaned when its instance is gone.
            Some(name) if name != me && !live(name) => fail_orphan(shared, &orphan),
            Some(name) if name != me => {}
            _ if at_start => fail_orphan(shared, &orphan),
            _ => {}
        }
    }
    let interrupted = |name: &str| {
        let outcome = format!("interrupted: instance {name} stopped while it ran");
        if let Err(e) = shared.store.fail_interrupted_runs(name, &outcome) {
            tracing::warn!("marking the runs of instance {name} interrupted: {e}");
        }
    };
    if at_start {
        interrupted(me);
    }
    gone.into_iter().for_each(interrupted);
    for forgotten in instances.iter().filter(|i| i.name != me && now - i.seen_at > FORGET_AFTER) {
        let _ = shared.store.remove_instance(&forgotten.name);
    }
}

/// Whether `instance` stopped beating: not seen for [`GONE_AFTER`] (never this instance, `me`).
pub fn is_gone(instance: &InstanceRecord, me: &str, now: OffsetDateTime) -> bool {
    instance.name != me && now - instance.seen_at > GONE_AFTER
}

/// One queue per app for what the other instances say, so that an app's notices are applied one
/// at a time while a slow start of one app holds up no other.
#[derive(Default)]
pub struct AppQueues(std::sync::Mutex<std::collections::HashMap<AppName, Arc<tokio::sync::Mutex<()>>>>);

impl AppQueues {
    pub async fn turn(&self, app: &AppName) -> tokio::sync::OwnedMutexGuard<()> {
        let queue = self.0.lock().unwrap().entry(app.clone()).or_default().clone();
        queue.lock_owned().await
    }
}

fn fail_orphan(shared: &Shared, orphan: &Unfinished) {
    let reason = match orphan.instance.as_deref() {
        Some(name) if name != shared.instance.name => {
            format!("instance {name} stopped while this deployment was running")
        }
        _ => INTERRUPTED.to_string(),
    };
    match shared.store.fail_unfinished(orphan.id, &reason) {
        Ok(true) => {
            tracing::warn!(
                "deployment {} of {} failed: {reason}; its next deployment builds a fresh env",
                orphan.id,
                orphan.app
            );
            let paths = shared.data_dir.app(&orphan.app);
            crate::releases::remove(&paths, orphan.id);
            let _ = std::fs::remove_dir_all(paths.checkout(orphan.id));
        }
        Ok(false) => {}
        Err(e) => tracing::warn!("failing deployment {} of {}: {e}", orphan.id, orphan.app),
    }
}

/// Which instance runs the app's deployment, as people read it.
fn holder(shared: &Shared, app: &AppName) -> String {
    let unfinished = shared.store.unfinished_deployments().unwrap_or_default();
    let running = unfinished.iter().rev().find(|d| d.app == *app && d.status != Status::Pending);
    match running.and_then(|d| d.instance.as_deref()) {
        Some(instance) => format!("instance {instance}"),
        None => "another instance".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_their_origin_event_and_app() {
        let app = AppName::parse("shop").unwrap();
        let text = notice("web-2", AppEvent::Scale, &app);
        assert_eq!(text, "web-2 scale shop");
        assert_eq!(parse_notice(&text), Some(("web-2", AppEvent::Scale, app)));
        assert_eq!(parse_notice("web-2 reboot shop"), None, "an event from a newer version is skipped");
    }

    #[test]
    fn instance_names_are_host_name_labels() {
        assert_eq!(parse_instance_name("web-2").unwrap(), "web-2");
        for bad in ["", "-a", "Web", "a_b", "a.b", &"x".repeat(64)] {
            assert!(parse_instance_name(bad).is_err(), "{bad}");
        }
        assert!(parse_instance_name(&host_instance_name()).is_ok());
    }
}
