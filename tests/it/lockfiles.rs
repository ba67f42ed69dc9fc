//! Making real lock files in test set-up, with the real tools: uv, Poetry and Pipenv from the
//! wheelhouse, and the wheelhouse served as a package index (`../shared/tools/wheelhouse-index.py`)
//! for the tools that cannot read a folder of wheels.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::support::{repo_root, uv, wheelhouse};

/// The wheelhouse as a PEP 503 index on a free loopback port, stopped when dropped.
pub struct WheelIndex {
    child: Child,
    pub url: String,
}

impl WheelIndex {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Behind HTTP basic auth: a private index.
    pub fn private(user: &str, password: &str) -> Self {
        Self::start_with(&["--user", user, "--password", password])
    }

    fn start_with(extra: &[&str]) -> Self {
        let script = repo_root().join("../shared/tools/wheelhouse-index.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--dir"])
            .arg(wheelhouse())
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start wheelhouse-index.py");
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).expect("read the index URL");
        let url = first.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "wheelhouse-index.py said: {url}");
        WheelIndex { child, url }
    }
}

impl Drop for WheelIndex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pyenv interpreter of a minor version (`3.12`), if this machine has one.
pub fn pyenv_python(minor: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".pyenv"));
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{minor}.")))
        .collect();
    versions.sort();
    versions.pop().map(|v| v.join("bin/python")).filter(|p| p.exists())
}

/// A tool (Poetry, Pipenv) installed once per test run from the wheelhouse, for making lock files.
fn test_tool(name: &'static str, version: &'static str, cell: &'static OnceLock<PathBuf>) -> &'static Path {
    cell.get_or_init(|| {
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("test-tools/{name}-{version}"));
        let exe = home.join("bin").join(name);
        let done = home.join("complete");
        std::fs::create_dir_all(home.parent().unwrap()).unwrap();
        // Another test run may be installing it too.
        let lock = std::fs::File::create(home.with_extension("lock")).expect("create the tool's lock file");
        lock.lock().unwrap();
        if !done.exists() {
            let _ = std::fs::remove_dir_all(&home);
            let python = pyenv_python("3.12").expect("pyenv 3.12");
            run(Command::new(uv()).args(["venv", "-q", "--no-project", "--python"]).arg(&python).arg(&home));
            run(Command::new(uv())
                .args(["pip", "install", "-q", "--no-index", "--find-links"])
                .arg(wheelhouse())
                .arg("--python")
                .arg(home.join("bin/python"))
                .arg(format!("{name}=={version}")));
            std::fs::write(&done, "").unwrap();
        }
        exe
    })
}

pub fn poetry() -> &'static Path {
    static POETRY: OnceLock<PathBuf> = OnceLock::new();
    test_tool("poetry", "2.5.1", &POETRY)
}

pub fn pipenv() -> &'static Path {
    static PIPENV: OnceLock<PathBuf> = OnceLock::new();
    test_tool("pipenv", "2026.10.3", &PIPENV)
}

fn run(command: &mut Command) -> String {
    let out = command.env("UV_PYTHON_DOWNLOADS", "never").output().expect("run a tool");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `uv lock` in `dir`, against the wheelhouse as a folder of wheels (as the builds install).
pub fn uv_lock(dir: &Path) {
    let python = pyenv_python("3.12").expect("pyenv 3.12");
    run(Command::new(uv())
        .args(["lock", "-q", "--no-index", "--find-links"])
        .arg(wheelhouse())
        .arg("--python")
        .arg(python)
        .current_dir(dir));
}

/// `poetry lock` in `dir`, whose pyproject.toml names its sources; `credentials` for a private one
/// (`POETRY_HTTP_BASIC_<SOURCE>_USERNAME`/`_PASSWORD`).
pub fn poetry_lock(dir: &Path, credentials: &[(&str, &str)]) {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    run(Command::new(poetry())
        .args(["lock", "--no-interaction", "--no-ansi"])
        .env("POETRY_CACHE_DIR", home.join("cache"))
        .env("POETRY_CONFIG_DIR", home.join("config"))
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .envs(credentials.iter().copied())
        .current_dir(dir));
}

/// `pipenv lock` in `dir`, whose Pipfile names its source, for Python 3.12.
pub fn pipenv_lock(dir: &Path) {
    let python = pyenv_python("3.12").expect("pyenv 3.12");
    let workon = tempfile::tempdir().unwrap();
    run(Command::new(pipenv())
        .args(["lock", "--python"])
        .arg(python)
        .env("WORKON_HOME", workon.path())
        .env("PIPENV_VERBOSITY", "-1")
        .env("PIPENV_NOSPIN", "1")
        .env("PIPENV_YES", "1")
        .current_dir(dir));
}

/// A pyproject.toml of a uv or PEP 621 project.
pub fn pyproject(dependencies: &[&str], extra: &str) -> String {
    let deps: Vec<String> = dependencies.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [{}]\n{extra}",
        deps.join(", ")
    )
}

/// A pyproject.toml of a Poetry project (no package of its own) whose packages come from `index`,
/// named `source`.
pub fn poetry_pyproject(dependencies: &[&str], dev: &[&str], source: &str, index: &str) -> String {
    let deps: Vec<String> = dependencies.iter().map(|d| format!("\"{d}\"")).collect();
    let dev: String = dev.iter().map(|d| format!("{d} = \"*\"\n")).collect();
    format!(
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [{}]\n\n\
         [tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\nname = \"{source}\"\nurl = \"{index}\"\npriority = \"primary\"\n\n\
         [tool.poetry.group.dev.dependencies]\n{dev}",
        deps.join(", ")
    )
}

/// A Pipfile whose packages come from `index`, for Python 3.12.
pub fn pipfile(packages: &[&str], dev: &[&str], index: &str) -> String {
    let line = |p: &&str| format!("{p} = \"*\"\n");
    format!(
        "[[source]]\nurl = \"{index}\"\nverify_ssl = false\nname = \"local\"\n\n[packages]\n{}\n[dev-packages]\n{}\n[requires]\npython_version = \"3.12\"\n",
        packages.iter().map(line).collect::<String>(),
        dev.iter().map(line).collect::<String>()
    )
}
