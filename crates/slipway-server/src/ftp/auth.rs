//! FTP logins: user = app name, password = its deployment password, checked by the service layer;
//! failed logins are counted per client IP, and an IP that failed too often is refused for a
//! while (even with the right password). Passwords are never logged.

use std::fmt::{self, Debug};
use std::time::Instant;

use async_trait::async_trait;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};

use crate::app_name::AppName;
use crate::login_limiter::{LoginLimiter, BLOCK_FOR, FAILURE_WINDOW, MAX_FAILURES};
use crate::service::Service;

/// Checks app name and deployment password; counts failures per client IP.
pub struct AppAuthenticator {
    service: Service,
    limiter: LoginLimiter,
}

impl AppAuthenticator {
    pub fn new(service: Service) -> Self {
        AppAuthenticator { service, limiter: LoginLimiter::new(MAX_FAILURES, FAILURE_WINDOW, BLOCK_FOR) }
    }
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
        let app = AppName::parse(username).ok();
        let password = creds.password.clone().unwrap_or_default();
        // An invalid name costs the same argon2 verification as a wrong password: any valid name
        // that no app has is checked against a dummy hash.
        let checked = app.clone().unwrap_or_else(|| AppName::parse("invalid-name").expect("a valid name"));
        let ok = self
            .service
            .check_password(&checked, &password)
            .await
            .map_err(|e| AuthenticationError::new(format!("checking the password: {e}")))?;
        if ok && app.is_some() {
            self.limiter.succeeded(ip);
            tracing::info!("FTP: {username} logged in from {ip}");
            return Ok(Principal { username: username.to_string() });
        }
        let now_blocked = self.limiter.failed(ip, Instant::now());
        let who = if app.is_some() { username } else { "(invalid app name)" };
        if now_blocked {
            tracing::warn!(
                "FTP: failed login for {who} from {ip}; {MAX_FAILURES} failures within {}s: {ip} is blocked for {}s",
                FAILURE_WINDOW.as_secs(),
                BLOCK_FOR.as_secs()
            );
        } else {
            tracing::warn!("FTP: failed login for {who} from {ip}");
        }
        Err(AuthenticationError::BadPassword)
    }
}

/// Used only to check the TLS configuration at start.
#[derive(Debug)]
pub struct NoLogins;

#[async_trait]
impl Authenticator for NoLogins {
    async fn authenticate(&self, _: &str, _: &Credentials) -> Result<Principal, AuthenticationError> {
        Err(AuthenticationError::BadUser)
    }
}
