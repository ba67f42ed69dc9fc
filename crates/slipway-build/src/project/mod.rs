//! The app's project: the folder of the repository it lives in (`PROJECT`), how it declares its
//! dependencies — which package manager's files — and the Pythons it says it runs on
//! (`requires-python`).
//!
//! Exactly one package manager installs an app. Its files are looked for in the project folder:
//! requirements.txt (pip or uv), uv.lock (uv), poetry.lock (Poetry), Pipfile.lock (Pipenv), and,
//! with none of those, pyproject.toml's `[project]` dependencies (uv, unlocked). Several of them
//! are an error naming them, unless the setting `PYTHON_PACKAGE_MANAGER` chooses.

pub mod pipenv;
pub mod poetry;
pub mod uv;

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use crate::requirements::REQUIREMENTS_TXT;
use crate::runtime::PythonVersion;
use crate::settings::{Settings, PROJECT, PYTHON_PACKAGE_MANAGER};
use crate::{BuildError, Result};

pub const PYPROJECT_TOML: &str = "pyproject.toml";
pub const UV_LOCK: &str = "uv.lock";
pub const POETRY_LOCK: &str = "poetry.lock";
pub const PIPFILE: &str = "Pipfile";
pub const PIPFILE_LOCK: &str = "Pipfile.lock";
const SETUP_FILES: &[&str] = &["setup.py", "setup.cfg"];

/// How an app declares its dependencies: what slipway installs, and with which tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependencies {
    /// No dependency file: nothing to install.
    None,
    /// requirements.txt, resolved and installed by uv or pip.
    Requirements,
    /// pyproject.toml's `[project]` dependencies with no lock: resolved by uv at each change.
    Pyproject,
    /// uv.lock, installed exactly by `uv sync --locked`.
    UvLock,
    /// poetry.lock, its main group installed exactly by `poetry sync`.
    PoetryLock,
    /// Pipfile.lock, its default packages installed exactly, with their hashes.
    PipfileLock,
}

impl Dependencies {
    /// The package manager, as `PYTHON_PACKAGE_MANAGER` names it.
    pub fn manager(self) -> &'static str {
        match self {
            Dependencies::None => "none",
            Dependencies::Requirements => "pip",
            Dependencies::Pyproject | Dependencies::UvLock => "uv",
            Dependencies::PoetryLock => "poetry",
            Dependencies::PipfileLock => "pipenv",
        }
    }

    /// The file the dependencies are read from.
    pub fn file(self) -> &'static str {
        match self {
            Dependencies::None => "no dependency file",
            Dependencies::Requirements => REQUIREMENTS_TXT,
            Dependencies::Pyproject => PYPROJECT_TOML,
            Dependencies::UvLock => UV_LOCK,
            Dependencies::PoetryLock => POETRY_LOCK,
            Dependencies::PipfileLock => PIPFILE_LOCK,
        }
    }

    /// The files whose content decides what is installed (requirements.txt's includes aside):
    /// an install whose fingerprint over them is unchanged is skipped.
    pub fn deciding_files(self) -> &'static [&'static str] {
        match self {
            Dependencies::None | Dependencies::Requirements => &[],
            Dependencies::Pyproject => &[PYPROJECT_TOML],
            Dependencies::UvLock => &[PYPROJECT_TOML, UV_LOCK],
            Dependencies::PoetryLock => &[PYPROJECT_TOML, POETRY_LOCK],
            Dependencies::PipfileLock => &[PIPFILE, PIPFILE_LOCK],
        }
    }

    /// Whether uv is the only installer that can install it.
    pub fn needs_uv(self) -> bool {
        matches!(self, Dependencies::Pyproject | Dependencies::UvLock)
    }
}

impl fmt::Display for Dependencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dependencies::None => f.write_str("no dependencies"),
            Dependencies::Pyproject => write!(f, "{PYPROJECT_TOML} (uv, not locked)"),
            other => write!(f, "{} ({})", other.file(), other.manager()),
        }
    }
}

/// The package managers' files, in the order they are listed.
const MANAGER_FILES: &[(Dependencies, &str)] = &[
    (Dependencies::Requirements, REQUIREMENTS_TXT),
    (Dependencies::UvLock, UV_LOCK),
    (Dependencies::PoetryLock, POETRY_LOCK),
    (Dependencies::PipfileLock, PIPFILE_LOCK),
];

/// What is said of a `PYTHON_PACKAGE_MANAGER` that names none.
pub fn not_a_manager(value: &str) -> String {
    format!("`{}` is not a package manager; expected {MANAGERS_EXPECTED}", crate::log::escape_invisible(value))
}

const MANAGERS_EXPECTED: &str =
    "`pip` (requirements.txt), `uv` (uv.lock), `poetry` (poetry.lock) or `pipenv` (Pipfile.lock)";

/// Finds how the app in `root` declares its dependencies.
pub fn detect(root: &Path, settings: &Settings) -> Result<Dependencies> {
    let exists = |name: &str| std::fs::symlink_metadata(root.join(name)).is_ok();
    let dependencies = match settings.get(PYTHON_PACKAGE_MANAGER) {
        Some(choice) => chosen(root, choice.trim(), &exists)?,
        None => {
            let mut found: Vec<(Dependencies, &str)> =
                MANAGER_FILES.iter().copied().filter(|(_, file)| exists(file)).collect();
            if exists(PIPFILE) && !exists(PIPFILE_LOCK) {
                found.push((Dependencies::PipfileLock, PIPFILE));
            }
            match found.as_slice() {
                [] => unlocked(root, &exists)?,
                [(dependencies, _)] => *dependencies,
                several => {
                    let names: Vec<String> = several.iter().map(|(_, file)| format!("`{file}`")).collect();
                    return Err(BuildError::Dependencies(format!(
                        "the app has files of several package managers: {}; keep one, or choose with the setting {PYTHON_PACKAGE_MANAGER} ({MANAGERS_EXPECTED})",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    check_companions(dependencies, &exists)?;
    Ok(dependencies)
}

/// What the app's files say that `dependencies` leaves out, as warnings for the log: dependencies
/// declared where the chosen manager does not look, package-source settings it does not read.
pub fn unused_declarations(root: &Path, dependencies: Dependencies, settings: &Settings) -> Vec<String> {
    let mut notes = Vec::new();
    if dependencies == Dependencies::Requirements {
        let declared = read_toml(root, PYPROJECT_TOML).ok().flatten().is_some_and(|pyproject| {
            let deps = pyproject.get("project").and_then(|p| p.get("dependencies")).and_then(|d| d.as_array());
            deps.is_some_and(|deps| !deps.is_empty())
        });
        let installs_project = crate::requirements::RequirementFiles::read(&root.join(REQUIREMENTS_TXT), root)
            .is_ok_and(|files| files.install_local_paths());
        if declared && !installs_project {
            notes.push(format!("pyproject.toml's `[project]` dependencies are not installed: {REQUIREMENTS_TXT} decides (add `.` to it to install the project and its dependencies)"));
        }
    }
    if dependencies == Dependencies::PoetryLock {
        let sources = crate::settings::PACKAGE_SOURCE_SETTINGS;
        let set: Vec<&str> = sources.iter().copied().filter(|key| settings.get(key).is_some()).collect();
        if !set.is_empty() {
            notes.push(format!("Poetry installs the app's packages from the sources its pyproject.toml names; {} apply only to installing Poetry itself", set.join(", ")));
        }
    }
    notes
}

/// What `PYTHON_PACKAGE_MANAGER` chooses, if its file is there.
fn chosen(root: &Path, choice: &str, exists: &dyn Fn(&str) -> bool) -> Result<Dependencies> {
    let missing = |file: &str, hint: &str| BuildError::InvalidSetting {
        key: PYTHON_PACKAGE_MANAGER.into(),
        message: format!("`{choice}` is chosen, but the app has no `{file}`{hint}"),
    };
    match choice.to_ascii_lowercase().as_str() {
        "pip" if exists(REQUIREMENTS_TXT) => Ok(Dependencies::Requirements),
        "pip" => Err(missing(REQUIREMENTS_TXT, "")),
        "uv" if exists(UV_LOCK) => Ok(Dependencies::UvLock),
        "uv" if exists(PYPROJECT_TOML) => match unlocked(root, exists)? {
            Dependencies::Pyproject => Ok(Dependencies::Pyproject),
            _ => Err(missing(UV_LOCK, " (and pyproject.toml has no `[project]` dependencies)")),
        },
        "uv" => Err(missing(UV_LOCK, "; run `uv lock` and commit it")),
        "poetry" if exists(POETRY_LOCK) => Ok(Dependencies::PoetryLock),
        "poetry" => Err(missing(POETRY_LOCK, "; run `poetry lock` and commit it")),
        "pipenv" if exists(PIPFILE_LOCK) => Ok(Dependencies::PipfileLock),
        "pipenv" => Err(missing(PIPFILE_LOCK, "; run `pipenv lock` and commit it")),
        _ => Err(BuildError::InvalidSetting { key: PYTHON_PACKAGE_MANAGER.into(), message: not_a_manager(choice) }),
    }
}

/// A lock's other half must be there: a Pipfile.lock without its Pipfile cannot be checked.
fn check_companions(dependencies: Dependencies, exists: &dyn Fn(&str) -> bool) -> Result<()> {
    let needs = match dependencies {
        Dependencies::UvLock | Dependencies::PoetryLock => PYPROJECT_TOML,
        Dependencies::PipfileLock => PIPFILE,
        _ => return Ok(()),
    };
    if !exists(dependencies.file()) {
        // Only a Pipfile: it has no lock to install from.
        return Err(BuildError::invalid_file(
            PIPFILE,
            None,
            "there is no Pipfile.lock beside it; run `pipenv lock` and commit Pipfile.lock (slipway installs the locked set)",
        ));
    }
    if !exists(needs) {
        return Err(BuildError::invalid_file(
            dependencies.file(),
            None,
            format!("there is no `{needs}` beside it; a lock is checked against the file it was made from"),
        ));
    }
    Ok(())
}

/// No lock and no requirements.txt: pyproject.toml's `[project]` dependencies, or nothing.
fn unlocked(root: &Path, exists: &dyn Fn(&str) -> bool) -> Result<Dependencies> {
    if let Some(pyproject) = read_toml(root, PYPROJECT_TOML)? {
        let declared = pyproject.get("project").and_then(|p| p.get("dependencies")).and_then(|d| d.as_array());
        if declared.is_some_and(|deps| !deps.is_empty()) {
            return Ok(Dependencies::Pyproject);
        }
        let poetry_deps = pyproject
            .get("tool")
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_table());
        if poetry_deps.is_some_and(|deps| deps.keys().any(|k| k != "python")) {
            return Err(BuildError::invalid_file(
                PYPROJECT_TOML,
                None,
                "`[tool.poetry.dependencies]` are declared but there is no poetry.lock; run `poetry lock` and commit poetry.lock",
            ));
        }
    }
    if let Some(setup) = SETUP_FILES.iter().find(|f| exists(f)) {
        return Err(BuildError::invalid_file(
            *setup,
            None,
            "slipway installs from requirements.txt, a lock file or pyproject.toml's `[project]` dependencies, not from setup.py/setup.cfg; add a requirements.txt containing `-e .` (or `.`) to install this package with its dependencies",
        ));
    }
    Ok(Dependencies::None)
}

/// A TOML file of the project, parsed; `None` when there is none.
fn read_toml(root: &Path, name: &str) -> Result<Option<toml::Table>> {
    let path = root.join(name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let real = crate::confine::inside(root, &path, name)?;
    let bytes =
        std::fs::read(&real).map_err(|e| BuildError::invalid_file(name, None, format!("cannot read it: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| BuildError::invalid_file(name, None, "the file is not UTF-8 text; expected TOML"))?;
    toml::from_str(&text).map(Some).map_err(|e| {
        let line = e.span().map(|span| text[..span.start].lines().count().max(1));
        let message = e.message().lines().next().unwrap_or("invalid TOML").to_string();
        BuildError::invalid_file(name, line, format!("{message}; expected valid TOML"))
    })
}

/// The Pythons a project says it runs on.
#[derive(Debug, Clone)]
pub struct RequiresPython {
    /// Where it is written: `requires-python in pyproject.toml`.
    pub origin: String,
    /// As written.
    pub text: String,
    specifiers: VersionSpecifiers,
}

impl RequiresPython {
    pub fn allows(&self, version: &PythonVersion) -> bool {
        Version::from_str(&version.to_string()).is_ok_and(|v| self.specifiers.contains(&v))
    }
}

impl fmt::Display for RequiresPython {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.text, self.origin)
    }
}

/// The project's Python requirement: pyproject.toml's `requires-python`, else Poetry's `python`
/// dependency, else the Pipfile's `[requires]`.
pub fn requires_python(root: &Path) -> Result<Option<RequiresPython>> {
    if let Some(pyproject) = read_toml(root, PYPROJECT_TOML)? {
        if let Some(text) = pyproject.get("project").and_then(|p| p.get("requires-python")).and_then(|v| v.as_str()) {
            return parse_requirement(text, text, "requires-python in pyproject.toml").map(Some);
        }
        let poetry_python = pyproject
            .get("tool")
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.get("python"))
            .and_then(|v| v.as_str());
        if let Some(text) = poetry_python {
            let origin = "`python` in pyproject.toml's [tool.poetry.dependencies]";
            return parse_requirement(text, &poetry::to_pep440(text), origin).map(Some);
        }
    }
    if let Some(pipfile) = read_toml(root, PIPFILE)? {
        let requires = pipfile.get("requires");
        let exact = requires.and_then(|r| r.get("python_full_version")).and_then(|v| v.as_str());
        let minor = requires.and_then(|r| r.get("python_version")).and_then(|v| v.as_str());
        if let Some(text) = exact {
            return parse_requirement(text, &format!("=={text}"), "python_full_version in Pipfile").map(Some);
        }
        if let Some(text) = minor {
            return parse_requirement(text, &format!("=={text}.*"), "python_version in Pipfile").map(Some);
        }
    }
    Ok(None)
}

fn parse_requirement(text: &str, pep440: &str, origin: &str) -> Result<RequiresPython> {
    let specifiers = VersionSpecifiers::from_str(pep440).map_err(|e| {
        BuildError::Dependencies(format!(
            "{origin}: `{}` is not a version requirement ({e}); expected e.g. `>=3.12`",
            crate::log::escape_invisible(text)
        ))
    })?;
    Ok(RequiresPython { origin: origin.to_string(), text: text.to_string(), specifiers })
}

/// What a `PROJECT` must be.
pub const FOLDER_EXPECTED: &str =
    "is not a folder inside the repository; expected a relative path such as `services/api`";

/// A `PROJECT` value as a path relative to the repository (empty for the repository itself), if it
/// is one: no `..`, not absolute.
pub fn parse_folder(value: &str) -> Option<&Path> {
    let relative = Path::new(value.trim().trim_start_matches("./"));
    let inside = relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    inside.then_some(relative)
}

/// The package managers `PYTHON_PACKAGE_MANAGER` may name.
pub const PACKAGE_MANAGERS: &[&str] = &["pip", "uv", "poetry", "pipenv"];

/// The folder of the checkout the app is in: the `PROJECT` setting, else `.deployment`'s
/// `project`, else the checkout itself.
pub fn folder(checkout: &Path, settings: &Settings, deployment_project: Option<&str>) -> Result<PathBuf> {
    let (value, origin) = match (settings.get(PROJECT), deployment_project) {
        (Some(value), _) => (value.trim(), format!("setting {PROJECT}")),
        (None, Some(value)) => (value.trim(), format!("{} `project`", crate::custom_script::DEPLOYMENT_FILE)),
        (None, None) => return Ok(checkout.to_path_buf()),
    };
    let invalid =
        |why: &str| BuildError::Dependencies(format!("{origin}: `{}` {why}", crate::log::escape_invisible(value)));
    let relative = parse_folder(value).ok_or_else(|| invalid(FOLDER_EXPECTED))?;
    if relative.as_os_str().is_empty() {
        return Ok(checkout.to_path_buf());
    }
    let real = crate::confine::real_path_inside(checkout, &checkout.join(relative)).ok_or_else(|| {
        invalid("leads outside the repository (through a symlink); expected a folder in the repository")
    })?;
    if !real.is_dir() {
        return Err(invalid(
            "is not a folder in the repository; expected the folder the app is in, such as `services/api`",
        ));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    fn detect_in(files: &[(&str, &str)], settings: &[(&str, &str)]) -> Result<Dependencies> {
        let dir = project(files);
        detect(dir.path(), &settings.iter().copied().collect())
    }

    const PYPROJECT: &str = "[project]\nname = \"app\"\nversion = \"1\"\ndependencies = [\"flask\"]\n";

    #[test]
    fn dependencies_the_chosen_manager_leaves_out_are_pointed_out() {
        let notes = |files: &[(&str, &str)], settings: &[(&str, &str)]| {
            let dir = project(files);
            let settings: Settings = settings.iter().copied().collect();
            unused_declarations(dir.path(), detect(dir.path(), &settings).unwrap(), &settings)
        };
        let both = notes(&[("requirements.txt", "six"), ("pyproject.toml", PYPROJECT)], &[]);
        assert!(both[0].starts_with("pyproject.toml's `[project]` dependencies are not installed"), "{both:?}");
        assert!(notes(&[("requirements.txt", "-e ."), ("pyproject.toml", PYPROJECT)], &[]).is_empty());
        let poetry = notes(&[("pyproject.toml", PYPROJECT), ("poetry.lock", "")], &[("PIP_FIND_LINKS", "/w")]);
        assert!(poetry[0].ends_with("PIP_FIND_LINKS apply only to installing Poetry itself"), "{poetry:?}");
        assert!(notes(&[("requirements.txt", "six")], &[("PIP_FIND_LINKS", "/w")]).is_empty());
    }

    #[test]
    fn each_manager_is_found_by_its_file() {
        assert_eq!(detect_in(&[("requirements.txt", "flask")], &[]).unwrap(), Dependencies::Requirements);
        assert_eq!(detect_in(&[("pyproject.toml", PYPROJECT), ("uv.lock", "")], &[]).unwrap(), Dependencies::UvLock);
        assert_eq!(
            detect_in(&[("pyproject.toml", PYPROJECT), ("poetry.lock", "")], &[]).unwrap(),
            Dependencies::PoetryLock
        );
        assert_eq!(detect_in(&[("Pipfile", ""), ("Pipfile.lock", "{}")], &[]).unwrap(), Dependencies::PipfileLock);
        assert_eq!(detect_in(&[("pyproject.toml", PYPROJECT)], &[]).unwrap(), Dependencies::Pyproject);
        assert_eq!(detect_in(&[("app.py", "")], &[]).unwrap(), Dependencies::None);
        assert_eq!(
            detect_in(&[("pyproject.toml", "[tool.ruff]\nline-length = 100\n")], &[]).unwrap(),
            Dependencies::None
        );
    }

    #[test]
    fn several_managers_are_named_unless_the_setting_chooses() {
        let files = [("requirements.txt", "flask"), ("pyproject.toml", PYPROJECT), ("uv.lock", "")];
        let err = detect_in(&files, &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "the app has files of several package managers: `requirements.txt`, `uv.lock`; keep one, or choose with the setting PYTHON_PACKAGE_MANAGER (`pip` (requirements.txt), `uv` (uv.lock), `poetry` (poetry.lock) or `pipenv` (Pipfile.lock))"
        );
        assert_eq!(detect_in(&files, &[(PYTHON_PACKAGE_MANAGER, "uv")]).unwrap(), Dependencies::UvLock);
        assert_eq!(detect_in(&files, &[(PYTHON_PACKAGE_MANAGER, "pip")]).unwrap(), Dependencies::Requirements);
        let err = detect_in(&files, &[(PYTHON_PACKAGE_MANAGER, "poetry")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "setting PYTHON_PACKAGE_MANAGER: `poetry` is chosen, but the app has no `poetry.lock`; run `poetry lock` and commit it"
        );
        let err = detect_in(&files, &[(PYTHON_PACKAGE_MANAGER, "conda")]).unwrap_err().to_string();
        assert!(err.starts_with("setting PYTHON_PACKAGE_MANAGER: `conda` is not a package manager"), "{err}");
    }

    #[test]
    fn files_that_cannot_be_installed_say_what_to_do() {
        let err = detect_in(&[("Pipfile", "[packages]\nflask = \"*\"\n"), ("app.py", "")], &[]).unwrap_err();
        assert!(err.to_string().starts_with("Pipfile: there is no Pipfile.lock beside it"), "{err}");
        let err = detect_in(&[("setup.py", "")], &[]).unwrap_err().to_string();
        assert!(err.starts_with("setup.py: slipway installs from requirements.txt") && err.contains("`-e .`"), "{err}");
        let err = detect_in(&[("uv.lock", "")], &[]).unwrap_err().to_string();
        assert!(err.starts_with("uv.lock: there is no `pyproject.toml` beside it"), "{err}");
        let poetry1 = "[tool.poetry]\nname = \"a\"\n[tool.poetry.dependencies]\npython = \"^3.12\"\nflask = \"*\"\n";
        let err = detect_in(&[("pyproject.toml", poetry1)], &[]).unwrap_err().to_string();
        assert!(err.contains("there is no poetry.lock"), "{err}");
        let err = detect_in(&[("pyproject.toml", "[project\nname=1")], &[]).unwrap_err().to_string();
        assert!(err.starts_with("pyproject.toml line 1: "), "{err}");
    }

    #[test]
    fn requires_python_comes_from_pyproject_poetry_or_pipfile() {
        let v = |s| PythonVersion::parse(s).unwrap();
        let dir = project(&[("pyproject.toml", "[project]\nname = \"a\"\nrequires-python = \">=3.12\"\n")]);
        let requires = requires_python(dir.path()).unwrap().unwrap();
        assert!(requires.allows(&v("3.12.1")) && requires.allows(&v("3.13.0")) && !requires.allows(&v("3.11.7")));
        assert_eq!(requires.to_string(), "`>=3.12` (requires-python in pyproject.toml)");

        let dir = project(&[("pyproject.toml", "[tool.poetry.dependencies]\npython = \"^3.11\"\n")]);
        let requires = requires_python(dir.path()).unwrap().unwrap();
        assert!(requires.allows(&v("3.11.7")) && requires.allows(&v("3.13.0")) && !requires.allows(&v("3.10.13")));

        let dir = project(&[("Pipfile", "[requires]\npython_version = \"3.12\"\n")]);
        let requires = requires_python(dir.path()).unwrap().unwrap();
        assert!(requires.allows(&v("3.12.1")) && !requires.allows(&v("3.13.0")));

        let dir = project(&[("pyproject.toml", "[project]\nrequires-python = \">=three\"\n")]);
        let err = requires_python(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("requires-python in pyproject.toml: `>=three` is not a version requirement"), "{err}");
        assert!(requires_python(project(&[]).path()).unwrap().is_none());
    }

    #[test]
    fn the_project_folder_must_be_a_folder_inside_the_checkout() {
        let dir = project(&[("services/api/app.py", "")]);
        let checkout = dir.path().canonicalize().unwrap();
        let with = |value: &str| folder(&checkout, &[(PROJECT, value)].into_iter().collect(), None);
        assert_eq!(with("services/api").unwrap(), checkout.join("services/api"));
        assert_eq!(with("./services/api/").unwrap(), checkout.join("services/api"));
        assert_eq!(with(".").unwrap(), checkout);
        assert_eq!(
            with("services/web").unwrap_err().to_string(),
            "setting PROJECT: `services/web` is not a folder in the repository; expected the folder the app is in, such as `services/api`"
        );
        assert!(with("../x").unwrap_err().to_string().contains("is not a folder inside the repository"));
        assert!(with("/etc").is_err());
        let from_file = folder(&checkout, &Settings::new(), Some("services/api")).unwrap();
        assert_eq!(from_file, checkout.join("services/api"));
        let setting_wins = folder(&checkout, &[(PROJECT, ".")].into_iter().collect(), Some("services/api"));
        assert_eq!(setting_wins.unwrap(), checkout);
    }
}
