//! Package managers slipway runs but never puts into env: Poetry and Pipenv. Each is pinned and
//! lives in a virtual environment of its own under the tools folder (the app's cache on a
//! server), installed by the build's installer from the app's package sources, and reused while
//! its marker says it is complete.

use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::installer::{Installer, Lock};
use crate::log::BuildLog;
use crate::runtime::Runtime;
use crate::settings::{PackageSources, Settings};
use crate::Result;

/// A pinned tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

pub const POETRY: Tool = Tool { name: "poetry", version: "2.5.1" };
pub const PIPENV: Tool = Tool { name: "pipenv", version: "2026.10.3" };

/// The variable that tells `slipway build install` (in a custom deployment script) where the
/// tools live.
pub const TOOLS_DIR_VAR: &str = "SLIPWAY_TOOLS_DIR";

/// Written into a tool's environment once the tool is installed.
const MARKER: &str = "slipway-tool.json";

/// What installing a tool needs.
pub struct ToolShed<'a> {
    /// Where tools live, one folder per tool, version and Python.
    pub dir: &'a Path,
    /// The Python the tool runs on.
    pub runtime: &'a Runtime,
    pub installer: &'a Installer,
    pub sources: &'a PackageSources,
    pub settings: &'a Settings,
    pub log: &'a BuildLog,
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

impl Tool {
    /// The tool's executable, installing the tool first if it is not complete yet.
    pub fn ensure(&self, shed: &ToolShed) -> Result<PathBuf> {
        let folder = format!("{}-{}-py{}", self.name, self.version, shed.runtime.version.major_minor());
        let home = shed.dir.join(&folder);
        let exe = home.join("bin").join(self.name);
        // Builds that run at once (`slipway build` in two terminals) take turns.
        std::fs::create_dir_all(shed.dir).at("create directory", shed.dir)?;
        let lock_path = shed.dir.join(format!(".{folder}.lock"));
        let lock = std::fs::File::create(&lock_path).at("create", &lock_path)?;
        lock.lock().at("lock", &lock_path)?;
        if home.join(MARKER).is_file() && exe.is_file() {
            shed.log.info(format!("Using {self} (a tool environment of its own, not env)."));
            return Ok(exe);
        }
        shed.log.info(format!("Installing {self} into a tool environment of its own (not env)."));
        // A half-made one (a crash, a failed install) is started again: venvs cannot be moved into
        // place, so the environment is made where it stays and marked complete last.
        crate::env::remove_path(&home)?;
        shed.installer.create_venv(shed.runtime, &home, shed.log)?;
        let pin = tempfile::NamedTempFile::new_in(shed.dir).at("create a temporary file in", shed.dir)?;
        std::fs::write(pin.path(), format!("{}=={}\n", self.name, self.version)).at("write", pin.path())?;
        let packages = vec![self.name.to_string()];
        let lock = Lock { path: pin.path().to_path_buf(), hashed: None, packages, local_code: false };
        shed.installer.install(&home, &lock, shed.dir, shed.sources, shed.settings, shed.log)?;
        let marker = serde_json::json!({ "name": self.name, "version": self.version });
        std::fs::write(home.join(MARKER), marker.to_string()).at("write", home.join(MARKER))?;
        Ok(exe)
    }
}
