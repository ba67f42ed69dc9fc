//! Credentials: the operator's admin token, and each app's deployment password, which works for
//! git and FTP, for that app only.
//!
//! Checking a password costs an argon2 hash (~19 MiB, tens of milliseconds), so it is rationed:
//! at most [`CONCURRENT_CHECKS`] at once and [`MAX_WAITING`] waiting — a flood of wrong passwords
//! gets `Busy` (429), not a server whose memory grows with it. A password that was just verified
//! is remembered for [`VERIFIED_FOR`] (by a keyed hash, never in clear), so the several HTTP
//! requests of one `git push` cost one argon2. Failures are counted per (address, app) for git
//! and FTP and per address for the dashboard's login, and too many lock that key out for a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::Service;
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::login_limiter::{LoginLimiter, BLOCK_FOR, FAILURE_WINDOW, MAX_FAILURES};
use crate::secrets;

/// Argon2 checks running at once.
pub const CONCURRENT_CHECKS: usize = 2;
/// Checks waiting for their turn; more are refused at once.
pub const MAX_WAITING: usize = 32;
/// How long a verified password is taken as verified.
pub const VERIFIED_FOR: Duration = Duration::from_secs(300);

/// Which way in a login came by, for the lockout and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    Git,
    Ftp,
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Via::Git => "git",
            Via::Ftp => "FTP",
        })
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Wrong user or password.
    Wrong,
    /// Too many failures from this address (for this app): refused for this much longer.
    LockedOut(Duration),
    /// Too many password checks at once: try again.
    Busy,
}

/// The login state the server keeps (see the module docs).
pub struct Logins {
    checks: Semaphore,
    waiting: AtomicUsize,
    /// Keyed hash of (app, password) → (app, when it was verified).
    verified: Mutex<HashMap<[u8; 32], (AppName, Instant)>>,
    /// Random per server start: the verified-password keys mean nothing outside this process.
    key: [u8; 32],
    apps: LoginLimiter<(Via, IpAddr, String)>,
    dashboard: LoginLimiter<IpAddr>,
}

impl Default for Logins {
    fn default() -> Self {
        Logins {
            checks: Semaphore::new(CONCURRENT_CHECKS),
            waiting: AtomicUsize::new(0),
            verified: Mutex::default(),
            key: rand::random(),
            apps: LoginLimiter::new(MAX_FAILURES, FAILURE_WINDOW, BLOCK_FOR),
            dashboard: LoginLimiter::new(MAX_FAILURES, FAILURE_WINDOW, BLOCK_FOR),
        }
    }
}

impl Logins {
    fn verified_key(&self, app: &AppName, password: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        hasher.update(app.as_bytes());
        hasher.update([0]);
        hasher.update(password.as_bytes());
        hasher.finalize().into()
    }

    fn recently_verified(&self, key: &[u8; 32]) -> bool {
        let mut verified = self.verified.lock().unwrap();
        verified.retain(|_, (_, at)| at.elapsed() < VERIFIED_FOR);
        verified.contains_key(key)
    }

    fn forget(&self, app: &AppName) {
        self.verified.lock().unwrap().retain(|_, (verified_app, _)| verified_app != app);
    }
}

impl Service {
    pub fn is_admin_token(&self, token: &str) -> bool {
        matches!(self.shared.store.admin_token_hash(), Ok(Some(hash)) if hash == secrets::token_sha256(token))
    }

    /// The dashboard's login form: the admin token, with a lockout per address.
    pub fn admin_login(&self, ip: IpAddr, token: &str) -> std::result::Result<(), Refused> {
        let logins = &self.shared.logins;
        if let Some(left) = logins.dashboard.blocked(&ip, Instant::now()) {
            tracing::warn!("dashboard: login refused from {ip}: too many failed logins ({}s left)", left.as_secs());
            return Err(Refused::LockedOut(left));
        }
        if self.is_admin_token(token) {
            logins.dashboard.succeeded(&ip);
            return Ok(());
        }
        if logins.dashboard.failed(&ip, Instant::now()) {
            tracing::warn!(
                "dashboard: failed login from {ip}; {MAX_FAILURES} failures within {}s: {ip} is refused for {}s",
                FAILURE_WINDOW.as_secs(),
                BLOCK_FOR.as_secs()
            );
        } else {
            tracing::warn!("dashboard: failed login from {ip}");
        }
        Err(Refused::Wrong)
    }

    /// A deployer's login over git or FTP: `user` must be an app's name and `password` its
    /// deployment password. Failures lock (address, user) out for a while; the reason is logged,
    /// the password never.
    pub async fn deployer_login(
        &self,
        via: Via,
        ip: IpAddr,
        user: &str,
        password: &str,
    ) -> std::result::Result<AppName, Refused> {
        let logins = &self.shared.logins;
        let key = (via, ip, user.to_string());
        if let Some(left) = logins.apps.blocked(&key, Instant::now()) {
            tracing::warn!(
                "{via}: login for {user} refused from {ip}: too many failed logins ({}s left)",
                left.as_secs()
            );
            return Err(Refused::LockedOut(left));
        }
        let app = AppName::parse(user).ok();
        // An invalid name costs the same check as a wrong password: timing does not tell.
        let checked = app.clone().unwrap_or_else(|| AppName::parse("invalid-name").expect("a valid name"));
        match self.check_password(&checked, password).await {
            Ok(true) if app.is_some() => {
                logins.apps.succeeded(&key);
                return Ok(checked);
            }
            Ok(_) => {}
            Err(Error::Busy(_)) => return Err(Refused::Busy),
            Err(e) => {
                tracing::error!("{via}: checking the password of {user}: {e}");
                return Err(Refused::Busy);
            }
        }
        let who = if app.is_some() { user } else { "(not an app name)" };
        if logins.apps.failed(&key, Instant::now()) {
            tracing::warn!(
                "{via}: failed login for {who} from {ip}; {MAX_FAILURES} failures within {}s: refused for {}s",
                FAILURE_WINDOW.as_secs(),
                BLOCK_FOR.as_secs()
            );
        } else {
            tracing::warn!("{via}: failed login for {who} from {ip}");
        }
        Err(Refused::Wrong)
    }

    /// Gives the app a new deployment password (the old one stops working); returns it.
    pub async fn reset_password(&self, app: &AppName) -> Result<String> {
        self.require_app(app)?;
        let password = secrets::generate_password();
        let (name, hashed) = (app.clone(), password.clone());
        self.blocking(move |shared| Ok(shared.store.set_password_hash(&name, &secrets::hash_password(&hashed))?))
            .await?;
        self.shared.logins.forget(app);
        Ok(password)
    }

    /// Whether `password` is the app's deployment password. An unknown app costs the same
    /// argon2 verification as a wrong password, so timing does not tell which apps exist.
    pub async fn check_password(&self, app: &AppName, password: &str) -> Result<bool> {
        let logins = &self.shared.logins;
        let key = logins.verified_key(app, password);
        if logins.recently_verified(&key) {
            return Ok(true);
        }
        if logins.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            logins.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Busy("too many password checks at once: try again in a moment".into()));
        }
        let permit = logins.checks.acquire().await;
        logins.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|e| Error::Internal(e.to_string()))?;
        let (name, password) = (app.clone(), password.to_string());
        let ok = self
            .blocking(move |shared| {
                let hash = shared.store.password_hash(&name)?;
                let known = hash.is_some();
                let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
                let ok = secrets::verify_password(&password, &hash) && known;
                // argon2's 19 MiB buffer goes back to the system, not to a growing heap.
                secrets::release_freed_memory();
                Ok(ok)
            })
            .await?;
        if ok {
            logins.verified.lock().unwrap().insert(key, (app.clone(), Instant::now()));
        }
        Ok(ok)
    }
}

fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| secrets::hash_password("no app has this password"))
}
