//! FTP and explicit FTPS into each app's home — the seed's first way to reset env: log in with
//! the app's deployment credentials and delete `/site/wwwroot/env`.
//!
//! The protocol is libunftp's. slipway supplies the logins ([`auth`]: app name and deployment
//! password, failures limited per client IP), the users ([`users`]: one app, rooted at its home)
//! and the storage ([`storage`]: unftp-sbe-fs confined to the home by the kernel).
//!
//! We accept connections ourselves (so that the caller binds the listener and knows its address)
//! and hand each one to a libunftp [`Server`] built for it; libunftp's own failed-login policy
//! lives in its listener, so the per-IP limit is ours.
//!
//! Known limitation (libunftp 0.24): after an upload (STOR) over a TLS data connection the server
//! closes the connection without sending its own TLS close_notify. The file is stored and the
//! client gets `226`; lftp and curl accept this, but Python's `ftplib.FTP_TLS.storbinary`
//! raises `SSLEOFError` in `unwrap()` after the transfer. Downloads and listings shut TLS down
//! properly.

mod auth;
mod storage;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use libunftp::options::{FtpsRequired, SiteMd5};
use libunftp::{Server, ServerBuilder};
use tokio::net::{TcpListener, TcpStream};
use unftp_core::auth::Authenticator;

use crate::config::Config;
use crate::layout::DataDir;
use crate::service::Service;
use auth::{AppAuthenticator, NoLogins};
use storage::AppStorage;
use users::{AppUser, AppUsers};

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
        let data_dir = DataDir::new(config.data_dir.clone());
        let users = Arc::new(AppUsers { data_dir, service: None });
        FtpService::builder(config, users, Arc::new(NoLogins)).build().map_err(|e| {
            anyhow::anyhow!("FTPS with --tls-cert {} and --tls-key {}: {e}", tls.cert.display(), tls.key.display())
        })?;
    }
    TcpListener::bind(config.ftp).await.with_context(|| format!("FTP: listen on {}", config.ftp))
}

/// Accepts FTP control connections until the task is aborted.
pub async fn serve(listener: TcpListener, service: Service) {
    let service = Arc::new(FtpService::new(service));
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
    service: Service,
    authenticator: Arc<AppAuthenticator>,
    users: Arc<AppUsers>,
}

impl FtpService {
    fn new(service: Service) -> Self {
        let authenticator = Arc::new(AppAuthenticator::new(service.clone()));
        let users = Arc::new(AppUsers { data_dir: service.shared().data_dir.clone(), service: Some(service.clone()) });
        FtpService { service, authenticator, users }
    }

    fn builder(
        config: &Config,
        users: Arc<AppUsers>,
        authenticator: Arc<dyn Authenticator>,
    ) -> ServerBuilder<AppStorage, AppUser> {
        let mut builder =
            ServerBuilder::<AppStorage, AppUser>::with_user_detail_provider(Box::new(AppStorage::default), users)
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
        let shared = self.service.shared();
        let server: Server<AppStorage, AppUser> =
            match Self::builder(&shared.config, self.users.clone(), self.authenticator.clone()).build() {
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
