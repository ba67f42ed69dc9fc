//! FTP logins: user = app name, password = its deployment password, checked by the service layer
//! (which rations argon2 and locks (address, app) out after too many failures). Passwords are
//! never logged.

use std::fmt::{self, Debug};

use async_trait::async_trait;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};

use crate::service::credentials::{Refused, Via};
use crate::service::Service;

/// Checks app name and deployment password.
pub struct AppAuthenticator {
    service: Service,
}

impl AppAuthenticator {
    pub fn new(service: Service) -> Self {
        AppAuthenticator { service }
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
        let password = creds.password.clone().unwrap_or_default();
        match self.service.deployer_login(Via::Ftp, creds.source_ip, username, &password).await {
            Ok(app) => {
                tracing::info!("FTP: {app} logged in from {}", creds.source_ip);
                Ok(Principal { username: app.to_string() })
            }
            Err(Refused::LockedOut(_)) => Err(AuthenticationError::IpDisallowed),
            Err(Refused::Busy) => Err(AuthenticationError::new("too many logins at once: try again")),
            Err(Refused::Wrong) => Err(AuthenticationError::BadPassword),
        }
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
