//! The service layer's errors. Each front-end maps them to its own answer — the API to a status
//! and `{"error"}`, the dashboard to a page or a message, git to a rejected push, FTP to a reply —
//! by [`Error::kind`], never by parsing text.

use std::path::PathBuf;

use crate::app_name::{AppName, InvalidAppName};
use crate::git::GitError;
use crate::settings::SettingError;
use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no app `{0}`")]
    NoSuchApp(String),
    #[error("app `{app}` has no deployment {id}")]
    NoSuchDeployment { app: AppName, id: i64 },
    #[error("app `{app}` has no deployment v{number}")]
    NoSuchDeploymentNumber { app: AppName, number: i64 },
    #[error("app `{app}` has no setting `{key}`")]
    NoSuchSetting { app: AppName, key: String },
    #[error("no server-wide setting `{0}`")]
    NoSuchGlobalSetting(String),
    #[error("app `{app}` has no run {id}")]
    NoSuchRun { app: AppName, id: i64 },
    #[error("app `{app}` has no cron job {number} (its app.json lists them)")]
    NoSuchCronJob { app: AppName, number: usize },
    #[error("app `{app}` has no domain `{domain}`")]
    NoSuchDomain { app: AppName, domain: String },
    /// An unknown app or a wrong secret: the same answer for both.
    #[error("no such webhook: check the URL that `slipway webhook APP --reset` printed")]
    NoSuchHook,
    /// It conflicts with what exists (a domain another app has).
    #[error("{0}")]
    Conflict(String),
    #[error("an app named `{0}` already exists")]
    AppExists(AppName),
    #[error(transparent)]
    InvalidAppName(#[from] InvalidAppName),
    #[error(transparent)]
    InvalidSetting(#[from] SettingError),
    /// Other bad input from a client, with what was expected.
    #[error("{0}")]
    Invalid(String),
    /// A path that leads outside the app home.
    #[error("{0}")]
    Forbidden(String),
    #[error("app `{0}` has no active deployment to start: push one first")]
    NothingDeployed(AppName),
    /// The app's process did not start or answer.
    #[error("{0}")]
    StartFailed(String),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    /// Too much at once (password checks): try again shortly.
    #[error("{0}")]
    Busy(String),
    /// A task of the server's that panicked or was cancelled.
    #[error("{0}")]
    Internal(String),
}

/// What kind of failure an [`Error`] is, for the front-ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    /// The request was wrong; it says what was expected.
    Invalid,
    /// Not allowed, whoever asks.
    Forbidden,
    /// It conflicts with the current state (an app that exists, nothing deployed yet).
    Conflict,
    /// The app itself failed.
    AppFailed,
    /// Too many requests at once; try again.
    Busy,
    /// slipway failed: the server log has the details; clients get no internal text.
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchApp(_)
            | Error::NoSuchDeployment { .. }
            | Error::NoSuchDeploymentNumber { .. }
            | Error::NoSuchSetting { .. }
            | Error::NoSuchGlobalSetting(_)
            | Error::NoSuchRun { .. }
            | Error::NoSuchCronJob { .. }
            | Error::NoSuchDomain { .. }
            | Error::NoSuchHook => ErrorKind::NotFound,
            Error::InvalidAppName(_) | Error::InvalidSetting(_) | Error::Invalid(_) => ErrorKind::Invalid,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::AppExists(_) | Error::NothingDeployed(_) | Error::Conflict(_) => ErrorKind::Conflict,
            Error::StartFailed(_) => ErrorKind::AppFailed,
            Error::Busy(_) => ErrorKind::Busy,
            Error::Git(_) | Error::Store(_) | Error::Io { .. } | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    /// What a client is told: the message itself, or, for slipway's own failures, a pointer to
    /// the server log (where the details are logged once, here).
    pub fn public_message(&self) -> String {
        if self.kind() == ErrorKind::Internal {
            tracing::error!("internal error: {self}");
            "internal error: slipway could not complete the request; the server log has the details".to_string()
        } else {
            self.to_string()
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("a server task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_tells_the_client_nothing_of_its_details() {
        let secret = "/srv/slipway/data/apps/shop/site/admin-token";
        let error = Error::io("read", secret, std::io::Error::other("disk on fire"));
        assert_eq!(error.kind(), ErrorKind::Internal);
        let told = error.public_message();
        assert!(!told.contains(secret) && !told.contains("disk on fire"), "{told}");
        assert!(told.contains("the server log has the details"), "{told}");
        assert_eq!(crate::http::error::status_of(error.kind()), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        // A user's mistake is told as it is.
        let invalid = Error::Invalid("PYTHON_VERSION: `three` is not a Python version".into());
        assert_eq!(invalid.public_message(), "PYTHON_VERSION: `three` is not a Python version");
    }
}
