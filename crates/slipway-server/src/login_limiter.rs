//! Failed logins counted per key, for every way in that takes a password: git and FTP count per
//! (client address, app), so five wrong passwords for one app do not lock everyone behind the
//! same address out of every app; the dashboard counts per address.
//!
//! [`MAX_FAILURES`] failures within [`FAILURE_WINDOW`] get the key refused for [`BLOCK_FOR`],
//! even with the right password. A success clears its count.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins from one client within [`FAILURE_WINDOW`] that get it blocked.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a blocked client is refused.
pub const BLOCK_FOR: Duration = Duration::from_secs(300);

/// Failed logins per key.
pub struct LoginLimiter<K> {
    max_failures: usize,
    window: Duration,
    block_for: Duration,
    keys: Mutex<HashMap<K, Failures>>,
}

#[derive(Default)]
struct Failures {
    recent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// Bounds the table an attacker with many addresses could grow.
const MAX_TRACKED: usize = 10_000;

impl<K: Hash + Eq + Clone> Default for LoginLimiter<K> {
    fn default() -> Self {
        Self::new(MAX_FAILURES, FAILURE_WINDOW, BLOCK_FOR)
    }
}

impl<K: Hash + Eq + Clone> LoginLimiter<K> {
    pub fn new(max_failures: usize, window: Duration, block_for: Duration) -> Self {
        LoginLimiter { max_failures, window, block_for, keys: Mutex::new(HashMap::new()) }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<K, Failures>> {
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How much longer `key` is refused, if it is.
    pub fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.keys().get(key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure; true when it got `key` blocked.
    pub fn failed(&self, key: &K, now: Instant) -> bool {
        let mut ips = self.keys();
        if ips.len() >= MAX_TRACKED && !ips.contains_key(key) {
            let window = self.window;
            ips.retain(|_, f| {
                f.blocked_until.is_some_and(|u| u > now)
                    || f.recent.back().is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        let entry = ips.entry(key.clone()).or_default();
        if entry.blocked_until.is_some_and(|u| u <= now) {
            entry.blocked_until = None;
        }
        while entry.recent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            entry.recent.pop_front();
        }
        entry.recent.push_back(now);
        if entry.recent.len() >= self.max_failures {
            entry.recent.clear();
            entry.blocked_until = Some(now + self.block_for);
            return true;
        }
        false
    }

    pub fn succeeded(&self, key: &K) {
        self.keys().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn an_ip_is_blocked_after_too_many_failures_within_the_window() {
        let limiter = LoginLimiter::<IpAddr>::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        assert!(!limiter.failed(&a, t0));
        assert!(!limiter.failed(&a, t0 + Duration::from_secs(1)));
        assert_eq!(limiter.blocked(&a, t0 + Duration::from_secs(2)), None);
        assert!(limiter.failed(&a, t0 + Duration::from_secs(2)), "the third failure blocks");
        assert_eq!(limiter.blocked(&a, t0 + Duration::from_secs(2)), Some(Duration::from_secs(300)));
        assert_eq!(limiter.blocked(&b, t0 + Duration::from_secs(2)), None, "other IPs are not affected");
        assert_eq!(limiter.blocked(&a, t0 + Duration::from_secs(303)), None, "the block expires");
    }

    #[test]
    fn failures_outside_the_window_and_before_a_success_do_not_count() {
        let limiter = LoginLimiter::<IpAddr>::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(!limiter.failed(&ip, t0));
        assert!(!limiter.failed(&ip, t0 + Duration::from_secs(1)));
        assert!(!limiter.failed(&ip, t0 + Duration::from_secs(61)), "the first failure fell out of the window");
        limiter.succeeded(&ip);
        assert!(!limiter.failed(&ip, t0 + Duration::from_secs(62)));
        assert!(!limiter.failed(&ip, t0 + Duration::from_secs(63)), "a success starts the count afresh");
        assert!(limiter.failed(&ip, t0 + Duration::from_secs(64)));
    }
}
