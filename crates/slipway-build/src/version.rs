//! Which Python a deployment gets. First match wins, and the log says which source decided:
//! the app setting `PYTHON_VERSION`, `runtime.txt` (`python-3.12`), `.python-version` (`3.12`),
//! then the server's default (`--default-python`, else the newest runtime found).
//!
//! `3.12` means the newest 3.12.x found; `3.12.1` means exactly that.

use std::fmt;
use std::path::Path;

use crate::error::IoContext;
use time::Date;

use crate::lifecycle::{self, Support};
use crate::log::{escape_invisible, BuildLog};
use crate::project::RequiresPython;
use crate::runtime::{PythonVersion, Runtime, RuntimeCatalog};
use crate::settings::{Settings, ALLOW_EOL_PYTHON, PYTHON_VERSION};
use crate::{BuildError, Result};

/// What a user asked for: `3.12` or `3.12.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VersionSpec {
    pub major: u32,
    pub minor: u32,
    pub patch: Option<u32>,
}

impl VersionSpec {
    /// Parses `3.12` or `3.12.1` exactly; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let numbers: Vec<&str> = text.split('.').collect();
        if !(2..=3).contains(&numbers.len())
            || numbers.iter().any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        Some(VersionSpec {
            major: numbers[0].parse().ok()?,
            minor: numbers[1].parse().ok()?,
            patch: numbers.get(2).map(|p| p.parse()).transpose().ok()?,
        })
    }

    pub fn matches(&self, runtime: &Runtime) -> bool {
        let v = &runtime.version;
        v.major == self.major && v.minor == self.minor && self.patch.is_none_or(|p| p == v.patch && v.suffix.is_empty())
    }

    /// The newest runtime that satisfies this spec.
    pub fn select<'a>(&self, catalog: &'a RuntimeCatalog) -> Option<&'a Runtime> {
        catalog.runtimes.iter().filter(|r| self.matches(r)).max_by(|a, b| a.version.cmp(&b.version))
    }
}

impl TryFrom<String> for VersionSpec {
    type Error = String;
    fn try_from(text: String) -> std::result::Result<Self, String> {
        VersionSpec::parse(&text).ok_or_else(|| format!("`{text}` is not a Python version"))
    }
}

impl From<VersionSpec> for String {
    fn from(spec: VersionSpec) -> String {
        spec.to_string()
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(p) = self.patch {
            write!(f, ".{p}")?;
        }
        Ok(())
    }
}

/// Where a version request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    Setting,
    RuntimeTxt,
    PythonVersionFile,
    ServerDefault,
    /// The minor of the env the app already has.
    Sticky,
    /// The newest runtime that satisfies the project's `requires-python`.
    RequiresPython,
    Newest,
}

impl fmt::Display for VersionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionSource::Setting => "app setting PYTHON_VERSION",
            VersionSource::RuntimeTxt => "runtime.txt",
            VersionSource::PythonVersionFile => ".python-version",
            VersionSource::ServerDefault => "the server's default (--default-python)",
            VersionSource::Sticky => "the app's env (an app that asks for no version keeps its minor)",
            VersionSource::RequiresPython => "the project's requires-python",
            VersionSource::Newest => "the newest runtime found (no version requested)",
        })
    }
}

pub const RUNTIME_TXT: &str = "runtime.txt";
pub const PYTHON_VERSION_FILE: &str = ".python-version";

/// Parses `runtime.txt`: one line, `python-3.X` or `python-3.X.Y`.
pub fn parse_runtime_txt(bytes: &[u8]) -> Result<VersionSpec> {
    parse_version_file(RUNTIME_TXT, bytes, "`python-3.X` or `python-3.X.Y` (e.g. `python-3.12`)", |value| {
        value.strip_prefix("python-").and_then(VersionSpec::parse)
    })
}

/// Parses `.python-version` as pyenv writes it: one version, `3.X` or `3.X.Y`; `#` comments allowed.
pub fn parse_python_version_file(bytes: &[u8]) -> Result<VersionSpec> {
    parse_version_file(PYTHON_VERSION_FILE, bytes, "`3.X` or `3.X.Y` (e.g. `3.12`)", VersionSpec::parse)
}

fn parse_version_file(
    file: &str,
    bytes: &[u8],
    expected: &str,
    parse: impl Fn(&str) -> Option<VersionSpec>,
) -> Result<VersionSpec> {
    let invalid = |line, message: String| BuildError::invalid_file(file, line, message);
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(invalid(
            None,
            format!("the file is UTF-16 encoded; expected UTF-8 text with one line, {expected}"),
        ));
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(invalid(
            Some(1),
            format!("starts with a UTF-8 byte-order mark; save the file as UTF-8 without BOM, containing {expected}"),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid(None, format!("the file is not UTF-8 text; expected {expected}")))?;
    let mut found: Option<(usize, &str, VersionSpec)> = None;
    let mut comments = false;
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let value = raw.split('#').next().unwrap_or("").trim();
        comments |= raw.contains('#');
        if value.is_empty() {
            continue;
        }
        let spec = parse(value).ok_or_else(|| {
            let shown = escape_invisible(value);
            invalid(Some(line_number), format!("`{shown}` is not a Python version; expected {expected}"))
        })?;
        if let Some((first_line, first, _)) = found {
            return Err(invalid(
                Some(line_number),
                format!("a second version `{value}` (line {first_line} has `{first}`); expected exactly one version"),
            ));
        }
        found = Some((line_number, value, spec));
    }
    let what = if comments { "the file has only comments" } else { "the file is empty" };
    found.map(|(_, _, spec)| spec).ok_or_else(|| invalid(None, format!("{what}; expected {expected}")))
}

/// The decision: which runtime, and why.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub runtime: Runtime,
    pub spec: Option<VersionSpec>,
    pub source: VersionSource,
}

/// What the decision needs besides the app's files and settings.
#[derive(Debug, Clone, Copy)]
pub struct VersionContext<'a> {
    pub catalog: &'a RuntimeCatalog,
    /// The server's default (`--default-python`).
    pub default: Option<VersionSpec>,
    /// The Python of the env this deployment may reuse: an app that asks for no version stays
    /// on that minor while a runtime of it exists (Heroku's "sticky" version), so that installing
    /// a newer Python on the server does not move it silently.
    pub sticky: Option<&'a PythonVersion>,
    /// For end-of-life dates.
    pub today: Date,
}

impl<'a> VersionContext<'a> {
    /// No default, nothing sticky, today.
    pub fn new(catalog: &'a RuntimeCatalog) -> Self {
        VersionContext { catalog, default: None, sticky: None, today: lifecycle::today() }
    }
}

/// Reads the version files in `source_dir` and picks the runtime, logging the source that decided
/// and every lower-priority source it overrides with a different value; then checks it against
/// the project's `requires-python` and Python's end-of-life dates.
pub fn resolve(source_dir: &Path, settings: &Settings, context: &VersionContext, log: &BuildLog) -> Result<Resolution> {
    refuse_misspelled_version_files(source_dir)?;
    let requires = crate::project::requires_python(source_dir)?;
    let resolution = match requested(source_dir, settings, log)? {
        Some((spec, source)) => {
            let runtime = select(spec, source, context.catalog)?;
            log.info(format!("Python {spec} requested by {source}: using {runtime}"));
            if let Some(requires) = requires.as_ref().filter(|r| !r.allows(&runtime.version)) {
                return Err(BuildError::PythonVersion(format!(
                    "Python {} (from {source}) does not satisfy {requires}; change one of them",
                    runtime.version
                )));
            }
            warn_if_patch_behind(spec, runtime, context.catalog, log);
            Resolution { runtime: runtime.clone(), spec: Some(spec), source }
        }
        None => unrequested(context, requires.as_ref(), log)?,
    };
    if let Some(requires) = &requires {
        log.info(format!("Python {} satisfies {requires}.", resolution.runtime.version));
    }
    check_lifecycle(&resolution, settings, context, log)?;
    Ok(resolution)
}

/// The version the app asks for, first source first; `None` when it asks for none.
fn requested(source_dir: &Path, settings: &Settings, log: &BuildLog) -> Result<Option<(VersionSpec, VersionSource)>> {
    let mut requests: Vec<(VersionSource, Result<VersionSpec>)> = Vec::new();
    if let Some(value) = settings.get(PYTHON_VERSION) {
        let value = value.trim();
        let spec = VersionSpec::parse(value).ok_or_else(|| BuildError::InvalidSetting {
            key: PYTHON_VERSION.to_string(),
            message: format!(
                "`{}` is not a Python version; expected `3.X` or `3.X.Y` (e.g. `3.12`)",
                escape_invisible(value)
            ),
        });
        requests.push((VersionSource::Setting, spec));
    }
    for (file, source, parse) in [
        (RUNTIME_TXT, VersionSource::RuntimeTxt, parse_runtime_txt as fn(&[u8]) -> Result<VersionSpec>),
        (PYTHON_VERSION_FILE, VersionSource::PythonVersionFile, parse_python_version_file),
    ] {
        let path = source_dir.join(file);
        if std::fs::symlink_metadata(&path).is_ok() {
            let spec = crate::confine::inside(source_dir, &path, file)
                .and_then(|real| std::fs::read(&real).at("cannot read", &path))
                .and_then(|bytes| parse(&bytes));
            requests.push((source, spec));
        }
    }
    let mut requests = requests.into_iter();
    let Some((source, spec)) = requests.next() else {
        return Ok(None);
    };
    let spec = spec?;
    for (overridden, other) in requests {
        match other {
            Ok(other) if other != spec => log.info(format!("{source} ({spec}) overrides {overridden} ({other})")),
            Ok(_) => {}
            Err(e) => log.warn(format!("ignoring {overridden}, which {source} overrides: {e}")),
        }
    }
    Ok(Some((spec, source)))
}

/// No version asked for: the server's default, else the minor the app's env has, else the newest
/// runtime — each only if it satisfies `requires`.
fn unrequested(context: &VersionContext, requires: Option<&RequiresPython>, log: &BuildLog) -> Result<Resolution> {
    let allowed = |runtime: &Runtime| requires.is_none_or(|r| r.allows(&runtime.version));
    let pin_hint = |runtime: &Runtime| {
        format!(
            "To choose the version yourself, commit a `.python-version` file containing `{}`.",
            runtime.version.major_minor()
        )
    };
    const UNREQUESTED: &str = "No Python version requested (no PYTHON_VERSION, runtime.txt or .python-version)";
    if let Some(spec) = context.default {
        let source = VersionSource::ServerDefault;
        let runtime = select(spec, source, context.catalog)?;
        if allowed(runtime) {
            log.info(format!("{UNREQUESTED}; Python {spec} from {source}: using {runtime}. {}", pin_hint(runtime)));
            return Ok(Resolution { runtime: runtime.clone(), spec: Some(spec), source });
        }
        log.info(format!("The server's default Python {spec} does not satisfy {}.", requires.expect("not allowed")));
    } else if let Some(sticky) = context.sticky {
        let same_minor = VersionSpec { major: sticky.major, minor: sticky.minor, patch: None };
        if let Some(runtime) = same_minor.select(context.catalog).filter(|r| allowed(r)) {
            let newest = context.catalog.newest().filter(|n| n.version.major_minor() != runtime.version.major_minor());
            let newer = newest.map(|n| format!(", although {} is installed", n.version)).unwrap_or_default();
            log.info(format!(
                "{UNREQUESTED}: staying on Python {same_minor}, which this app's env was built with{newer}: using {runtime}. {}",
                pin_hint(newest.unwrap_or(runtime))
            ));
            return Ok(Resolution { runtime: runtime.clone(), spec: None, source: VersionSource::Sticky });
        }
    }
    let runtime = context.catalog.runtimes.iter().find(|r| allowed(r)).ok_or_else(|| match requires {
        Some(requires) => BuildError::PythonVersion(format!(
            "no runtime satisfies {requires}; runtimes found: {}",
            context.catalog.describe_versions()
        )),
        None => BuildError::NoRuntimes,
    })?;
    let (source, which) = match requires {
        Some(requires) => (VersionSource::RequiresPython, format!("the newest that satisfies {requires}")),
        None => (VersionSource::Newest, "the newest".to_string()),
    };
    log.info(format!("{UNREQUESTED}: using {which}, {runtime}. {}", pin_hint(runtime)));
    Ok(Resolution { runtime: runtime.clone(), spec: None, source })
}

/// An exact version (`3.12.1`) behind the newest patch of its minor on this server.
fn warn_if_patch_behind(spec: VersionSpec, runtime: &Runtime, catalog: &RuntimeCatalog, log: &BuildLog) {
    if spec.patch.is_none() {
        return;
    }
    let minor = VersionSpec { patch: None, ..spec };
    if let Some(newest) = minor.select(catalog).filter(|n| n.version > runtime.version) {
        log.warn(format!(
            "a patch update is available: Python {} is installed, with security and bug fixes over {}; ask for `{minor}` to always get the newest {minor}.x",
            newest.version, runtime.version
        ));
    }
}

/// Refuses a minor past its end of life (after its grace) unless `ALLOW_EOL_PYTHON` is true;
/// warns about one in its grace, or ending soon.
fn check_lifecycle(
    resolution: &Resolution,
    settings: &Settings,
    context: &VersionContext,
    log: &BuildLog,
) -> Result<()> {
    let version = &resolution.runtime.version;
    let minor = version.major_minor();
    let newest = context.catalog.newest().map(|n| n.version.major_minor()).unwrap_or_default();
    match lifecycle::support(version, context.today) {
        Support::Supported => {}
        Support::EndsSoon { end_of_life } => log.warn(format!(
            "Python {minor} reaches its end of life on {end_of_life} and then gets no security fixes; plan the move to a newer minor (the newest here is {newest})."
        )),
        Support::Grace { end_of_life, refused_from } => log.warn(format!(
            "Python {minor} reached its end of life on {end_of_life} and gets no security fixes; from {refused_from} deployments on it are refused unless {ALLOW_EOL_PYTHON}=true. Move to a newer minor (the newest here is {newest})."
        )),
        Support::EndOfLife { end_of_life } => {
            let when = if end_of_life == Date::MIN { String::new() } else { format!(" on {end_of_life}") };
            if settings.flag(ALLOW_EOL_PYTHON)? == Some(true) {
                log.warn(format!(
                    "Python {minor} reached its end of life{when} and gets no security fixes; deploying it because {ALLOW_EOL_PYTHON}=true."
                ));
            } else {
                return Err(BuildError::PythonVersion(format!(
                    "Python {minor} (from {}) reached its end of life{when} and gets no security fixes; move to a supported minor (the newest here is {newest}), or set {ALLOW_EOL_PYTHON}=true to deploy it anyway",
                    resolution.source
                )));
            }
        }
    }
    Ok(())
}

/// Names close to `.python-version` and `runtime.txt` that are surely meant as them: a version
/// file with a typo is an error, not an app silently on another Python.
fn refuse_misspelled_version_files(source_dir: &Path) -> Result<()> {
    const PYTHON_VERSION_LIKE: &[&str] =
        &["python-version", "python-version.txt", "pythonversion", "pythonversion.txt", "python.version"];
    const RUNTIME_TXT_LIKE: &[&str] = &[
        "runtime",
        "runtime.txt",
        "runtime.text",
        "runtime.txt.txt",
        "runtimes.txt",
        "runtime-txt",
        "python-runtime.txt",
        "runtime-python.txt",
    ];
    let Ok(entries) = std::fs::read_dir(source_dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == PYTHON_VERSION_FILE || name == RUNTIME_TXT || entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let normal = name.trim().trim_start_matches('.').to_ascii_lowercase().replace('_', "-");
        let meant = if PYTHON_VERSION_LIKE.contains(&normal.as_str()) {
            PYTHON_VERSION_FILE
        } else if RUNTIME_TXT_LIKE.contains(&normal.as_str()) {
            RUNTIME_TXT
        } else {
            continue;
        };
        let shown = escape_invisible(&name);
        return Err(BuildError::invalid_file(
            shown.clone(),
            None,
            format!("this looks like a misspelling of `{meant}`, which is what slipway reads; rename it (`git mv '{shown}' {meant}`)"),
        ));
    }
    Ok(())
}

fn select(spec: VersionSpec, source: VersionSource, catalog: &RuntimeCatalog) -> Result<&Runtime> {
    spec.select(catalog).ok_or_else(|| BuildError::NoMatchingRuntime {
        requested: spec.to_string(),
        source_name: source.to_string(),
        available: catalog.describe_versions(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemorySink;
    use crate::runtime::PythonVersion;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn err(result: Result<VersionSpec>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn runtime_txt_accepts_partial_and_exact_versions() {
        assert_eq!(parse_runtime_txt(b"python-3.12\n").unwrap(), VersionSpec { major: 3, minor: 12, patch: None });
        assert_eq!(
            parse_runtime_txt(b"  python-3.12.1  \r\n\n").unwrap(),
            VersionSpec { major: 3, minor: 12, patch: Some(1) }
        );
    }

    #[test]
    fn runtime_txt_typo_names_file_line_and_expectation() {
        assert_eq!(
            err(parse_runtime_txt(b"pyhton-3.12\n")),
            "runtime.txt line 1: `pyhton-3.12` is not a Python version; expected `python-3.X` or `python-3.X.Y` (e.g. `python-3.12`)"
        );
        assert!(err(parse_runtime_txt(b"3.12")).contains("`3.12` is not a Python version"));
        assert!(err(parse_runtime_txt(b"python-3")).contains("line 1"));
    }

    #[test]
    fn empty_bom_utf16_and_two_versions_are_refused() {
        assert!(err(parse_runtime_txt(b"")).starts_with("runtime.txt: the file is empty"));
        assert!(err(parse_runtime_txt(b"\n  \n")).starts_with("runtime.txt: the file is empty"));
        assert!(err(parse_runtime_txt(b"\xEF\xBB\xBFpython-3.12")).contains("byte-order mark"));
        assert!(err(parse_runtime_txt(b"\xFF\xFEp\0y\0")).contains("UTF-16"));
        assert!(err(parse_runtime_txt(b"\xC3\x28")).contains("not UTF-8"));
        assert_eq!(
            err(parse_runtime_txt(b"python-3.12\npython-3.11\n")),
            "runtime.txt line 2: a second version `python-3.11` (line 1 has `python-3.12`); expected exactly one version"
        );
    }

    #[test]
    fn python_version_file_allows_comments_and_refuses_runtime_txt_syntax() {
        assert_eq!(parse_python_version_file(b"# pinned\n3.11 # lts\n").unwrap().to_string(), "3.11");
        assert_eq!(
            err(parse_python_version_file(b"python-3.12")),
            ".python-version line 1: `python-3.12` is not a Python version; expected `3.X` or `3.X.Y` (e.g. `3.12`)"
        );
    }

    fn catalog() -> RuntimeCatalog {
        let rt = |v: &str| Runtime {
            implementation: "CPython".into(),
            version: PythonVersion::parse(v).unwrap(),
            path: PathBuf::from(format!("/py/{v}/bin/python")),
        };
        RuntimeCatalog::from_runtimes(
            ["3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.12.3", "3.13.0"].into_iter().map(rt).collect(),
        )
    }

    /// The day these tests run on, as far as end-of-life dates go.
    fn today() -> Date {
        Date::from_calendar_date(2026, time::Month::November, 26).unwrap()
    }

    fn resolve_with(
        files: &[(&str, &str)],
        settings: &[(&str, &str)],
        sticky: Option<&str>,
    ) -> (Result<Resolution>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let sink = Arc::new(MemorySink::default());
        let settings: Settings = settings.iter().copied().collect();
        let catalog = catalog();
        let sticky = sticky.map(|v| PythonVersion::parse(v).unwrap());
        let context = VersionContext { catalog: &catalog, default: None, sticky: sticky.as_ref(), today: today() };
        let result = resolve(dir.path(), &settings, &context, &BuildLog::new(sink.clone()));
        (result, sink.lines())
    }

    fn resolve_in(files: &[(&str, &str)], settings: &[(&str, &str)]) -> (Result<Resolution>, Vec<String>) {
        resolve_with(files, settings, None)
    }

    #[test]
    fn partial_version_picks_newest_match_and_exact_must_match_exactly() {
        let (r, _) = resolve_in(&[(RUNTIME_TXT, "python-3.12")], &[]);
        assert_eq!(r.unwrap().runtime.version.to_string(), "3.12.3");
        let (r, _) = resolve_in(&[(RUNTIME_TXT, "python-3.12.1")], &[]);
        assert_eq!(r.unwrap().runtime.version.to_string(), "3.12.1");
        let (r, _) = resolve_in(&[(RUNTIME_TXT, "python-3.12.2")], &[]);
        assert_eq!(
            r.unwrap_err().to_string(),
            "Python 3.12.2 (from runtime.txt) is not available; runtimes found: 3.9.18, 3.10.13, 3.11.7, 3.12.1, 3.12.3, 3.13.0"
        );
    }

    #[test]
    fn setting_wins_and_the_log_says_what_it_overrides() {
        let (r, lines) =
            resolve_in(&[(RUNTIME_TXT, "python-3.12"), (PYTHON_VERSION_FILE, "3.13")], &[("PYTHON_VERSION", "3.11")]);
        let r = r.unwrap();
        assert_eq!((r.source, r.runtime.version.to_string()), (VersionSource::Setting, "3.11.7".into()));
        assert!(
            lines.contains(&"app setting PYTHON_VERSION (3.11) overrides runtime.txt (3.12)".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"app setting PYTHON_VERSION (3.11) overrides .python-version (3.13)".to_string()));
    }

    #[test]
    fn runtime_txt_beats_python_version_and_default_is_newest() {
        let (r, _) = resolve_in(&[(RUNTIME_TXT, "python-3.11"), (PYTHON_VERSION_FILE, "3.13")], &[]);
        assert_eq!(r.unwrap().source, VersionSource::RuntimeTxt);
        let (r, _) = resolve_in(&[(PYTHON_VERSION_FILE, "3.12")], &[]);
        assert_eq!(r.unwrap().source, VersionSource::PythonVersionFile);
        let (r, lines) = resolve_in(&[], &[]);
        let r = r.unwrap();
        assert_eq!((r.source, r.runtime.version.to_string()), (VersionSource::Newest, "3.13.0".into()));
        assert!(lines[0].contains("no PYTHON_VERSION, runtime.txt or .python-version"));
    }

    #[test]
    fn a_malformed_overridden_file_only_warns_but_a_deciding_one_fails() {
        let (r, lines) = resolve_in(&[(RUNTIME_TXT, "pyhton-3.12")], &[("PYTHON_VERSION", "3.12")]);
        assert!(r.is_ok());
        assert!(lines.iter().any(|l| l.starts_with("warning: ignoring runtime.txt")), "{lines:?}");
        let (r, _) = resolve_in(&[(RUNTIME_TXT, "pyhton-3.12")], &[]);
        assert!(r.unwrap_err().to_string().starts_with("runtime.txt line 1"));
        let (r, _) = resolve_in(&[], &[("PYTHON_VERSION", "latest")]);
        assert_eq!(
            r.unwrap_err().to_string(),
            "setting PYTHON_VERSION: `latest` is not a Python version; expected `3.X` or `3.X.Y` (e.g. `3.12`)"
        );
    }

    #[test]
    fn misspelled_version_files_are_errors() {
        let (r, _) = resolve_in(&[("python-version.txt", "3.12")], &[]);
        assert_eq!(
            r.unwrap_err().to_string(),
            "python-version.txt: this looks like a misspelling of `.python-version`, which is what slipway reads; rename it (`git mv 'python-version.txt' .python-version`)"
        );
        let (r, _) = resolve_in(&[(".python-version ", "3.12")], &[]);
        assert!(r.unwrap_err().to_string().starts_with(".python-version : this looks like a misspelling"));
        let (r, _) = resolve_in(&[("Runtime.txt", "python-3.12")], &[]);
        assert!(r.unwrap_err().to_string().contains("misspelling of `runtime.txt`"));
    }

    #[test]
    fn comment_only_files_and_invisible_characters_are_named() {
        let (r, _) = resolve_in(&[(PYTHON_VERSION_FILE, "# 3.12\n")], &[]);
        assert!(r.unwrap_err().to_string().starts_with(".python-version: the file has only comments"));
        let (r, _) = resolve_in(&[(PYTHON_VERSION_FILE, "3.12\u{200b}\n")], &[]);
        assert_eq!(
            r.unwrap_err().to_string(),
            ".python-version line 1: `3.12\\u{200b}` is not a Python version; expected `3.X` or `3.X.Y` (e.g. `3.12`)"
        );
    }

    #[test]
    fn requires_python_picks_the_newest_that_satisfies_it_and_refuses_a_request_that_does_not() {
        let pyproject = |spec: &str| format!("[project]\nname = \"a\"\nrequires-python = \"{spec}\"\n");
        let (r, lines) = resolve_in(&[("pyproject.toml", &pyproject("<3.13"))], &[]);
        let r = r.unwrap();
        assert_eq!((r.source, r.runtime.version.to_string()), (VersionSource::RequiresPython, "3.12.3".into()));
        assert!(
            lines[0].contains("the newest that satisfies `<3.13` (requires-python in pyproject.toml)"),
            "{lines:?}"
        );
        let (r, _) = resolve_in(&[("pyproject.toml", &pyproject(">=3.13")), (RUNTIME_TXT, "python-3.12")], &[]);
        assert_eq!(
            r.unwrap_err().to_string(),
            "Python 3.12.3 (from runtime.txt) does not satisfy `>=3.13` (requires-python in pyproject.toml); change one of them"
        );
        let (r, _) = resolve_in(&[("pyproject.toml", &pyproject(">=3.14"))], &[]);
        assert!(r.unwrap_err().to_string().starts_with("no runtime satisfies `>=3.14`"));
    }

    #[test]
    fn an_unpinned_app_stays_on_its_minor_and_is_told_how_to_pin() {
        let (r, lines) = resolve_with(&[], &[], Some("3.12.1"));
        let r = r.unwrap();
        assert_eq!((r.source, r.runtime.version.to_string()), (VersionSource::Sticky, "3.12.3".into()));
        assert!(lines[0]
            .contains("staying on Python 3.12, which this app's env was built with, although 3.13.0 is installed"));
        assert!(lines[0].contains("commit a `.python-version` file containing `3.13`"), "{lines:?}");
        let (r, lines) = resolve_with(&[], &[], None);
        assert_eq!(r.unwrap().runtime.version.to_string(), "3.13.0");
        assert!(lines[0].contains("commit a `.python-version` file containing `3.13`"), "{lines:?}");
        // A pinned app is not sticky.
        let (r, _) = resolve_with(&[(PYTHON_VERSION_FILE, "3.13")], &[], Some("3.12.1"));
        assert_eq!(r.unwrap().runtime.version.to_string(), "3.13.0");
    }

    #[test]
    fn end_of_life_minors_are_refused_unless_allowed_and_the_grace_period_warns() {
        let (r, _) = resolve_in(&[(RUNTIME_TXT, "python-3.9")], &[]);
        assert_eq!(
            r.unwrap_err().to_string(),
            "Python 3.9 (from runtime.txt) reached its end of life on 2025-10-31 and gets no security fixes; move to a supported minor (the newest here is 3.13), or set ALLOW_EOL_PYTHON=true to deploy it anyway"
        );
        let (r, lines) = resolve_in(&[(RUNTIME_TXT, "python-3.9")], &[("ALLOW_EOL_PYTHON", "true")]);
        assert!(r.is_ok());
        assert!(lines.iter().any(|l| l.starts_with("warning: Python 3.9 reached its end of life on 2025-10-31")));
        let (r, lines) = resolve_in(&[(RUNTIME_TXT, "python-3.10")], &[]);
        assert!(r.is_ok());
        assert!(
            lines
                .iter()
                .any(|l| l.contains("from 2027-02-01 deployments on it are refused unless ALLOW_EOL_PYTHON=true")),
            "{lines:?}"
        );
    }

    #[test]
    fn an_exact_pin_behind_the_newest_patch_warns() {
        let (r, lines) = resolve_in(&[(RUNTIME_TXT, "python-3.12.1")], &[]);
        assert_eq!(r.unwrap().runtime.version.to_string(), "3.12.1");
        assert!(
            lines.iter().any(|l| l.starts_with("warning: a patch update is available: Python 3.12.3")),
            "{lines:?}"
        );
    }
}
