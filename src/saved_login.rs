//! The server and admin token `slipway login` remembers, in the user's config
//! (`$XDG_CONFIG_HOME/slipway/login.json` or `~/.config/slipway/login.json`, mode 0600), so that
//! client commands work from any directory.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedLogin {
    /// `http://host:port`, as given to `slipway login`, without a trailing slash.
    pub server: String,
    pub token: String,
}

impl SavedLogin {
    pub fn path() -> Option<PathBuf> {
        let xdg = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config"));
        xdg.or(home).map(|dir| dir.join("slipway").join("login.json"))
    }

    /// The saved login, if there is one.
    pub fn load() -> anyhow::Result<Option<SavedLogin>> {
        let Some(path) = Self::path() else { return Ok(None) };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| anyhow!("{}: not a slipway login ({e}); run `slipway login URL` again", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the login readable by this user only; a half-written file is never left behind.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = Self::path()
            .ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the login"))?;
        let dir = path.parent().expect("the path has a folder");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let partial = dir.join(".login.json.partial");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("writing {}", partial.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Forgets the login; the file it was in, or `None` when there was none.
    pub fn remove() -> anyhow::Result<Option<PathBuf>> {
        let Some(path) = Self::path() else { return Ok(None) };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(Some(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!("cannot remove {}: {e}", path.display())),
        }
    }
}
