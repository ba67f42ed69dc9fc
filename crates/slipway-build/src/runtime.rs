//! Runtimes: the Python interpreters on this machine.
//!
//! Found on PATH (`python3.X`), under `$PYENV_ROOT/versions/*/bin/python`, and wherever the operator
//! points with `--python PATH`. Each is asked once for its implementation and version; the answers
//! are cached on disk keyed by the file's identity (inode, size, mtime), so a build does not start a
//! dozen interpreters just to learn what it learnt last time.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::IoContext;
use crate::{BuildError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    /// `CPython`, `PyPy`, … as `platform.python_implementation()` says.
    pub implementation: String,
    pub version: PythonVersion,
    /// The interpreter's real executable (symlinks and pyenv shims resolved).
    pub path: PathBuf,
}

/// A full interpreter version such as `3.12.1` or `3.14.0rc1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// A pre-release suffix (`rc1`, `a2`), empty for a final release.
    pub suffix: String,
}

impl PythonVersion {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let patch = rest[..digits].parse().ok()?;
        let suffix = rest[digits..].trim_end_matches('+').to_string();
        Some(PythonVersion { major, minor, patch, suffix })
    }

    pub fn major_minor(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    fn sort_key(&self) -> (u32, u32, u32, bool, &str) {
        // A final release sorts after its own pre-releases.
        (self.major, self.minor, self.patch, self.suffix.is_empty(), &self.suffix)
    }
}

impl Ord for PythonVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for PythonVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}{}", self.major, self.minor, self.patch, self.suffix)
    }
}

impl TryFrom<String> for PythonVersion {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        PythonVersion::parse(&s).ok_or_else(|| format!("`{s}` is not a Python version"))
    }
}

impl From<PythonVersion> for String {
    fn from(v: PythonVersion) -> String {
        v.to_string()
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.implementation, self.version, self.path.display())
    }
}

/// Where to look for interpreters.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Interpreters named by the operator (`--python PATH`), listed first.
    pub explicit: Vec<PathBuf>,
    /// `$PYENV_ROOT`, default `~/.pyenv`.
    pub pyenv_root: Option<PathBuf>,
    /// The directories of `$PATH`.
    pub path_dirs: Vec<PathBuf>,
    /// Where the probe cache lives; `None` probes every time.
    pub cache_dir: Option<PathBuf>,
}

impl Discovery {
    /// Looks where this process's environment says: `$PATH`, `$PYENV_ROOT` (or `~/.pyenv`).
    pub fn from_process_env(explicit: Vec<PathBuf>, cache_dir: Option<PathBuf>) -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let pyenv_root = std::env::var_os("PYENV_ROOT").map(PathBuf::from).or_else(|| home.map(|h| h.join(".pyenv")));
        let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
        Discovery { explicit, pyenv_root, path_dirs, cache_dir }
    }

    /// Every candidate interpreter path, in discovery order, before probing.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let mut found = self.explicit.clone();
        if let Some(root) = &self.pyenv_root {
            let mut versions = list_dir(&root.join("versions"));
            versions.sort();
            found.extend(versions.into_iter().map(|v| v.join("bin/python")).filter(|p| p.exists()));
        }
        let pyenv_shims = self.pyenv_root.as_ref().map(|r| r.join("shims"));
        for dir in &self.path_dirs {
            // pyenv's shims only answer for the globally selected version; the versions themselves
            // were listed above.
            if Some(dir) == pyenv_shims.as_ref() || dir.ends_with("shims") {
                continue;
            }
            let mut names: Vec<PathBuf> = list_dir(dir).into_iter().filter(|p| is_versioned_python3(p)).collect();
            names.sort();
            found.extend(names);
        }
        found
    }
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

fn is_versioned_python3(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("python3."))
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

/// The runtimes found on this machine, newest first within the order they were found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuntimeCatalog {
    pub runtimes: Vec<Runtime>,
}

impl RuntimeCatalog {
    /// Probes every candidate (from the cache where the file is unchanged), drops the ones that do
    /// not answer and duplicates of the same executable, and sorts newest first.
    pub fn discover(discovery: &Discovery) -> Result<Self> {
        let mut cache = ProbeCache::load(discovery.cache_dir.as_deref());
        let mut runtimes: Vec<Runtime> = Vec::new();
        for candidate in discovery.candidates() {
            let Some(runtime) = cache.probe(&candidate).filter(is_usable) else { continue };
            if !runtimes.iter().any(|r| r.path == runtime.path) {
                runtimes.push(runtime);
            }
        }
        cache.save()?;
        runtimes.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(RuntimeCatalog { runtimes })
    }

    pub fn from_runtimes(mut runtimes: Vec<Runtime>) -> Self {
        runtimes.sort_by(|a, b| b.version.cmp(&a.version));
        RuntimeCatalog { runtimes }
    }

    pub fn newest(&self) -> Option<&Runtime> {
        self.runtimes.first()
    }

    /// `3.11.7, 3.12.1, 3.13.0` — for error messages.
    pub fn describe_versions(&self) -> String {
        if self.runtimes.is_empty() {
            return "none".to_string();
        }
        let mut versions: Vec<_> = self.runtimes.iter().map(|r| &r.version).collect();
        versions.sort();
        versions.dedup();
        versions.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// The oldest Python an env can be made for (by `uv venv` or `python -m venv`): older interpreters,
/// Python 2 among them, are not offered as runtimes.
pub const OLDEST_USABLE: (u32, u32) = (3, 6);

fn is_usable(runtime: &Runtime) -> bool {
    (runtime.version.major, runtime.version.minor) >= OLDEST_USABLE
}

/// The interpreter's own answer to "what are you?".
const PROBE_SCRIPT: &str =
    "import os, platform, sys; print(platform.python_implementation()); print(platform.python_version()); print(os.path.realpath(sys.executable))";

/// Asks one interpreter what it is; `None` if it does not answer like a Python.
pub fn probe(path: &Path) -> Option<Runtime> {
    let output = Command::new(path).args(["-E", "-s", "-S", "-c", PROBE_SCRIPT]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let mut lines = text.lines();
    let implementation = lines.next()?.trim().to_string();
    let version = PythonVersion::parse(lines.next()?)?;
    let real = PathBuf::from(lines.next()?.trim());
    // A venv's executable resolves to its base interpreter; keep the candidate when the real path
    // is empty (embedded interpreters).
    let path = if real.as_os_str().is_empty() { path.to_path_buf() } else { real };
    Some(Runtime { implementation, version, path })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileIdentity {
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl FileIdentity {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileIdentity {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedProbe {
    identity: FileIdentity,
    runtime: Option<Runtime>,
}

struct ProbeCache {
    file: Option<PathBuf>,
    entries: BTreeMap<PathBuf, CachedProbe>,
    dirty: bool,
}

impl ProbeCache {
    const FILE_NAME: &'static str = "runtimes.json";

    fn load(dir: Option<&Path>) -> Self {
        let file = dir.map(|d| d.join(Self::FILE_NAME));
        // An unreadable or outdated cache is only a cache: start afresh.
        let entries = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        ProbeCache { file, entries, dirty: false }
    }

    fn probe(&mut self, candidate: &Path) -> Option<Runtime> {
        let identity = FileIdentity::of(candidate)?;
        if let Some(cached) = self.entries.get(candidate) {
            if cached.identity == identity && cached.runtime.as_ref().is_none_or(|r| r.path.exists()) {
                return cached.runtime.clone();
            }
        }
        let runtime = probe(candidate);
        self.entries.insert(candidate.to_path_buf(), CachedProbe { identity, runtime: runtime.clone() });
        self.dirty = true;
        runtime
    }

    /// Writes the cache atomically, so that concurrent builds never read half a file.
    fn save(&self) -> Result<()> {
        let (Some(file), true) = (&self.file, self.dirty) else { return Ok(()) };
        let dir = file.parent().expect("cache file has a directory");
        std::fs::create_dir_all(dir).at("create cache directory", dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).at("create temporary file in", dir)?;
        serde_json::to_writer(&mut tmp, &self.entries)
            .map_err(|e| BuildError::io("write runtime cache", file, e.into()))?;
        tmp.persist(file).map_err(|e| BuildError::io("write runtime cache", file, e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order_with_prereleases_first() {
        let v = |s| PythonVersion::parse(s).unwrap();
        assert_eq!(v("3.12.1").to_string(), "3.12.1");
        assert!(v("3.14.0rc1") < v("3.14.0"));
        assert!(v("3.9.18") < v("3.10.0"));
        assert_eq!(PythonVersion::parse("3.12"), None);
        assert_eq!(PythonVersion::parse("abc"), None);
    }

    #[test]
    fn only_versioned_python3_names_are_candidates() {
        assert!(is_versioned_python3(Path::new("/usr/bin/python3.12")));
        assert!(!is_versioned_python3(Path::new("/usr/bin/python3")));
        assert!(!is_versioned_python3(Path::new("/usr/bin/python3.12-config")));
        assert!(!is_versioned_python3(Path::new("/usr/bin/python3.")));
    }

    #[test]
    fn cache_answers_without_probing_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python3.99");
        std::fs::write(&fake, "#!/bin/sh\nprintf 'CPython\\n3.99.0\\n%s\\n' \"$0\"\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let discovery = Discovery {
            explicit: vec![fake.clone()],
            pyenv_root: None,
            path_dirs: vec![],
            cache_dir: Some(dir.path().join("cache")),
        };
        let first = RuntimeCatalog::discover(&discovery).unwrap();
        assert_eq!(first.runtimes[0].version.to_string(), "3.99.0");

        // Same identity (inode, size, mtime) → the cached answer, even though the script now lies.
        let mtime = filetime::FileTime::from_last_modification_time(&std::fs::metadata(&fake).unwrap());
        std::fs::write(&fake, "#!/bin/sh\nprintf 'CPython\\n3.98.0\\n%s\\n' \"$0\"\n").unwrap();
        filetime::set_file_mtime(&fake, mtime).unwrap();
        let cached = RuntimeCatalog::discover(&discovery).unwrap();
        assert_eq!(cached.runtimes[0].version.to_string(), "3.99.0");

        filetime::set_file_mtime(&fake, filetime::FileTime::from_unix_time(1, 0)).unwrap();
        let reprobed = RuntimeCatalog::discover(&discovery).unwrap();
        assert_eq!(reprobed.runtimes[0].version.to_string(), "3.98.0");
    }
}
