//! App settings (App Service's "Application Settings"): key/value pairs passed to every process of a
//! build as environment variables, some of which also steer the build itself.

use std::collections::BTreeMap;

use crate::{BuildError, Result};

pub const PYTHON_VERSION: &str = "PYTHON_VERSION";
pub const PYTHON_INSTALLER: &str = "PYTHON_INSTALLER";
pub const DISABLE_COLLECTSTATIC: &str = "DISABLE_COLLECTSTATIC";
pub const SCM_DO_BUILD_DURING_DEPLOYMENT: &str = "SCM_DO_BUILD_DURING_DEPLOYMENT";
pub const PIP_INDEX_URL: &str = "PIP_INDEX_URL";
pub const PIP_EXTRA_INDEX_URL: &str = "PIP_EXTRA_INDEX_URL";
pub const PIP_FIND_LINKS: &str = "PIP_FIND_LINKS";
pub const PIP_NO_INDEX: &str = "PIP_NO_INDEX";
/// Which package manager's files install the app when several are present: `pip`
/// (requirements.txt), `uv` (uv.lock), `poetry` (poetry.lock) or `pipenv` (Pipfile.lock).
pub const PYTHON_PACKAGE_MANAGER: &str = "PYTHON_PACKAGE_MANAGER";
/// The app's folder in the repository (Kudu's name), for monorepos: `services/api`.
pub const PROJECT: &str = "PROJECT";
/// `true` deploys a Python minor past its end of life, with a warning, instead of refusing it.
pub const ALLOW_EOL_PYTHON: &str = "ALLOW_EOL_PYTHON";
/// `true` lets a deployment overwrite files in wwwroot that the app or a user made (not the
/// previous deployment); otherwise such a deployment is refused, naming them.
pub const SCM_OVERWRITE_RUNTIME_FILES: &str = "SCM_OVERWRITE_RUNTIME_FILES";

/// Where packages come from, as pip spells it (uv is given the same as flags).
pub const PACKAGE_SOURCE_SETTINGS: &[&str] = &[PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX];

/// The settings that `slipway build` (which has no server to hold settings) takes from its own
/// environment.
pub const BUILD_SETTINGS: &[&str] = &[
    PYTHON_VERSION,
    PYTHON_INSTALLER,
    DISABLE_COLLECTSTATIC,
    SCM_DO_BUILD_DURING_DEPLOYMENT,
    PIP_INDEX_URL,
    PIP_EXTRA_INDEX_URL,
    PIP_FIND_LINKS,
    PIP_NO_INDEX,
    PYTHON_PACKAGE_MANAGER,
    PROJECT,
    ALLOW_EOL_PYTHON,
    SCM_OVERWRITE_RUNTIME_FILES,
];

/// Parts of a setting's name that make its value a secret, never shown in a log.
const SECRET_NAME_PARTS: &[&str] = &["PASSWORD", "PASSWD", "TOKEN", "SECRET", "CREDENTIAL", "API_KEY", "PRIVATE_KEY"];

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings(BTreeMap<String, String>);

/// Where packages come from, the same for uv and pip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSources {
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    pub find_links: Vec<String>,
    pub no_index: bool,
}

impl Settings {
    pub fn new() -> Self {
        Self::default()
    }

    /// The build settings present in this process's environment.
    pub fn from_process_env() -> Self {
        let mut settings = Settings::new();
        for key in BUILD_SETTINGS {
            if let Ok(value) = std::env::var(key) {
                settings.set(*key, value);
            }
        }
        settings
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A boolean setting: `true/1/yes/on` or `false/0/no/off`, any case; absent → `None`.
    pub fn flag(&self, key: &str) -> Result<Option<bool>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(BuildError::InvalidSetting {
                key: key.to_string(),
                message: format!("`{value}` is not a boolean; expected `true` or `false`"),
            }),
        }
    }

    /// The values no log may show: settings named like secrets (`…_PASSWORD`, `…_TOKEN`, …) and
    /// the passwords in URLs (`https://user:password@host/simple`).
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for (key, value) in self.iter() {
            let key = key.to_ascii_uppercase();
            if SECRET_NAME_PARTS.iter().any(|part| key.contains(part)) && value.trim().len() >= 3 {
                secrets.push(value.trim().to_string());
            }
            secrets.extend(url_passwords(value));
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }

    pub fn package_sources(&self) -> Result<PackageSources> {
        let words = |key| self.get(key).map(|v| v.split_whitespace().map(String::from).collect()).unwrap_or_default();
        Ok(PackageSources {
            index_url: self.get(PIP_INDEX_URL).map(|v| v.trim().to_string()),
            extra_index_urls: words(PIP_EXTRA_INDEX_URL),
            find_links: words(PIP_FIND_LINKS),
            no_index: self.flag(PIP_NO_INDEX)?.unwrap_or(false),
        })
    }
}

/// The password part of every `scheme://user:password@host` in `value`.
fn url_passwords(value: &str) -> Vec<String> {
    value
        .split_whitespace()
        .filter_map(|word| {
            let rest = word.split_once("://")?.1;
            let userinfo = rest.split(['/', '?', '#']).next()?.rsplit_once('@')?.0;
            let password = userinfo.split_once(':')?.1;
            (!password.is_empty()).then(|| password.to_string())
        })
        .collect()
}

impl PackageSources {
    /// Command-line flags understood by both `uv pip` and `pip`.
    pub fn as_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(url) = &self.index_url {
            args.extend(["--index-url".to_string(), url.clone()]);
        }
        for url in &self.extra_index_urls {
            args.extend(["--extra-index-url".to_string(), url.clone()]);
        }
        for link in &self.find_links {
            args.extend(["--find-links".to_string(), link.clone()]);
        }
        if self.no_index {
            args.push("--no-index".to_string());
        }
        args
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Settings {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Settings(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_accept_common_spellings_and_reject_others() {
        let s: Settings = [("A", "True"), ("B", "0"), ("C", "maybe")].into_iter().collect();
        assert_eq!(s.flag("A").unwrap(), Some(true));
        assert_eq!(s.flag("B").unwrap(), Some(false));
        assert_eq!(s.flag("missing").unwrap(), None);
        let err = s.flag("C").unwrap_err().to_string();
        assert_eq!(err, "setting C: `maybe` is not a boolean; expected `true` or `false`");
    }

    #[test]
    fn secrets_are_secret_named_settings_and_url_passwords() {
        let s: Settings = [
            ("POETRY_HTTP_BASIC_LOCAL_PASSWORD", "hunter2"),
            ("API_TOKEN", "tok-123"),
            ("PIP_INDEX_URL", "https://me:s3cret@idx.example/simple"),
            ("PIP_EXTRA_INDEX_URL", "https://idx.example/simple https://u:p4ss@b/"),
            ("DEBUG", "true"),
        ]
        .into_iter()
        .collect();
        let mut secrets = s.secrets();
        secrets.sort();
        assert_eq!(secrets, ["hunter2", "p4ss", "s3cret", "tok-123"]);
    }

    #[test]
    fn package_sources_render_the_same_flags_for_both_installers() {
        let s: Settings = [
            (PIP_INDEX_URL, "https://idx/simple"),
            (PIP_EXTRA_INDEX_URL, "https://a https://b"),
            (PIP_FIND_LINKS, "/wheels"),
            (PIP_NO_INDEX, "1"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            s.package_sources().unwrap().as_args(),
            [
                "--index-url",
                "https://idx/simple",
                "--extra-index-url",
                "https://a",
                "--extra-index-url",
                "https://b",
                "--find-links",
                "/wheels",
                "--no-index"
            ]
        );
    }
}
