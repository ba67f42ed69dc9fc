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
}

impl Applied {
    /// For the CLI and the dashboard.
    pub fn describe(self) -> &'static str {
        match self {
            Applied::Restarted => "the app was restarted with them",
            Applied::NotRunning => "the app is not running; they apply when it starts",
            Applied::Deferred => "not restarted: they apply at the next restart (`slipway apps restart`) or deployment",
        }
    }
}

/// A change of settings.
pub enum Change<'a> {
    Set(&'a BTreeMap<String, String>),
    Unset(&'a str),
}

impl Service {
    pub fn settings(&self, app: &AppName) -> Result<AppSettings> {
        self.require_app(app)?;
        Ok(AppSettings::new(self.shared.store.settings(app)?))
    }

    /// Checks every key and value, stores them all (or none), and restarts the app's processes
    /// with them when `restart` (and something runs); returns all the settings. A restart that
    /// fails keeps the processes that ran, and says so; the settings stay stored.
    pub async fn change_settings(
        &self,
        app: &AppName,
        change: Change<'_>,
        restart: bool,
    ) -> Result<(AppSettings, Applied)> {
        self.require_app(app)?;
        match change {
            Change::Set(values) => {
                for (key, value) in values {
                    settings::check(key, value, &self.shared.runtimes)?;
                }
                self.shared.store.set_settings(app, values)?;
            }
            Change::Unset(key) => {
                if !self.shared.store.delete_setting(app, key)? {
                    return Err(Error::NoSuchSetting { app: app.clone(), key: key.to_string() });
                }
            }
        }
        let applied = if !restart {
            Applied::Deferred
        } else if self.shared.supervisor.has_processes(app) {
            self.restart_app(app).await.map_err(|e| {
                Error::StartFailed(format!(
                    "the settings were saved, but the app did not restart with them (its processes keep running): {e}"
                ))
            })?;
            Applied::Restarted
        } else {
            Applied::NotRunning
        };
        Ok((self.settings(app)?, applied))
    }
}
