//! env, the app's virtual environment: what is in it, and resetting it.

use std::path::Path;

use serde_json::{json, Value};
use slipway_build::env::ExistingEnv;

use super::Service;
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::settings::PYTHON_VERSION;
use crate::store::{Deployment, Trigger};

impl Service {
    /// env's marker, size on disk and installed packages.
    pub async fn env_info(&self, app: &AppName) -> Result<Value> {
        self.require_app(app)?;
        let env = self.paths(app).env();
        Ok(tokio::task::spawn_blocking(move || describe(&env)).await?)
    }

    /// The app's Python version as a list shows it: env's, else the setting's (marked so).
    pub fn python_version_of(&self, app: &AppName) -> Result<String> {
        Ok(match ExistingEnv::read(&self.paths(app).env()) {
            ExistingEnv::Marked(marker) => marker.python_version.to_string(),
            _ => self.settings(app)?.get(PYTHON_VERSION).map(|v| format!("{v} (setting)")).unwrap_or_default(),
        })
    }

    /// Resets env: redeploys the active commit with a fresh env (the deployment started), or,
    /// with nothing deployed, deletes env (`None`).
    pub async fn reset_env(&self, app: &AppName) -> Result<Option<Deployment>> {
        match self.active_deployment(app)? {
            Some(active) => Ok(Some(self.start_in_background(app, active.commit, true, Trigger::EnvReset).await?)),
            None => {
                let env = self.paths(app).env();
                tokio::task::spawn_blocking(move || slipway_build::env::remove_path(&env))
                    .await?
                    .map_err(|e| Error::Internal(e.to_string()))?;
                Ok(None)
            }
        }
    }
}

fn describe(env: &Path) -> Value {
    let marker = match ExistingEnv::read(env) {
        ExistingEnv::Missing => return json!({ "exists": false, "path": env }),
        ExistingEnv::Unmarked { problem } => json!({ "problem": problem }),
        ExistingEnv::Marked(marker) => json!(marker),
    };
    json!({
        "exists": true,
        "path": env,
        "marker": marker,
        "size_bytes": size_on_disk(env),
        "packages": packages(env),
    })
}

fn size_on_disk(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// `name-version.dist-info` directories in every site-packages of env.
fn packages(env: &Path) -> Vec<Value> {
    let mut found: Vec<(String, String)> = Vec::new();
    let Ok(lib) = std::fs::read_dir(env.join("lib")) else { return Vec::new() };
    for python_dir in lib.flatten() {
        let Ok(entries) = std::fs::read_dir(python_dir.path().join("site-packages")) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((package, version)) = name.strip_suffix(".dist-info").and_then(|n| n.split_once('-')) {
                found.push((package.to_string(), version.to_string()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(name, version)| json!({ "name": name, "version": version })).collect()
}
