//! Apps: names and where each app's files live.
//!
//! Everything of one app is below its home, `<data-dir>/apps/<app>/`, which is also its FTP root:
//! `repository/` (bare git repo), `site/wwwroot/` (deployed code), `site/wwwroot/env/` (the
//! virtual environment), `site/deployments/<id>/log.txt`, `LogFiles/`.

use std::path::{Path, PathBuf};

/// `^[a-z][a-z0-9-]{1,38}[a-z0-9]$`, checked without a regex engine.
pub fn validate_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let ok = (3..=40).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid app name `{}`: expected 3 to 40 characters, lowercase letters, digits and `-`, starting with a letter and not ending with `-`",
            name.escape_debug()
        ))
    }
}

#[derive(Debug, Clone)]
pub struct AppPaths {
    pub home: PathBuf,
}

impl AppPaths {
    pub fn new(data_dir: &Path, app: &str) -> Self {
        AppPaths { home: data_dir.join("apps").join(app) }
    }
    pub fn repository(&self) -> PathBuf {
        self.home.join("repository")
    }
    pub fn site(&self) -> PathBuf {
        self.home.join("site")
    }
    pub fn wwwroot(&self) -> PathBuf {
        self.home.join("site/wwwroot")
    }
    pub fn env(&self) -> PathBuf {
        self.wwwroot().join(slipway_build::env::ENV_DIR)
    }
    /// Deployment logs and the sync manifest (Kudu keeps both under `site/deployments`).
    pub fn deployments(&self) -> PathBuf {
        self.home.join("site/deployments")
    }
    pub fn deployment_log(&self, id: i64) -> PathBuf {
        self.deployments().join(id.to_string()).join("log.txt")
    }
    pub fn log_files(&self) -> PathBuf {
        self.home.join("LogFiles")
    }
    /// Scratch space for checkouts, on the same file system as wwwroot.
    pub fn tmp(&self) -> PathBuf {
        self.home.join("tmp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        for good in ["abc", "hello", "my-app-2", &format!("a{}", "b".repeat(39))] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Hello", "1app", "app-", "a_b", "a.b", "", "../x", &format!("a{}", "b".repeat(40)), "héllo"]
        {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
