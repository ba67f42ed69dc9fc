//! requirements.txt as far as the build needs to understand it: which files it includes with
//! `-r`/`-c`, and a fingerprint over all of them that says whether the installer must run at all.
//! Resolving the requirements themselves is the installer's job.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::IoContext;
use crate::settings::Settings;
use crate::{BuildError, Result};

pub const REQUIREMENTS_TXT: &str = "requirements.txt";

/// A requirements file and the files it includes, recursively, in the order they are met.
#[derive(Debug, Clone, Default)]
pub struct RequirementFiles {
    pub files: Vec<RequirementFile>,
    /// When the install brings code of the repository itself (`.` or `-e .` in requirements.txt,
    /// a packaged uv project): a digest of the repository's files, so that a change of the code
    /// alone makes the next deployment install again.
    pub local_code: Option<String>,
}

impl RequirementFiles {
    /// Whether any of the files pins hashes (`--hash=sha256:…`): then every package must match one.
    pub fn use_hashes(&self) -> bool {
        self.files.iter().any(|f| f.bytes.windows(6).any(|w| w == b"--hash"))
    }
}

#[derive(Debug, Clone)]
pub struct RequirementFile {
    pub path: PathBuf,
    /// Relative to the checkout: the fingerprint must not change when the same repository is
    /// checked out somewhere else.
    pub name: String,
    pub bytes: Vec<u8>,
}

impl RequirementFiles {
    /// The files `names` in `root`, as they are (lock files and the like: no includes).
    pub fn read_plain(root: &Path, names: &[&str]) -> Result<Self> {
        let mut files = Vec::new();
        for name in names {
            let real = crate::confine::inside(root, &root.join(name), name)?;
            let bytes = std::fs::read(&real)
                .map_err(|e| BuildError::invalid_file(*name, None, format!("cannot read it: {e}")))?;
            files.push(RequirementFile { path: real, name: name.to_string(), bytes });
        }
        Ok(RequirementFiles { files, local_code: None })
    }

    /// The files with `${NAME}` replaced by the setting `NAME`, as pip does when it reads them
    /// (uv does only in URLs): copies under `temp`, laid out as the originals so that `-r`
    /// includes still find each other; the top file's copy is returned. `None` when no file
    /// has a `${`, and the originals are used.
    pub fn expanded(&self, settings: &Settings, temp: &Path) -> Result<Option<PathBuf>> {
        if !self.files.iter().any(|f| f.bytes.windows(2).any(|w| w == b"${")) {
            return Ok(None);
        }
        let root = temp.join("expanded-requirements");
        for file in &self.files {
            let copy = root.join(&file.name);
            if let Some(dir) = copy.parent() {
                std::fs::create_dir_all(dir).at("create directory", dir)?;
            }
            let text = expand_variables(&String::from_utf8_lossy(&file.bytes), settings);
            std::fs::write(&copy, text).at("write", &copy)?;
        }
        Ok(Some(root.join(&self.files[0].name)))
    }

    /// Reads `path` and everything it includes. `display_root` makes names in errors relative.
    pub fn read(path: &Path, display_root: &Path) -> Result<Self> {
        let mut files = Vec::new();
        collect(path, display_root, &mut files, None)?;
        Ok(RequirementFiles { files, local_code: None })
    }

    /// Whether requirements.txt (or a file it includes) installs a folder of the repository:
    /// `.`, `-e .`, `./libs/mylib`, a `file:` URL.
    pub fn install_local_paths(&self) -> bool {
        self.files.iter().any(|f| String::from_utf8_lossy(&f.bytes).lines().any(is_local_requirement))
    }

    /// sha256 over every file (name, and content with `${NAME}` filled in from `settings`), the
    /// repository's code when the install brings it, and whatever else decides the install's
    /// result — the installer and its version, the interpreter, where packages come from.
    pub fn fingerprint(&self, settings: &Settings, context: &[&str]) -> String {
        let mut hash = Sha256::new();
        for file in &self.files {
            hash.update(file.name.as_bytes());
            hash.update([0]);
            if file.bytes.windows(2).any(|w| w == b"${") {
                hash.update(expand_variables(&String::from_utf8_lossy(&file.bytes), settings).as_bytes());
            } else {
                hash.update(&file.bytes);
            }
            hash.update([0]);
        }
        if let Some(code) = &self.local_code {
            hash.update(code.as_bytes());
            hash.update([0]);
        }
        for part in context {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn is_local_requirement(line: &str) -> bool {
    let line = line.split(" #").next().unwrap_or_default().trim();
    let line = ["-e", "--editable"]
        .iter()
        .find_map(|flag| line.strip_prefix(flag).filter(|rest| rest.starts_with([' ', '=', '\t'])))
        .map(|rest| rest.trim_start_matches(['=', ' ', '\t']))
        .unwrap_or(line);
    line.starts_with('.') || line.starts_with('/') || line.starts_with("file:") || line.contains("@ file:")
}

/// A digest of the files under `root` (names and contents), leaving out what is not the app's
/// code: `.git`, virtual environments (`env`, any folder with `pyvenv.cfg`), caches.
pub fn tree_digest(root: &Path) -> Result<String> {
    const SKIPPED: &[&str] = &[".git", "__pycache__", "node_modules", ".slipway", ".mypy_cache", ".pytest_cache"];
    let mut hash = Sha256::new();
    let walker = walkdir::WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|e| {
        let skipped = SKIPPED.iter().any(|s| e.file_name() == *s);
        let venv = e.file_type().is_dir() && e.path().join("pyvenv.cfg").exists();
        e.depth() == 0 || !(skipped || venv)
    });
    for entry in walker {
        let entry = entry.map_err(|e| BuildError::io("read", root, e.into()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        hash.update(rel.as_os_str().as_encoded_bytes());
        hash.update([0]);
        hash.update(std::fs::read(entry.path()).at("read", entry.path())?);
        hash.update([0]);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

fn collect(
    path: &Path,
    root: &Path,
    files: &mut Vec<RequirementFile>,
    included_from: Option<(&str, usize)>,
) -> Result<()> {
    if files.iter().any(|f| f.path == path) {
        return Ok(()); // already read: includes may form a diamond or a cycle
    }
    let name = display(path, root);
    let where_ = |message: String| match included_from {
        Some((file, line)) => BuildError::invalid_file(file, Some(line), message),
        None => BuildError::invalid_file(name.clone(), None, message),
    };
    let path =
        &crate::confine::real_path_inside(root, path).ok_or_else(|| where_(crate::confine::outside_message(&name)))?;
    let meta = std::fs::metadata(path).map_err(|e| where_(format!("cannot read `{name}`: {e}")))?;
    if !meta.is_file() {
        return Err(where_(format!("`{name}` is not a file; expected a requirements file")));
    }
    let bytes = std::fs::read(path).map_err(|e| where_(format!("cannot read `{name}`: {e}")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| {
            BuildError::invalid_file(
                &name,
                None,
                "the file is not UTF-8 text; expected one requirement per line (save it as UTF-8)",
            )
        })?
        .to_string();
    files.push(RequirementFile { path: path.to_path_buf(), name: name.clone(), bytes });
    let dir = path.parent().unwrap_or(Path::new("."));
    for (index, line) in text.lines().enumerate() {
        if let Some(include) = include_target(line) {
            if include.contains("://") {
                continue; // a URL: its text is in the fingerprint already
            }
            collect(&dir.join(include), root, files, Some((&name, index + 1)))?;
        }
    }
    Ok(())
}

/// `${NAME}` (upper-case letters, digits, `_`: pip's rule) replaced by the setting `NAME`, else
/// the variable of the build's environment (where `slipway build` gets its settings); an unknown
/// name is left as it is, as pip leaves it.
fn expand_variables(text: &str, settings: &Settings) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after.find('}').filter(|&end| {
            end > 0 && after[..end].bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
        let value = |name: &str| settings.get(name).map(String::from).or_else(|| std::env::var(name).ok());
        match name_len.and_then(|end| value(&after[..end]).map(|value| (end, value))) {
            Some((end, value)) => {
                out.push_str(&value);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The file named by a `-r`/`--requirement`/`-c`/`--constraint` line, if this is one.
fn include_target(line: &str) -> Option<&str> {
    let line = strip_comment(line).trim();
    for option in ["--requirement", "--constraint", "-r", "-c"] {
        if let Some(rest) = line.strip_prefix(option) {
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            // `-rfile` is legal; `--requirements-foo` would not be an include.
            if !rest.is_empty() && (option.len() == 2 || line[option.len()..].starts_with([' ', '\t', '='])) {
                return Some(rest);
            }
        }
    }
    None
}

/// pip treats `#` as a comment at the start of a line or after whitespace.
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// PEP 503 normalization: `Typing_Extensions` → `typing-extensions`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lines_are_recognised_in_every_spelling() {
        assert_eq!(include_target("-r base.txt"), Some("base.txt"));
        assert_eq!(include_target("-rbase.txt"), Some("base.txt"));
        assert_eq!(include_target("--requirement=base.txt"), Some("base.txt"));
        assert_eq!(include_target("  -c constraints.txt  # pins"), Some("constraints.txt"));
        assert_eq!(include_target("flask"), None);
        assert_eq!(include_target("# -r old.txt"), None);
        assert_eq!(include_target("--requirements-extra x"), None);
    }

    #[test]
    fn fingerprint_changes_when_an_included_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join(REQUIREMENTS_TXT);
        std::fs::write(&req, "flask\n-r more/base.txt\n").unwrap();
        std::fs::create_dir(dir.path().join("more")).unwrap();
        std::fs::write(dir.path().join("more/base.txt"), "requests\n-c ../pins.txt\n").unwrap();
        std::fs::write(dir.path().join("pins.txt"), "requests==2.34.2\n").unwrap();
        let none = Settings::default();
        let before = RequirementFiles::read(&req, dir.path()).unwrap();
        assert_eq!(before.files.len(), 3);
        std::fs::write(dir.path().join("pins.txt"), "requests==2.34.1\n").unwrap();
        let after = RequirementFiles::read(&req, dir.path()).unwrap();
        assert_ne!(before.fingerprint(&none, &["uv 1"]), after.fingerprint(&none, &["uv 1"]));
        assert_ne!(after.fingerprint(&none, &["uv 1"]), after.fingerprint(&none, &["uv 2"]));
        assert_eq!(
            after.fingerprint(&none, &["uv 1"]),
            RequirementFiles::read(&req, dir.path()).unwrap().fingerprint(&none, &["uv 1"])
        );

        // The same files in another checkout have the same fingerprint.
        let elsewhere = tempfile::tempdir().unwrap();
        for name in [REQUIREMENTS_TXT, "more/base.txt", "pins.txt"] {
            std::fs::create_dir_all(elsewhere.path().join(name).parent().unwrap()).unwrap();
            std::fs::copy(dir.path().join(name), elsewhere.path().join(name)).unwrap();
        }
        let moved = RequirementFiles::read(&elsewhere.path().join(REQUIREMENTS_TXT), elsewhere.path()).unwrap();
        assert_eq!(moved.fingerprint(&none, &["uv 1"]), after.fingerprint(&none, &["uv 1"]));
    }

    #[test]
    fn a_missing_include_names_the_including_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join(REQUIREMENTS_TXT);
        std::fs::write(&req, "flask\n\n-r base.txt\n").unwrap();
        let err = RequirementFiles::read(&req, dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("requirements.txt line 3: cannot read `base.txt`"), "{err}");
    }

    #[test]
    fn include_cycles_terminate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "-r b.txt\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "-r a.txt\n").unwrap();
        assert_eq!(RequirementFiles::read(&dir.path().join("a.txt"), dir.path()).unwrap().files.len(), 2);
    }

    #[test]
    fn non_utf8_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join(REQUIREMENTS_TXT);
        std::fs::write(&req, b"\xFF\xFEf\0l\0").unwrap();
        let err = RequirementFiles::read(&req, dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("requirements.txt: the file is not UTF-8 text"), "{err}");
        std::fs::remove_file(&req).unwrap();
        std::fs::create_dir(&req).unwrap();
        let err = RequirementFiles::read(&req, dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a file"), "{err}");
    }

    #[test]
    fn variables_are_expanded_in_copies_that_keep_their_includes() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join(REQUIREMENTS_TXT);
        std::fs::write(&req, "flask==${FLASK_VERSION}\n-r more/base.txt\n").unwrap();
        std::fs::create_dir(dir.path().join("more")).unwrap();
        std::fs::write(dir.path().join("more/base.txt"), "x @ https://${USER}:${TOKEN}@h/x.whl ${lower}\n").unwrap();
        let files = RequirementFiles::read(&req, dir.path()).unwrap();
        let settings: Settings = [("FLASK_VERSION", "3.1.3"), ("TOKEN", "t0k")].into_iter().collect();
        let temp = tempfile::tempdir().unwrap();
        let top = files.expanded(&settings, temp.path()).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&top).unwrap(), "flask==3.1.3\n-r more/base.txt\n");
        let base = top.parent().unwrap().join("more/base.txt");
        assert_eq!(std::fs::read_to_string(base).unwrap(), "x @ https://${USER}:t0k@h/x.whl ${lower}\n");

        std::fs::write(&req, "flask\n").unwrap();
        let plain = RequirementFiles::read(&req, dir.path()).unwrap();
        assert!(plain.expanded(&settings, temp.path()).unwrap().is_none());
    }

    #[test]
    fn names_normalize_like_pep_503() {
        assert_eq!(normalize_name("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("a--_b"), "a-b");
    }

    #[test]
    fn local_code_and_variables_decide_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join(REQUIREMENTS_TXT);
        for (text, local) in [
            ("flask\n-e .\n", true),
            ("--editable=./libs/mylib\n", true),
            (".  # the app itself\n", true),
            ("mylib @ file:///srv/mylib\n", true),
            ("flask\n-r more.txt\n", false),
            ("-extra-thing\n", false),
        ] {
            std::fs::write(&req, text).unwrap();
            std::fs::write(dir.path().join("more.txt"), "six\n").unwrap();
            assert_eq!(RequirementFiles::read(&req, dir.path()).unwrap().install_local_paths(), local, "{text}");
        }
        std::fs::write(&req, "${PKG}\n").unwrap();
        let files = RequirementFiles::read(&req, dir.path()).unwrap();
        let with = |value: &str| files.fingerprint(&[("PKG", value)].into_iter().collect(), &[]);
        assert_ne!(with("six"), with("itsdangerous"), "the setting behind the variable decides");

        std::fs::write(dir.path().join("app.py"), "VALUE = 'old'").unwrap();
        std::fs::create_dir_all(dir.path().join("env")).unwrap();
        std::fs::write(dir.path().join("env/pyvenv.cfg"), "home = /usr").unwrap();
        let old = tree_digest(dir.path()).unwrap();
        std::fs::write(dir.path().join("env/junk"), "x").unwrap();
        assert_eq!(tree_digest(dir.path()).unwrap(), old, "a virtual environment is not the app's code");
        std::fs::write(dir.path().join("app.py"), "VALUE = 'new'").unwrap();
        assert_ne!(tree_digest(dir.path()).unwrap(), old);
    }
}
