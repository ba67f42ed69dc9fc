//! The logged-in FTP user: one app, rooted at its home.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use unftp_core::auth::{Principal, UserDetail, UserDetailError, UserDetailProvider};

use crate::app_name::AppName;
use crate::layout::DataDir;

/// A logged-in FTP user: one app, rooted at its home.
#[derive(Debug)]
pub struct AppUser {
    pub app: AppName,
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
pub struct AppUsers {
    pub data_dir: DataDir,
}

#[async_trait]
impl UserDetailProvider for AppUsers {
    type User = AppUser;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<AppUser, UserDetailError> {
        // The authenticator accepted only valid names; the type says so before a path is built.
        let app = AppName::parse(&principal.username).map_err(|e| UserDetailError::Generic(e.to_string()))?;
        Ok(AppUser { home: self.data_dir.app(&app).home, app })
    }
}
