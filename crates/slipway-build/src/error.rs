//! The engine's error type. Every variant names the file, setting or command at fault and what was
//! expected, so that its `Display` is the one-line reason a failed deployment ends with.

use std::path::{Path, PathBuf};

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{action} `{}`: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },

    /// A file the user wrote (runtime.txt, .python-version, requirements.txt, .deployment) is malformed.
    #[error("{file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    InvalidFile { file: String, line: Option<usize>, message: String },

    /// An app setting has a value slipway cannot use.
    #[error("setting {key}: {message}")]
    InvalidSetting { key: String, message: String },

    #[error("Python {requested} (from {source_name}) is not available; runtimes found: {available}")]
    NoMatchingRuntime { requested: String, source_name: String, available: String },

    #[error("no Python runtime found (looked on PATH for python3.X and in $PYENV_ROOT/versions); install one or pass --python PATH")]
    NoRuntimes,

    #[error("{0}")]
    InvalidPaths(String),

    #[error("{what} failed ({status}); its output is in the log above")]
    CommandFailed { what: String, status: String },

    #[error("cannot run {what} (`{program}`): {source}")]
    CommandSpawn { what: String, program: String, source: std::io::Error },

    #[error("{0}")]
    Installer(String),

    /// The commit would overwrite files the app or a user made.
    #[error("{0}")]
    AppFiles(String),

    /// How the app declares its dependencies is unclear or cannot be installed.
    #[error("{0}")]
    Dependencies(String),

    /// The Python version chosen cannot be deployed: it is past its end of life, or the project
    /// says it does not run on it.
    #[error("{0}")]
    PythonVersion(String),

    /// Stopped from outside: by the operator, or a timeout.
    #[error("{0}")]
    Cancelled(String),

    #[error("the repository has no Python files (no requirements.txt, pyproject.toml, uv.lock, poetry.lock, Pipfile or .py file); expected a Python web app, or a `.skipPythonDeployment` file to deploy the files as they are")]
    NotAPythonApp,
}

impl BuildError {
    pub fn io(action: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        BuildError::Io { action, path: path.as_ref().to_path_buf(), source }
    }

    pub fn invalid_file(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        BuildError::InvalidFile { file: file.into(), line, message: message.into() }
    }
}

/// Adds `BuildError::Io` context to `std::io::Result`s.
pub trait IoContext<T> {
    fn at(self, action: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| BuildError::io(action, path, e))
    }
}
