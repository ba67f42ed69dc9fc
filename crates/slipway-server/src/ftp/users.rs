//! The logged-in FTP user: one app, rooted at its home.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use unftp_core::auth::{Principal, UserDetail, UserDetailError, UserDetailProvider};

use crate::app_name::AppName;
use crate::layout::DataDir;
use crate::service::Service;

/// A logged-in FTP user: one app, rooted at its home.
#[derive(Debug)]
pub struct AppUser {
    pub app: AppName,
    pub home: PathBuf,
    /// The app's uid and gid when apps run as their own users: what the session creates in the
    /// app's releases becomes theirs.
    pub owner: Option<(u32, u32)>,
}

impl AppUser {
    /// What the session made in the app's releases becomes the app's user's.
    pub fn give_to_app(&self, path: &Path) {
        if let Some(ids) = self.owner {
            crate::sandbox::give_made_file(&self.home, path, ids);
        }
    }
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
pub struct AppUsers {
    pub data_dir: DataDir,
    /// To find an app's user (none when only checking the TLS configuration).
    pub service: Option<Service>,
}

#[async_trait]
impl UserDetailProvider for AppUsers {
    type User = AppUser;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<AppUser, UserDetailError> {
        // The authenticator accepted only valid names; the type says so before a path is built.
        let app = AppName::parse(&principal.username).map_err(|e| UserDetailError::Generic(e.to_string()))?;
        let owner = self
            .service
            .as_ref()
            .filter(|s| s.shared().isolation.is_sandboxed())
            .and_then(|s| s.shared().app_ids(&app).ok());
        Ok(AppUser { home: self.data_dir.app(&app).home, app, owner })
    }
}
