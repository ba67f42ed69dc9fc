//! App settings as the server reads them: the keys it knows (the engine's and its own), checked
//! when they are set, and read back through [`AppSettings`]'s typed accessors. Everything else is
//! an environment variable for the app and its builds, stored as given.

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_build::project;
use slipway_build::version::VersionSpec;
use slipway_build::RuntimeCatalog;

pub use slipway_build::settings::{
    ALLOW_EOL_PYTHON, DISABLE_COLLECTSTATIC, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_INDEX_URL, PIP_NO_INDEX, PROJECT,
    PYTHON_INSTALLER, PYTHON_PACKAGE_MANAGER, PYTHON_VERSION, SCM_DO_BUILD_DURING_DEPLOYMENT,
};

/// The app's start command, instead of the detected one.
pub const STARTUP_COMMAND: &str = "STARTUP_COMMAND";
/// Seconds a new process has to answer HTTP.
pub const STARTUP_TIMEOUT: &str = "STARTUP_TIMEOUT";
/// The branch whose pushes deploy.
pub const DEPLOYMENT_BRANCH: &str = "DEPLOYMENT_BRANCH";
/// How many deployments (their logs and releases) are kept.
pub const SCM_MAX_DEPLOYMENTS: &str = "SCM_MAX_DEPLOYMENTS";
/// Kudu's name: a build that prints nothing for this many seconds is stopped.
pub const SCM_COMMAND_IDLE_TIMEOUT: &str = "SCM_COMMAND_IDLE_TIMEOUT";
/// A build that runs longer than this many seconds is stopped.
pub const BUILD_TIMEOUT: &str = "BUILD_TIMEOUT";
/// Seconds a replaced process keeps serving the requests it has before it is asked to stop.
pub const WAIT_TO_RETIRE: &str = "WAIT_TO_RETIRE";
/// Memory the app's processes (and, separately, its builds) may use: `512M`, `1G`.
pub const MEMORY_LIMIT: &str = "MEMORY_LIMIT";
/// CPU cores the app's processes may use: `0.5`, `2`.
pub const CPU_LIMIT: &str = "CPU_LIMIT";
/// Processes and threads the app may run at once.
pub const PROCESS_LIMIT: &str = "PROCESS_LIMIT";
/// The command run once per deployment, in the new release before the switch (instead of the
/// Procfile's `release:` line).
pub const RELEASE_COMMAND: &str = "RELEASE_COMMAND";
/// The path a new web process must answer before it gets requests.
pub const HEALTHCHECK_PATH: &str = "HEALTHCHECK_PATH";
/// The statuses that count as healthy there: `200-399`, `200,204,301-308`.
pub const HEALTHCHECK_STATUSES: &str = "HEALTHCHECK_STATUSES";
/// Worker processes per web process of a detected gunicorn or uvicorn (both read it).
pub const WEB_CONCURRENCY: &str = "WEB_CONCURRENCY";
/// After this long without a request (`15m`, `1h`, `90s`), the app's web processes stop; the
/// next request starts them again.
pub const IDLE_TIMEOUT: &str = "IDLE_TIMEOUT";
pub use slipway_build::settings::SCM_OVERWRITE_RUNTIME_FILES;
/// `true` redirects the app's plain-HTTP requests to HTTPS (with `serve --https`).
pub const FORCE_HTTPS: &str = "FORCE_HTTPS";
/// The remote repository the deployment webhook (`POST /hooks/APP/SECRET`) fetches pushes from.
pub const DEPLOYMENT_REPOSITORY: &str = "DEPLOYMENT_REPOSITORY";
/// URLs told of every deployment that ends, as JSON like Kudu's PostDeployment hook.
pub const WEBHOOK_URLS: &str = "WEBHOOK_URLS";

pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_DEPLOYMENT_BRANCH: &str = "main";
pub const DEFAULT_MAX_DEPLOYMENTS: usize = 20;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
pub const DEFAULT_WAIT_TO_RETIRE: Duration = Duration::from_secs(5);
pub const DEFAULT_HEALTHCHECK_PATH: &str = "/";
/// Any answer but a server error: a 404 on `/` still shows the app is up, a 500 shows it is broken.
pub const DEFAULT_HEALTHCHECK_STATUSES: &str = "200-499";

/// The settings that are a number of seconds: their range and default.
const SECONDS: &[(&str, u64, u64, Duration)] = &[
    (STARTUP_TIMEOUT, 1, 3600, DEFAULT_STARTUP_TIMEOUT),
    (SCM_COMMAND_IDLE_TIMEOUT, 1, 86_400, DEFAULT_IDLE_TIMEOUT),
    (BUILD_TIMEOUT, 1, 86_400, DEFAULT_BUILD_TIMEOUT),
    (WAIT_TO_RETIRE, 0, 600, DEFAULT_WAIT_TO_RETIRE),
];
/// Settings refused because they would point Python, the installers or the loader at something
/// else than the app's env, or take a name slipway gives: with why.
const UNSAFE: &[(&str, &str)] = &[
    ("PYTHONHOME", "it makes Python look for its standard library elsewhere (`Fatal Python error: init_fs_encoding`)"),
    ("PYTHONPATH", "it puts other code before the app's env; put the app's own folders in the start command instead"),
    ("PYTHONUSERBASE", "it points Python at another user site"),
    ("PYTHONSTARTUP", "it runs a file at every interpreter start"),
    ("VIRTUAL_ENV", "slipway sets it to the app's env"),
    ("CONDA_PREFIX", "it points the installers at another environment"),
    ("PIP_TARGET", "it makes pip install outside env"),
    ("PIP_PREFIX", "it makes pip install outside env"),
    ("PIP_ROOT", "it makes pip install outside env"),
    ("PIP_USER", "it makes pip install into a user site, outside env"),
    ("PIP_REQUIRE_VIRTUALENV", "slipway always installs into env"),
    ("UV_PROJECT_ENVIRONMENT", "it makes uv install outside env"),
    ("UV_PYTHON", "the Python version is chosen by PYTHON_VERSION, runtime.txt or .python-version"),
    ("UV_SYSTEM_PYTHON", "it makes uv install into the base interpreter"),
    ("LD_PRELOAD", "it loads a library into every process"),
    ("LD_LIBRARY_PATH", "it changes which libraries every process loads"),
    ("PATH", "slipway puts env's bin first on it"),
    ("PORT", "slipway gives each process its own port"),
];

/// Boolean settings: checked to be `true`/`false` (or `1/0`, `yes/no`, `on/off`) when set.
const FLAGS: &[&str] = &[
    DISABLE_COLLECTSTATIC,
    SCM_DO_BUILD_DURING_DEPLOYMENT,
    PIP_NO_INDEX,
    ALLOW_EOL_PYTHON,
    SCM_OVERWRITE_RUNTIME_FILES,
];

/// slipway's own settings whose values are not secrets: shown as they are. Every other value
/// (the app's own variables: `SECRET_KEY`, `DATABASE_URL`, …) is masked unless asked for.
const PLAIN: &[&str] = &[
    PYTHON_VERSION,
    PYTHON_INSTALLER,
    PYTHON_PACKAGE_MANAGER,
    PROJECT,
    STARTUP_COMMAND,
    STARTUP_TIMEOUT,
    DEPLOYMENT_BRANCH,
    SCM_MAX_DEPLOYMENTS,
    SCM_COMMAND_IDLE_TIMEOUT,
    BUILD_TIMEOUT,
    WAIT_TO_RETIRE,
    MEMORY_LIMIT,
    CPU_LIMIT,
    PROCESS_LIMIT,
    RELEASE_COMMAND,
    HEALTHCHECK_PATH,
    HEALTHCHECK_STATUSES,
    WEB_CONCURRENCY,
    IDLE_TIMEOUT,
    FORCE_HTTPS,
];
/// Settings that are URLs: shown with their password masked (`https://user:••••••••@host/simple`).
/// Whether only a build reads the setting (which Python, how packages are installed and from
/// where): a change takes a deployment, and restarting the running release for it would change
/// nothing.
pub fn is_build_only(key: &str) -> bool {
    const BUILD_CHOICES: &[&str] = &[
        PYTHON_VERSION,
        PYTHON_INSTALLER,
        PYTHON_PACKAGE_MANAGER,
        ALLOW_EOL_PYTHON,
        DISABLE_COLLECTSTATIC,
        SCM_DO_BUILD_DURING_DEPLOYMENT,
    ];
    BUILD_CHOICES.contains(&key) || slipway_build::settings::PACKAGE_SOURCE_SETTINGS.contains(&key)
}

const URLS: &[&str] = &[PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, DEPLOYMENT_REPOSITORY];
/// What a masked value shows instead.
pub const MASK: &str = "••••••••";

/// The value as it may be shown without asking: slipway's own plain settings and flags as they
/// are, URLs without their password, anything else masked.
pub fn masked(key: &str, value: &str) -> String {
    if PLAIN.contains(&key) || FLAGS.contains(&key) {
        value.to_string()
    } else if URLS.contains(&key) {
        value.split_whitespace().map(mask_url_password).collect::<Vec<_>>().join(" ")
    } else {
        MASK.to_string()
    }
}

/// Whether [`masked`] hides this setting's value entirely.
pub fn is_secret(key: &str) -> bool {
    !(PLAIN.contains(&key) || FLAGS.contains(&key) || URLS.contains(&key))
}

/// Every value through [`masked`].
pub fn mask_all(values: BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .into_iter()
        .map(|(key, value)| {
            let shown = masked(&key, &value);
            (key, shown)
        })
        .collect()
}

fn mask_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let authority_end = url[scheme_end..].find('/').map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        // `user:password@` keeps the user; a lone `token@` is all secret.
        Some(at) => match url[scheme_end..scheme_end + at].split_once(':') {
            Some((user, _)) => format!("{}{user}:{MASK}{}", &url[..scheme_end], &url[scheme_end + at..]),
            None => format!("{}{MASK}{}", &url[..scheme_end], &url[scheme_end + at..]),
        },
        None => url.to_string(),
    }
}

/// A repository URL git can fetch from: `https://`, `http://`, `ssh://`, `git@host:path`,
/// `file://` or an absolute path (git's `ext::` and other transports are refused).
fn check_repository(value: &str) -> Result<(), SettingError> {
    let scp_like = value.split_once(':').is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
    let known = ["https://", "http://", "ssh://", "file://", "/"].iter().any(|p| value.starts_with(p));
    if (known || scp_like) && !value.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(SettingError::new(
            DEPLOYMENT_REPOSITORY,
            "expected a repository URL (https://…, ssh://…, git@host:path, file://…) or an absolute path",
        ))
    }
}

/// `WEBHOOK_URLS`: http(s) URLs separated by spaces.
pub fn webhook_urls(value: &str) -> Result<Vec<String>, SettingError> {
    value
        .split_whitespace()
        .map(|url| {
            let valid = ["https://", "http://"]
                .iter()
                .any(|scheme| url.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/')));
            if valid {
                Ok(url.to_string())
            } else {
                Err(SettingError::new(
                    WEBHOOK_URLS,
                    format!("`{}` is not an http:// or https:// URL", mask_url_password(url)),
                ))
            }
        })
        .collect()
}

/// A setting that slipway cannot use, named with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("invalid setting name `{}`: expected letters, digits and `_`, not starting with a digit", .0.escape_debug())]
    InvalidKey(String),
    #[error("setting {key}: {message}")]
    InvalidValue { key: String, message: String },
}

impl SettingError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        SettingError::InvalidValue { key: key.to_string(), message: message.into() }
    }
}

/// One app's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSettings(BTreeMap<String, String>);

impl AppSettings {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        AppSettings(values)
    }

    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn into_values(self) -> BTreeMap<String, String> {
        self.0
    }

    /// A setting's value, if set and not blank.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// What the engine and the app's processes get: every setting but the unsafe ones (which are
    /// refused when set; this keeps out any stored before that).
    pub fn build_settings(&self) -> slipway_build::Settings {
        self.environment().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The settings that become environment variables of builds and processes.
    pub fn environment(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter(|(k, _)| unsafe_reason(k).is_none()).map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn startup_command(&self) -> Option<&str> {
        self.get(STARTUP_COMMAND)
    }

    pub fn startup_timeout(&self) -> Result<Duration, SettingError> {
        self.seconds(STARTUP_TIMEOUT)
    }

    pub fn idle_timeout(&self) -> Result<Duration, SettingError> {
        self.seconds(SCM_COMMAND_IDLE_TIMEOUT)
    }

    pub fn build_timeout(&self) -> Result<Duration, SettingError> {
        self.seconds(BUILD_TIMEOUT)
    }

    pub fn wait_to_retire(&self) -> Result<Duration, SettingError> {
        self.seconds(WAIT_TO_RETIRE)
    }

    /// A setting that is a number of seconds, or its default.
    fn seconds(&self, key: &str) -> Result<Duration, SettingError> {
        let (_, _, _, default) = SECONDS.iter().find(|(k, ..)| *k == key).expect("a setting in SECONDS");
        match self.get(key) {
            None => Ok(*default),
            Some(value) => parse_seconds(key, value),
        }
    }

    pub fn deployment_branch(&self) -> &str {
        self.get(DEPLOYMENT_BRANCH).unwrap_or(DEFAULT_DEPLOYMENT_BRANCH)
    }

    pub fn memory_limit(&self) -> Result<Option<u64>, SettingError> {
        self.get(MEMORY_LIMIT).map(parse_memory).transpose()
    }

    pub fn cpu_limit(&self) -> Result<Option<f64>, SettingError> {
        self.get(CPU_LIMIT).map(parse_cpu).transpose()
    }

    pub fn process_limit(&self) -> Result<u64, SettingError> {
        match self.get(PROCESS_LIMIT) {
            None => Ok(crate::cgroups::DEFAULT_PROCESS_LIMIT),
            Some(v) => parse_processes(v),
        }
    }

    /// The path and the statuses a new web process must answer with.
    pub fn healthcheck(&self) -> Result<(String, Vec<(u16, u16)>), SettingError> {
        let path = self.get(HEALTHCHECK_PATH).unwrap_or(DEFAULT_HEALTHCHECK_PATH);
        check_healthcheck_path(path)?;
        let statuses = parse_statuses(self.get(HEALTHCHECK_STATUSES).unwrap_or(DEFAULT_HEALTHCHECK_STATUSES))?;
        Ok((path.to_string(), statuses))
    }

    /// A boolean setting (checked when set): `true/1/yes/on`.
    pub fn flag(&self, key: &str) -> Result<Option<bool>, SettingError> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let settings: slipway_build::Settings = [(key, value)].into_iter().collect();
        settings.flag(key).map_err(|e| SettingError::new(key, strip_setting_prefix(&e.to_string(), key)))
    }

    pub fn web_concurrency(&self) -> Result<Option<u32>, SettingError> {
        self.get(WEB_CONCURRENCY).map(parse_concurrency).transpose()
    }

    /// `None`: the app never idles.
    pub fn scale_to_zero_after(&self) -> Result<Option<Duration>, SettingError> {
        self.get(IDLE_TIMEOUT).map(parse_idle).transpose()
    }

    /// At least 1: the active deployment is always kept.
    pub fn max_deployments(&self) -> usize {
        self.get(SCM_MAX_DEPLOYMENTS).and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_DEPLOYMENTS).max(1)
    }
}

fn parse_seconds(key: &str, value: &str) -> Result<Duration, SettingError> {
    let (_, min, max, _) = SECONDS.iter().find(|(k, ..)| *k == key).expect("a setting in SECONDS");
    value
        .parse::<u64>()
        .ok()
        .filter(|s| (*min..=*max).contains(s))
        .map(Duration::from_secs)
        .ok_or_else(|| SettingError::new(key, format!("`{value}` is not a number of seconds between {min} and {max}")))
}

/// Why a setting is refused, if it is (`SLIPWAY_*` names are slipway's own).
pub fn unsafe_reason(key: &str) -> Option<&'static str> {
    if key.starts_with("SLIPWAY_") {
        return Some("names starting with SLIPWAY_ are slipway's own");
    }
    UNSAFE.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}

fn check_healthcheck_path(path: &str) -> Result<(), SettingError> {
    if path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(SettingError::new(
            HEALTHCHECK_PATH,
            format!("`{}` is not a path; expected e.g. `/` or `/healthz`", path.escape_debug()),
        ))
    }
}

/// `200-399` or `200,204,301-308`: inclusive ranges of HTTP statuses.
fn parse_statuses(value: &str) -> Result<Vec<(u16, u16)>, SettingError> {
    let invalid = || {
        SettingError::new(
            HEALTHCHECK_STATUSES,
            format!("`{value}` is not a list of HTTP statuses; expected e.g. `200-399` or `200,204,301-308`"),
        )
    };
    let status = |text: &str| text.trim().parse::<u16>().ok().filter(|s| (100..=599).contains(s));
    value
        .split(',')
        .map(|part| match part.split_once('-') {
            Some((low, high)) => match (status(low), status(high)) {
                (Some(low), Some(high)) if low <= high => Ok((low, high)),
                _ => Err(invalid()),
            },
            None => status(part).map(|s| (s, s)).ok_or_else(invalid),
        })
        .collect()
}

fn parse_concurrency(value: &str) -> Result<u32, SettingError> {
    value.parse::<u32>().ok().filter(|n| (1..=128).contains(n)).ok_or_else(|| {
        SettingError::new(WEB_CONCURRENCY, format!("`{value}` is not a number of workers between 1 and 128"))
    })
}

/// `15m`, `1h`, `90s` or a number of seconds; at least ten seconds.
fn parse_idle(value: &str) -> Result<Duration, SettingError> {
    let (number, unit) = match value.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => value.split_at(at),
        None => (value, "s"),
    };
    let scale = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .map(|n| n * scale)
        .filter(|seconds| (10..=7 * 86_400).contains(seconds))
        .map(Duration::from_secs)
        .ok_or_else(|| {
            SettingError::new(
                IDLE_TIMEOUT,
                format!("`{value}` is not a time between 10 seconds and 7 days; expected e.g. `15m`, `1h` or `900`"),
            )
        })
}

fn parse_memory(value: &str) -> Result<u64, SettingError> {
    crate::cgroups::parse_bytes(value).filter(|bytes| *bytes >= 16 << 20).ok_or_else(|| {
        SettingError::new(
            MEMORY_LIMIT,
            format!("`{value}` is not an amount of memory of 16M or more; expected e.g. `512M` or `1G`"),
        )
    })
}

fn parse_cpu(value: &str) -> Result<f64, SettingError> {
    value.parse::<f64>().ok().filter(|cores| (0.01..=1024.0).contains(cores)).ok_or_else(|| {
        SettingError::new(CPU_LIMIT, format!("`{value}` is not a number of CPU cores; expected e.g. `0.5` or `2`"))
    })
}

fn parse_processes(value: &str) -> Result<u64, SettingError> {
    value.parse::<u64>().ok().filter(|n| (8..=1_000_000).contains(n)).ok_or_else(|| {
        SettingError::new(PROCESS_LIMIT, format!("`{value}` is not a number of processes between 8 and 1000000"))
    })
}

/// Setting keys become environment variables: letters, digits and `_`, not starting with a digit.
pub fn check_key(key: &str) -> Result<(), SettingError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && !key.as_bytes()[0].is_ascii_digit()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SettingError::InvalidKey(key.to_string()))
    }
}

/// Checks one setting before it is stored: its name, and the value of those slipway reads.
/// A blank value is allowed for every key (it means "not set").
pub fn check(key: &str, value: &str, runtimes: &RuntimeCatalog) -> Result<(), SettingError> {
    check_key(key)?;
    if let Some(why) = unsafe_reason(key) {
        return Err(SettingError::new(key, format!("cannot be set: {why}")));
    }
    if value.contains('\0') {
        return Err(SettingError::new(key, "values cannot contain NUL"));
    }
    let value = value.trim();
    if value.is_empty() {
        return Ok(());
    }
    match key {
        PYTHON_VERSION => check_python_version(value, runtimes),
        _ if SECONDS.iter().any(|(k, ..)| *k == key) => parse_seconds(key, value).map(|_| ()),
        SCM_MAX_DEPLOYMENTS => match value.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(()),
            _ => Err(SettingError::new(key, format!("`{value}` is not a number of deployments (1 or more)"))),
        },
        MEMORY_LIMIT => parse_memory(value).map(|_| ()),
        HEALTHCHECK_PATH => check_healthcheck_path(value),
        HEALTHCHECK_STATUSES => parse_statuses(value).map(|_| ()),
        WEB_CONCURRENCY => parse_concurrency(value).map(|_| ()),
        IDLE_TIMEOUT => parse_idle(value).map(|_| ()),
        CPU_LIMIT => parse_cpu(value).map(|_| ()),
        DEPLOYMENT_REPOSITORY => check_repository(value),
        WEBHOOK_URLS => webhook_urls(value).map(|_| ()),
        PROCESS_LIMIT => parse_processes(value).map(|_| ()),
        PYTHON_INSTALLER => match value.to_ascii_lowercase().as_str() {
            "uv" | "pip" => Ok(()),
            _ => Err(SettingError::new(key, format!("`{value}` is not an installer; expected `uv` or `pip`"))),
        },
        PYTHON_PACKAGE_MANAGER if project::PACKAGE_MANAGERS.contains(&value.to_ascii_lowercase().as_str()) => Ok(()),
        PYTHON_PACKAGE_MANAGER => Err(SettingError::new(key, project::not_a_manager(value))),
        PROJECT => match project::parse_folder(value) {
            Some(_) => Ok(()),
            None => Err(SettingError::new(key, format!("`{value}` {}", project::FOLDER_EXPECTED))),
        },
        _ if FLAGS.contains(&key) => {
            AppSettings::new([(key.to_string(), value.to_string())].into()).flag(key).map(|_| ())
        }
        _ => Ok(()),
    }
}

/// `3.12` or `3.12.1`, provided by a runtime found on this server.
fn check_python_version(value: &str, runtimes: &RuntimeCatalog) -> Result<(), SettingError> {
    let Some(spec) = VersionSpec::parse(value) else {
        return Err(SettingError::new(
            PYTHON_VERSION,
            format!("`{value}` is not a Python version; expected `3.X` or `3.X.Y`"),
        ));
    };
    if spec.select(runtimes).is_none() {
        return Err(SettingError::new(
            PYTHON_VERSION,
            format!("no runtime on this server provides Python {value}; found: {}", runtimes.describe_versions()),
        ));
    }
    Ok(())
}

fn strip_setting_prefix(message: &str, key: &str) -> String {
    message.strip_prefix(&format!("setting {key}: ")).unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> RuntimeCatalog {
        let runtime = |v: &str| slipway_build::Runtime {
            implementation: "CPython".into(),
            version: slipway_build::runtime::PythonVersion::parse(v).unwrap(),
            path: format!("/py/{v}").into(),
        };
        RuntimeCatalog::from_runtimes(vec![runtime("3.12.1"), runtime("3.11.7")])
    }

    #[test]
    fn known_settings_are_checked_when_set() {
        let runtimes = catalog();
        assert!(check(PYTHON_VERSION, "3.12", &runtimes).is_ok());
        assert!(check(PYTHON_VERSION, "3.11.7", &runtimes).is_ok());
        assert!(check(PYTHON_VERSION, "", &runtimes).is_ok(), "blank means not set");
        let missing = check(PYTHON_VERSION, "3.99", &runtimes).unwrap_err().to_string();
        assert_eq!(
            missing,
            "setting PYTHON_VERSION: no runtime on this server provides Python 3.99; found: 3.11.7, 3.12.1"
        );
        assert!(check(PYTHON_VERSION, "three", &runtimes).unwrap_err().to_string().contains("is not a Python version"));
        assert_eq!(
            check(STARTUP_TIMEOUT, "soon", &runtimes).unwrap_err().to_string(),
            "setting STARTUP_TIMEOUT: `soon` is not a number of seconds between 1 and 3600"
        );
        assert!(check(SCM_MAX_DEPLOYMENTS, "0", &runtimes).is_err());
        assert!(check(PYTHON_INSTALLER, "poetry", &runtimes).is_err());
        assert_eq!(
            check(PIP_NO_INDEX, "maybe", &runtimes).unwrap_err().to_string(),
            "setting PIP_NO_INDEX: `maybe` is not a boolean; expected `true` or `false`"
        );
        assert!(check("1BAD", "x", &runtimes).unwrap_err().to_string().contains("invalid setting name"));
        assert!(check("K", "a\0b", &runtimes).is_err());
        assert!(check("ANYTHING_ELSE", "any value", &runtimes).is_ok());
        let refused = check("PYTHONHOME", "/usr", &runtimes).unwrap_err().to_string();
        assert!(refused.starts_with("setting PYTHONHOME: cannot be set: it makes Python look"), "{refused}");
        assert!(check("SLIPWAY_OWNER", "x", &runtimes).is_err());
        assert!(check("PORT", "80", &runtimes).is_err());
    }

    #[test]
    fn secrets_are_masked_and_slipways_own_settings_are_not() {
        assert_eq!(masked("SECRET_KEY", "hunter2"), MASK);
        assert_eq!(masked("DATABASE_URL", "postgres://u:p@h/db"), MASK, "any other variable is masked whole");
        assert_eq!(masked(PYTHON_VERSION, "3.12"), "3.12");
        assert_eq!(masked(PIP_NO_INDEX, "true"), "true");
        assert_eq!(
            masked(PIP_INDEX_URL, "https://me:s3cret@pypi.example/simple"),
            format!("https://me:{MASK}@pypi.example/simple")
        );
        assert_eq!(masked(PIP_EXTRA_INDEX_URL, "https://pypi.org/simple"), "https://pypi.org/simple");
        assert_eq!(
            masked(PIP_FIND_LINKS, "/wheels https://t@x.example/w"),
            format!("/wheels https://{MASK}@x.example/w"),
            "a token alone as the user is masked"
        );
        assert!(is_secret("API_TOKEN") && !is_secret(STARTUP_COMMAND));
    }

    #[test]
    fn typed_values_have_defaults() {
        let settings = AppSettings::default();
        assert_eq!(settings.startup_timeout().unwrap(), DEFAULT_STARTUP_TIMEOUT);
        assert_eq!(settings.deployment_branch(), "main");
        assert_eq!(settings.max_deployments(), DEFAULT_MAX_DEPLOYMENTS);
        let settings = AppSettings::new(
            [(STARTUP_TIMEOUT, "5"), (DEPLOYMENT_BRANCH, " prod "), (SCM_MAX_DEPLOYMENTS, "0")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        assert_eq!(settings.startup_timeout().unwrap(), Duration::from_secs(5));
        assert_eq!(settings.deployment_branch(), "prod");
        assert_eq!(settings.max_deployments(), 1);
    }
}
