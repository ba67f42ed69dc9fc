//! The harness: a temporary project (a source checkout and a target wwwroot) and the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const FLASK_APP: &str =
    "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/')\ndef hello():\n    return 'hello'\n";

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn wheelhouse() -> PathBuf {
    std::env::var_os("SLIPWAY_WHEELHOUSE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/wheelhouse"))
}

pub fn uv() -> PathBuf {
    let uv = repo_root().join(".tools/bin/uv");
    assert!(uv.exists(), "uv is not installed at {}: run ./scripts/setup.sh", uv.display());
    uv
}

/// One test's world: `src/` (the checkout), `site/wwwroot` (the target), and the environment
/// `slipway build` runs with.
pub struct Project {
    pub dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn success(&self) -> bool {
        self.output.status.success()
    }
    /// The build log (stderr), where every step writes.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    /// The one-line reason a failed command ends with.
    pub fn error_line(&self) -> String {
        let log = self.log();
        let last = log.lines().last().unwrap_or_default().to_string();
        assert!(last.starts_with("error: "), "last line is not an error: {last}\n--- log ---\n{log}");
        last
    }
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("slipway-it-").tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        Project { dir, envs: Vec::new() }
    }

    pub fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }

    pub fn target(&self) -> PathBuf {
        self.dir.path().join("site/wwwroot")
    }

    pub fn env_dir(&self) -> PathBuf {
        self.target().join("env")
    }

    /// Writes a file into the checkout, creating directories.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.src().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.src().join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
        self
    }

    /// An app setting, given to `slipway build` as an environment variable.
    pub fn setting(&mut self, key: &str, value: &str) -> &mut Self {
        self.envs.retain(|(k, _)| k != key);
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn slipway(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("SLIPWAY_UV", uv())
            .env("SLIPWAY_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("slipway-cache"))
            .env("PIP_FIND_LINKS", wheelhouse())
            .env("PIP_NO_INDEX", "1");
        for key in [
            "PYTHON_VERSION",
            "PYTHON_INSTALLER",
            "DISABLE_COLLECTSTATIC",
            "SCM_DO_BUILD_DURING_DEPLOYMENT",
            "VIRTUAL_ENV",
        ] {
            command.env_remove(key);
        }
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run { output: self.slipway(args).output().expect("run slipway") }
    }

    /// `slipway build --source src --target site/wwwroot` plus `extra`.
    pub fn build(&self, extra: &[&str]) -> Run {
        let (src, target) = (self.src(), self.target());
        let mut args = vec!["build", "--source", src.to_str().unwrap(), "--target", target.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn build_ok(&self, extra: &[&str]) -> String {
        let run = self.build(extra);
        assert!(run.success(), "build failed:\n{}", run.log());
        run.log()
    }

    pub fn build_fails(&self, extra: &[&str]) -> Run {
        let run = self.build(extra);
        assert!(!run.success(), "build unexpectedly succeeded:\n{}", run.log());
        run
    }

    pub fn marker(&self) -> Value {
        let text = std::fs::read_to_string(self.env_dir().join("slipway-env.json")).expect("env has a marker");
        serde_json::from_str(&text).unwrap()
    }

    /// Runs Python code with env's interpreter; returns its stdout, trimmed.
    pub fn env_python(&self, code: &str) -> Result<String, String> {
        let out = Command::new(self.env_dir().join("bin/python")).args(["-c", code]).output().expect("run env python");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn importable(&self, module: &str) -> bool {
        self.env_python(&format!("import {module}")).is_ok()
    }

    pub fn target_file(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.target().join(rel)).ok()
    }
}

/// A Flask app on the given Python, with `requirements` as its requirements.txt.
pub fn flask_project(python: &str, requirements: &str) -> Project {
    let project = Project::new();
    project
        .write("app.py", FLASK_APP)
        .write("runtime.txt", format!("python-{python}\n"))
        .write("requirements.txt", requirements);
    project
}
