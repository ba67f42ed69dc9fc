//! Settings: each is checked by [`crate::settings::check`] before it is stored, whoever sets it.
//! A change restarts the app's processes with the new settings (the switch a deployment makes,
//! with no failed request), unless the caller defers it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Service;
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::settings::{self, AppSettings};

/// What a change of settings did to the app's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// They were restarted with the new settings.
    Restarted,
    /// Nothing runs (nothing deployed, stopped, or idle): the next start takes them.
    NotRunning,
    /// The caller deferred it: the next restart or deployment takes them.
    Deferred,
    /// Only a build reads them (PYTHON_VERSION, PIP_*, …): nothing was restarted for them.
    AtNextDeployment,
}

impl Applied {
    /// For the CLI and the dashboard.
    pub fn describe(self) -> &'static str {
        match self {
            Applied::Restarted => "the app was restarted with them",
            Applied::NotRunning => "the app is not running; they apply when it starts",
            Applied::Deferred => "not restarted: they apply at the next restart (`slipway apps restart`) or deployment",
            Applied::AtNextDeployment => {
                "a build reads them: they apply at the next deployment (nothing was restarted)"
            }
        }
    }
}

/// A change of settings.
pub enum Change<'a> {
    Set(&'a BTreeMap<String, String>),
    Unset(&'a str),
}

impl Service {
    /// What the app runs with: the server-wide settings, with the app's own over them.
    pub fn settings(&self, app: &AppName) -> Result<AppSettings> {
        self.require_app(app)?;
        Ok(AppSettings::new(self.shared.store.settings(app)?))
    }

    /// The settings set on the app itself.
    pub fn own_settings(&self, app: &AppName) -> Result<BTreeMap<String, String>> {
        self.require_app(app)?;
        Ok(self.shared.store.own_settings(app)?)
    }

    /// The server-wide settings: every app gets them unless it sets the key itself.
    pub fn global_settings(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.shared.store.global_settings()?)
    }

    /// Checks every key and value, stores them all (or none), and restarts the app's processes
    /// with them when `restart` (and something runs); returns the app's own settings. A restart
    /// that fails keeps the processes that ran, and says so; the settings stay stored.
    pub async fn change_settings(
        &self,
        app: &AppName,
        change: Change<'_>,
        restart: bool,
    ) -> Result<(BTreeMap<String, String>, Applied)> {
        self.require_app(app)?;
        let build_only = match &change {
            Change::Set(values) => values.keys().all(|key| settings::is_build_only(key)),
            Change::Unset(key) => settings::is_build_only(key),
        };
        self.store_change(Some(app), change)?;
        let applied = if build_only {
            Applied::AtNextDeployment
        } else if !restart {
            Applied::Deferred
        } else if self.shared.placement.has_processes(app) {
            self.restart_app(app).await.map_err(|e| {
                Error::StartFailed(format!(
                    "the settings were saved, but the app did not restart with them (its processes keep running): {e}"
                ))
            })?;
            Applied::Restarted
        } else {
            Applied::NotRunning
        };
        Ok((self.own_settings(app)?, applied))
    }

    /// Changes the server-wide settings; returns them. No app restarts: each takes them at its
    /// next deployment or restart, as one change must not restart every app on the server.
    pub fn change_global_settings(&self, change: Change<'_>) -> Result<BTreeMap<String, String>> {
        self.store_change(None, change)?;
        tracing::info!("server-wide settings changed");
        self.global_settings()
    }

    /// Checks and stores a change of the app's settings, or the server-wide ones.
    fn store_change(&self, app: Option<&AppName>, change: Change<'_>) -> Result<()> {
        match change {
            Change::Set(values) => {
                for (key, value) in values {
                    settings::check(key, value, &self.shared.runtimes)?;
                }
                self.shared.store.set_settings(app, values)?;
            }
            Change::Unset(key) => {
                if !self.shared.store.delete_setting(app, key)? {
                    return Err(match app {
                        Some(app) => Error::NoSuchSetting { app: app.clone(), key: key.to_string() },
                        None => Error::NoSuchGlobalSetting(key.to_string()),
                    });
                }
            }
        }
        Ok(())
    }
}
