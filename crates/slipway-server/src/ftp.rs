//! FTP and explicit FTPS into each app's home — the seed's first way to reset env: log in with
//! the app's deployment credentials and delete `/site/wwwroot/env`.
//!
//! The protocol is libunftp's. This module supplies what is slipway's:
//! - [`AppAuthenticator`]: user = app name, password = the deployment password, checked against
//!   the argon2 hash in the store; failed logins are counted per client IP by [`LoginLimiter`],
//!   and an IP that failed too often is refused for a while (even with the right password).
//!   Passwords are never logged.
//! - [`AppStorage`]: unftp-sbe-fs opened at the app's home, so every session is rooted there.
//!   Paths are first normalized by [`confine`] (a `..` that would climb above `/` is refused), then
//!   unftp-sbe-fs resolves them with cap-std, i.e. `openat2(RESOLVE_BENEATH)`: the kernel refuses
//!   any absolute symlink or `..` that leads out of the home, at the moment of the operation.
//!
//! `crate::vfs::resolve` is not reused here: it refuses every `..` (FTP clients legitimately send
//! `CWD ..` and relative paths), and it checks symlinks by canonicalizing before the operation,
//! whereas cap-std has the kernel enforce the confinement during the operation itself.
//!
//! We accept connections ourselves (so that `--ftp 127.0.0.1:0` reports the real port) and hand
//! each one to a libunftp [`Server`] built for it; libunftp's own failed-login policy lives in its
//! listener, so the per-IP limit is ours.
//!
//! Known limitation (libunftp 0.24): after an upload (STOR) over a TLS data connection the server
//! closes the connection without sending its own TLS close_notify. The file is stored and the
//! client gets `226`; lftp and curl accept this, but Python's `ftplib.FTP_TLS.storbinary`
//! raises `SSLEOFError` in `unwrap()` after the transfer. Downloads and listings shut TLS down
//! properly.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::fmt::{self, Debug};
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use libunftp::options::{FtpsRequired, SiteMd5};
use libunftp::{Server, ServerBuilder};
use tokio::net::{TcpListener, TcpStream};
use unftp_core::auth::{
    AuthenticationError, Authenticator, Credentials, Principal, UserDetail, UserDetailError, UserDetailProvider,
};
use unftp_core::storage::{self, ErrorKind, Fileinfo, Metadata, StorageBackend};
use unftp_sbe_fs::Filesystem;

use crate::config::Config;
use crate::state::Shared;

/// Failed logins from one IP within [`FAILURE_WINDOW`] that get it blocked.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a blocked IP is refused.
pub const BLOCK_FOR: Duration = Duration::from_secs(300);

const GREETING: &str = "slipway FTP: user = app name, password = its deployment password";

/// Binds the FTP listener (port 0 picks a free one) and checks the TLS files, so that a bad
/// `--tls-cert`/`--tls-key` stops `slipway serve` at start rather than failing each login.
pub async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    if config.ftp_require_tls && config.tls.is_none() {
        anyhow::bail!("--ftp-require-tls needs --tls-cert and --tls-key");
    }
    if config.ftp_passive.is_empty() {
        anyhow::bail!("--ftp-passive: the range {}-{} is empty", config.ftp_passive.start(), config.ftp_passive.end());
    }
    if let Some(tls) = &config.tls {
        FtpService::builder(config, config.data_dir.join("apps"), Arc::new(NoLogins)).build().map_err(|e| {
            anyhow::anyhow!("FTPS with --tls-cert {} and --tls-key {}: {e}", tls.cert.display(), tls.key.display())
        })?;
    }
    TcpListener::bind(config.ftp).await.with_context(|| format!("FTP: listen on {}", config.ftp))
}

/// Accepts FTP control connections until the task is aborted.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let service = Arc::new(FtpService::new(shared));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let service = service.clone();
                tokio::spawn(async move { service.session(stream, peer).await });
            }
            Err(e) => {
                // EMFILE and the like: back off instead of spinning.
                tracing::warn!("FTP: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

struct FtpService {
    shared: Arc<Shared>,
    authenticator: Arc<AppAuthenticator>,
}

impl FtpService {
    fn new(shared: Arc<Shared>) -> Self {
        let authenticator = Arc::new(AppAuthenticator {
            shared: shared.clone(),
            limiter: LoginLimiter::new(MAX_FAILURES, FAILURE_WINDOW, BLOCK_FOR),
        });
        FtpService { shared, authenticator }
    }

    fn builder(
        config: &Config,
        apps_dir: PathBuf,
        authenticator: Arc<dyn Authenticator>,
    ) -> ServerBuilder<AppStorage, AppUser> {
        let users = Arc::new(AppUsers { apps_dir });
        let mut builder = ServerBuilder::<AppStorage, AppUser>::with_user_detail_provider(
            Box::new(|| AppStorage { inner: None }),
            users,
        )
        .authenticator(authenticator)
        .greeting(GREETING)
        .passive_ports(config.ftp_passive.clone())
        // SITE MD5 reads whole files into a 10 MiB buffer per call: not needed, not offered.
        .sitemd5(SiteMd5::None)
        .logger(slog::Logger::root(ToTracing, slog::o!()));
        if let Some(tls) = &config.tls {
            builder = builder.ftps(tls.cert.clone(), tls.key.clone());
            if config.ftp_require_tls {
                builder = builder.ftps_required(FtpsRequired::All, FtpsRequired::All);
            }
        }
        builder
    }

    async fn session(&self, stream: TcpStream, peer: SocketAddr) {
        // Replies are small writes; with Nagle on, the `226` that follows a `150` waits for the
        // client's delayed ACK (~40 ms per LIST, minutes for an env with thousands of folders).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("FTP: TCP_NODELAY for {peer}: {e}");
        }
        let config = &self.shared.config;
        let server: Server<AppStorage, AppUser> =
            match Self::builder(config, config.data_dir.join("apps"), self.authenticator.clone()).build() {
                Ok(server) => server,
                Err(e) => {
                    tracing::error!("FTP: cannot serve {peer}: {e}");
                    return;
                }
            };
        if let Err(e) = server.service(stream).await {
            tracing::debug!("FTP: session of {peer} ended: {e:?}");
        }
    }
}

// ---- authentication ----

/// Checks app name and deployment password; counts failures per client IP.
pub struct AppAuthenticator {
    shared: Arc<Shared>,
    limiter: LoginLimiter,
}

impl Debug for AppAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppAuthenticator")
    }
}

#[async_trait]
impl Authenticator for AppAuthenticator {
    async fn authenticate(&self, username: &str, creds: &Credentials) -> Result<Principal, AuthenticationError> {
        let ip = creds.source_ip;
        if let Some(left) = self.limiter.blocked(ip, Instant::now()) {
            tracing::warn!(
                "FTP: login refused from {ip}: too many failed logins (blocked for {}s more)",
                left.as_secs().max(1)
            );
            return Err(AuthenticationError::IpDisallowed);
        }
        let valid_name = crate::apps::validate_name(username).is_ok();
        let hash = if valid_name {
            self.shared
                .store
                .password_hash(username)
                .map_err(|e| AuthenticationError::new(format!("reading credentials: {e:#}")))?
        } else {
            None
        };
        let known = hash.is_some();
        let password = creds.password.clone().unwrap_or_default();
        // An unknown user costs the same argon2 verification as a wrong password.
        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
        let ok = tokio::task::spawn_blocking(move || crate::secrets::verify_password(&password, &hash))
            .await
            .map_err(|e| AuthenticationError::new(format!("verifying password: {e}")))?;
        if ok && known {
            self.limiter.succeeded(ip);
            tracing::info!("FTP: {username} logged in from {ip}");
            return Ok(Principal { username: username.to_string() });
        }
        let now_blocked = self.limiter.failed(ip, Instant::now());
        let who = if valid_name { username } else { "(invalid app name)" };
        if now_blocked {
            tracing::warn!(
                "FTP: failed login for {who} from {ip}; {MAX_FAILURES} failures within {}s: {ip} is blocked for {}s",
                FAILURE_WINDOW.as_secs(),
                BLOCK_FOR.as_secs()
            );
        } else {
            tracing::warn!("FTP: failed login for {who} from {ip}");
        }
        Err(if known { AuthenticationError::BadPassword } else { AuthenticationError::BadUser })
    }
}

fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| crate::secrets::hash_password("no app has this password").unwrap_or_default())
}

/// Used only to check the TLS configuration at start.
#[derive(Debug)]
struct NoLogins;

#[async_trait]
impl Authenticator for NoLogins {
    async fn authenticate(&self, _: &str, _: &Credentials) -> Result<Principal, AuthenticationError> {
        Err(AuthenticationError::BadUser)
    }
}

/// Failed logins per client IP: [`MAX_FAILURES`] within the window block that IP for a while.
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    block_for: Duration,
    ips: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Default)]
struct Failures {
    recent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// Bounds the table an attacker with many addresses could grow.
const MAX_TRACKED_IPS: usize = 10_000;

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration, block_for: Duration) -> Self {
        LoginLimiter { max_failures, window, block_for, ips: Mutex::new(HashMap::new()) }
    }

    fn ips(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.ips.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How much longer `ip` is refused, if it is.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.ips().get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure; true when it got `ip` blocked.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> bool {
        let mut ips = self.ips();
        if ips.len() >= MAX_TRACKED_IPS && !ips.contains_key(&ip) {
            let window = self.window;
            ips.retain(|_, f| {
                f.blocked_until.is_some_and(|u| u > now)
                    || f.recent.back().is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        let entry = ips.entry(ip).or_default();
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

    pub fn succeeded(&self, ip: IpAddr) {
        self.ips().remove(&ip);
    }
}

// ---- users ----

/// A logged-in FTP user: one app, rooted at its home.
#[derive(Debug)]
pub struct AppUser {
    pub app: String,
    pub home: PathBuf,
}

impl fmt::Display for AppUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.app)
    }
}

impl UserDetail for AppUser {
    fn home(&self) -> Option<&Path> {
        Some(&self.home)
    }
}

#[derive(Debug)]
struct AppUsers {
    apps_dir: PathBuf,
}

#[async_trait]
impl UserDetailProvider for AppUsers {
    type User = AppUser;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<AppUser, UserDetailError> {
        // The authenticator accepted only valid names; checked again because the path is built from it.
        crate::apps::validate_name(&principal.username).map_err(UserDetailError::Generic)?;
        Ok(AppUser { app: principal.username.clone(), home: self.apps_dir.join(&principal.username) })
    }
}

// ---- storage ----

/// unftp-sbe-fs opened at the logged-in app's home (see the module docs).
#[derive(Debug)]
pub struct AppStorage {
    inner: Option<Filesystem>,
}

type Meta = unftp_sbe_fs::Meta;

fn denied(message: &str) -> storage::Error {
    storage::Error::new(
        ErrorKind::PermissionDenied,
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, message.to_string()),
    )
}

/// Normalizes a client path (libunftp has joined it to the working directory already) to an
/// absolute path inside the home: `.` dropped, `..` applied, and refused when it would climb above
/// `/` — the home is the root, there is nothing above it to reach.
pub fn confine(path: &Path) -> Result<PathBuf, String> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!("`{}` leads outside the app home", path.display()));
                }
            }
            Component::Normal(part) => parts.push(part),
        }
    }
    let mut confined = PathBuf::from("/");
    confined.extend(parts);
    Ok(confined)
}

impl AppStorage {
    fn fs(&self) -> storage::Result<&Filesystem> {
        self.inner.as_ref().ok_or_else(|| denied("not logged in"))
    }

    fn path<P: AsRef<Path>>(path: P) -> storage::Result<PathBuf> {
        confine(path.as_ref()).map_err(|e| denied(&e))
    }
}

#[async_trait]
impl StorageBackend<AppUser> for AppStorage {
    type Metadata = Meta;

    fn enter(&mut self, user: &AppUser) -> std::io::Result<()> {
        self.inner = Some(Filesystem::new(&user.home)?);
        Ok(())
    }

    fn supported_features(&self) -> u32 {
        unftp_core::storage::FEATURE_RESTART
    }

    async fn metadata<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<Meta> {
        self.fs()?.metadata(user, Self::path(path)?).await
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &AppUser,
        path: P,
    ) -> storage::Result<Vec<Fileinfo<PathBuf, Meta>>> {
        self.fs()?.list(user, Self::path(path)?).await
    }

    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &AppUser,
        path: P,
        start_pos: u64,
    ) -> storage::Result<Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>> {
        self.fs()?.get(user, Self::path(path)?, start_pos).await
    }

    async fn put<P: AsRef<Path> + Send + Debug, R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &AppUser,
        input: R,
        path: P,
        start_pos: u64,
    ) -> storage::Result<u64> {
        self.fs()?.put(user, input, Self::path(path)?, start_pos).await
    }

    async fn del<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        self.fs()?.del(user, Self::path(path)?).await
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        self.fs()?.mkd(user, Self::path(path)?).await
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, from: P, to: P) -> storage::Result<()> {
        self.fs()?.rename(user, Self::path(from)?, Self::path(to)?).await
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        let path = Self::path(path)?;
        if path == Path::new("/") {
            return Err(denied("the app home itself cannot be removed"));
        }
        self.fs()?.rmd(user, path).await
    }

    /// unftp-sbe-fs checks a CWD by listing the folder (a stat per entry); one stat is enough, and
    /// lftp's `rm -r` sends tens of thousands of CWDs for an env.
    async fn cwd<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        let (fs, path) = (self.fs()?, Self::path(path)?);
        let meta = fs.metadata(user, &path).await?;
        if meta.is_dir() {
            Ok(())
        } else if meta.is_symlink() {
            // A link to a folder: followed only if it stays inside the home.
            fs.cwd(user, path).await
        } else {
            Err(storage::Error::from(ErrorKind::PermanentDirectoryNotAvailable))
        }
    }
}

// ---- logging ----

/// libunftp logs through slog: forwarded to tracing at debug level (its per-connection `info`
/// lines would drown the server's log). It never logs passwords (they are redacted in its types).
struct ToTracing;

impl slog::Drain for ToTracing {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        tracing::debug!(target: "slipway_server::ftp::libunftp", "{}", record.msg());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_inside_the_home() {
        let ok = |p: &str| confine(Path::new(p)).unwrap();
        assert_eq!(ok("/"), PathBuf::from("/"));
        assert_eq!(ok(""), PathBuf::from("/"));
        assert_eq!(ok("/site/wwwroot/./env"), PathBuf::from("/site/wwwroot/env"));
        assert_eq!(ok("/site/wwwroot/../wwwroot/app.py"), PathBuf::from("/site/wwwroot/app.py"));
        assert_eq!(ok("site/.."), PathBuf::from("/"));
        // libunftp joins an absolute argument to the working directory by replacing it.
        assert_eq!(ok("/site//wwwroot/"), PathBuf::from("/site/wwwroot"));
        for escape in ["/..", "..", "/site/../..", "/../other-app/site", "/site/wwwroot/../../../etc/passwd"] {
            assert!(confine(Path::new(escape)).unwrap_err().contains("outside the app home"), "{escape}");
        }
    }

    #[test]
    fn an_ip_is_blocked_after_too_many_failures_within_the_window() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        assert!(!limiter.failed(a, t0));
        assert!(!limiter.failed(a, t0 + Duration::from_secs(1)));
        assert_eq!(limiter.blocked(a, t0 + Duration::from_secs(2)), None);
        assert!(limiter.failed(a, t0 + Duration::from_secs(2)), "the third failure blocks");
        assert_eq!(limiter.blocked(a, t0 + Duration::from_secs(2)), Some(Duration::from_secs(300)));
        assert_eq!(limiter.blocked(b, t0 + Duration::from_secs(2)), None, "other IPs are not affected");
        assert_eq!(limiter.blocked(a, t0 + Duration::from_secs(303)), None, "the block expires");
    }

    #[test]
    fn failures_outside_the_window_and_before_a_success_do_not_count() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(!limiter.failed(ip, t0));
        assert!(!limiter.failed(ip, t0 + Duration::from_secs(1)));
        assert!(!limiter.failed(ip, t0 + Duration::from_secs(61)), "the first failure fell out of the window");
        limiter.succeeded(ip);
        assert!(!limiter.failed(ip, t0 + Duration::from_secs(62)));
        assert!(!limiter.failed(ip, t0 + Duration::from_secs(63)), "a success starts the count afresh");
        assert!(limiter.failed(ip, t0 + Duration::from_secs(64)));
    }
}
