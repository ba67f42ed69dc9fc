//! Settings: each is checked by [`crate::settings::check`] before it is stored, whoever sets it.

use std::collections::BTreeMap;

use super::Service;
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::settings::{self, AppSettings};

impl Service {
    pub fn settings(&self, app: &AppName) -> Result<AppSettings> {
        self.require_app(app)?;
        Ok(AppSettings::new(self.shared.store.settings(app)?))
    }

    /// Checks every key and value, then stores them all (or none); returns all the settings.
    pub fn set_settings(&self, app: &AppName, values: &BTreeMap<String, String>) -> Result<AppSettings> {
        self.require_app(app)?;
        for (key, value) in values {
            settings::check(key, value, &self.shared.runtimes)?;
        }
        self.shared.store.set_settings(app, values)?;
        self.settings(app)
    }

    pub fn unset_setting(&self, app: &AppName, key: &str) -> Result<AppSettings> {
        self.require_app(app)?;
        if !self.shared.store.delete_setting(app, key)? {
            return Err(Error::NoSuchSetting { app: app.clone(), key: key.to_string() });
        }
        self.settings(app)
    }
}
