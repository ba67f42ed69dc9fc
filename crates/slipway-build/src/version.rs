//! Which Python a deployment gets. First match wins, and the log says which source decided:
//! the app setting `PYTHON_VERSION`, `runtime.txt` (`python-3.12`), `.python-version` (`3.12`),
//! then the server's default (`--default-python`, else the newest runtime found).
//!
//! `3.12` means the newest 3.12.x found; `3.12.1` means exactly that.

use std::fmt;
use std::path::Path;

use crate::error::IoContext;
use crate::log::BuildLog;
use crate::runtime::{Runtime, RuntimeCatalog};
use crate::settings::{Settings, PYTHON_VERSION};
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
    Newest,
}

impl fmt::Display for VersionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionSource::Setting => "app setting PYTHON_VERSION",
            VersionSource::RuntimeTxt => "runtime.txt",
            VersionSource::PythonVersionFile => ".python-version",
            VersionSource::ServerDefault => "the server's default (--default-python)",
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
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let value = raw.split('#').next().unwrap_or("").trim();
        if value.is_empty() {
            continue;
        }
        let spec = parse(value).ok_or_else(|| {
            invalid(Some(line_number), format!("`{value}` is not a Python version; expected {expected}"))
        })?;
        if let Some((first_line, first, _)) = found {
            return Err(invalid(
                Some(line_number),
                format!("a second version `{value}` (line {first_line} has `{first}`); expected exactly one version"),
            ));
        }
        found = Some((line_number, value, spec));
    }
    found.map(|(_, _, spec)| spec).ok_or_else(|| invalid(None, format!("the file is empty; expected {expected}")))
}

/// The decision: which runtime, and why.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub runtime: Runtime,
    pub spec: Option<VersionSpec>,
    pub source: VersionSource,
}

/// Reads the version files in `source_dir` and picks the runtime, logging the source that decided
/// and every lower-priority source it overrides with a different value.
pub fn resolve(
    source_dir: &Path,
    settings: &Settings,
    default: Option<VersionSpec>,
    catalog: &RuntimeCatalog,
    log: &BuildLog,
) -> Result<Resolution> {
    let mut requests: Vec<(VersionSource, Result<VersionSpec>)> = Vec::new();
    if let Some(value) = settings.get(PYTHON_VERSION) {
        let value = value.trim();
        let spec = VersionSpec::parse(value).ok_or_else(|| BuildError::InvalidSetting {
            key: PYTHON_VERSION.to_string(),
            message: format!("`{value}` is not a Python version; expected `3.X` or `3.X.Y` (e.g. `3.12`)"),
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
        return resolve_default(default, catalog, log);
    };
    let spec = spec?;
    for (overridden, other) in requests {
        match other {
            Ok(other) if other != spec => log.info(format!("{source} ({spec}) overrides {overridden} ({other})")),
            Ok(_) => {}
            Err(e) => log.warn(format!("ignoring {overridden}, which {source} overrides: {e}")),
        }
    }
    let runtime = select(spec, source, catalog)?;
    log.info(format!("Python {spec} requested by {source}: using {runtime}"));
    Ok(Resolution { runtime: runtime.clone(), spec: Some(spec), source })
}

fn resolve_default(default: Option<VersionSpec>, catalog: &RuntimeCatalog, log: &BuildLog) -> Result<Resolution> {
    if let Some(spec) = default {
        let source = VersionSource::ServerDefault;
        let runtime = select(spec, source, catalog)?;
        log.info(format!("No Python version requested; Python {spec} from {source}: using {runtime}"));
        return Ok(Resolution { runtime: runtime.clone(), spec: Some(spec), source });
    }
    let runtime = catalog.newest().ok_or(BuildError::NoRuntimes)?;
    log.info(format!(
        "No Python version requested (no PYTHON_VERSION, runtime.txt or .python-version): using the newest, {runtime}"
    ));
    Ok(Resolution { runtime: runtime.clone(), spec: None, source: VersionSource::Newest })
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
        RuntimeCatalog::from_runtimes(vec![rt("3.11.7"), rt("3.12.1"), rt("3.12.3"), rt("3.13.0")])
    }

    fn resolve_in(files: &[(&str, &str)], settings: &[(&str, &str)]) -> (Result<Resolution>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let sink = Arc::new(MemorySink::default());
        let settings: Settings = settings.iter().copied().collect();
        let result = resolve(dir.path(), &settings, None, &catalog(), &BuildLog::new(sink.clone()));
        (result, sink.lines())
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
            "Python 3.12.2 (from runtime.txt) is not available; runtimes found: 3.11.7, 3.12.1, 3.12.3, 3.13.0"
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
}
