//! The `.deployment` file (INI, Kudu's format) in the repository root:
//!
//! ```ini
//! [config]
//! command = deploy.sh
//! project = services/api
//! ```
//!
//! `command` replaces the default build with that command, run from the checkout with the
//! deployment's variables; `project` names the folder of the repository the app is in (the
//! `PROJECT` setting overrides it). [`default_script`] prints the default build as such a
//! script, made of `slipway build <step>` commands, for users to start from.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::log::BuildLog;
use crate::process::run_logged;
use crate::settings::Settings;
use crate::{BuildError, Result};

pub const DEPLOYMENT_FILE: &str = ".deployment";

const EXPECTED: &str = "expected a `[config]` section with `command = deploy.sh` or `project = path/to/app`";

/// What a `.deployment` file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFile {
    /// The custom deployment script, if `command` is given.
    pub script: Option<CustomScript>,
    /// The app's folder in the repository, if `project` is given.
    pub project: Option<String>,
}

/// The command a `.deployment` file names, resolved against the checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomScript {
    /// As written in `.deployment`.
    pub command: String,
    /// Program and arguments to execute.
    pub argv: Vec<String>,
    /// The script file inside the repository (relative), which sync does not copy.
    pub script_file: Option<PathBuf>,
}

/// Reads `.deployment` from the checkout; an empty one when there is none.
pub fn read(source: &Path) -> Result<DeploymentFile> {
    let path = source.join(DEPLOYMENT_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(DeploymentFile::default());
    }
    let path = crate::confine::inside(source, &path, DEPLOYMENT_FILE)?;
    let text = std::fs::read(&path).map_err(|e| BuildError::io("cannot read", &path, e))?;
    let text = String::from_utf8(text).map_err(|_| {
        BuildError::invalid_file(DEPLOYMENT_FILE, None, format!("the file is not UTF-8 text; {EXPECTED}"))
    })?;
    parse(&text, source)
}

pub fn parse(text: &str, source: &Path) -> Result<DeploymentFile> {
    let invalid = |line, message: String| BuildError::invalid_file(DEPLOYMENT_FILE, line, message);
    let ini = ini::Ini::load_from_str(text).map_err(|e| invalid(Some(e.line), format!("{}; {EXPECTED}", e.msg)))?;
    let config =
        ini.section(Some("config")).ok_or_else(|| invalid(None, format!("no `[config]` section; {EXPECTED}")))?;
    let value = |key| config.get(key).map(str::trim).filter(|v| !v.is_empty());
    let (command, project) = (value("command"), value("project"));
    if command.is_none() && project.is_none() {
        return Err(invalid(None, format!("`[config]` has neither `command` nor `project`; {EXPECTED}")));
    }
    let script = command
        .map(|command| {
            let words = shell_words::split(command)
                .map_err(|e| invalid(None, format!("`command = {command}` cannot be split into words: {e}")))?;
            resolve(command, words, source)
        })
        .transpose()?;
    Ok(DeploymentFile { script, project: project.map(String::from) })
}

/// Finds what to execute: a `.sh` file in the repository runs with bash, another repository file
/// runs directly (it must be executable), otherwise the program is looked up on PATH.
fn resolve(command: &str, words: Vec<String>, source: &Path) -> Result<CustomScript> {
    let not_found = || {
        BuildError::invalid_file(
            DEPLOYMENT_FILE,
            None,
            format!("`command = {command}`: `{}` is neither a file in the repository nor a program on PATH", words[0]),
        )
    };
    let script_file = words.iter().map(PathBuf::from).find(|w| w.is_relative() && source.join(w).is_file());
    let program = &words[0];
    let in_repo = source.join(program);
    // `command = ../../bin/true` or a link out of the repository: not the repository's to run.
    if (program.contains('/') || in_repo.exists()) && crate::confine::real_path_inside(source, &in_repo).is_none() {
        return Err(BuildError::invalid_file(
            DEPLOYMENT_FILE,
            None,
            format!("`command = {command}`: {}", crate::confine::outside_message(program)),
        ));
    }
    let argv = if in_repo.is_file() {
        if program.ends_with(".sh") {
            std::iter::once("bash".to_string()).chain(words.iter().cloned()).collect()
        } else if is_executable(&in_repo) {
            std::iter::once(in_repo.to_string_lossy().into_owned()).chain(words[1..].iter().cloned()).collect()
        } else {
            return Err(BuildError::invalid_file(
                DEPLOYMENT_FILE,
                None,
                format!("`command = {command}`: `{program}` is not executable; mark it executable (`git update-index --chmod=+x {program}`) or use a `.sh` script"),
            ));
        }
    } else if program.contains('/') || find_on_path(program).is_none() {
        return Err(not_found());
    } else {
        words.clone()
    };
    Ok(CustomScript { command: command.to_string(), argv, script_file })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| is_executable(p))
}

/// The variables a custom script gets besides the app settings.
#[derive(Debug, Clone)]
pub struct ScriptVariables {
    /// The repository checkout, where the command runs.
    pub checkout: PathBuf,
    /// The app's folder in it (`PROJECT`): `DEPLOYMENT_SOURCE`.
    pub source: PathBuf,
    pub target: PathBuf,
    pub temp: PathBuf,
    pub previous_manifest: PathBuf,
    pub next_manifest: PathBuf,
    pub python: Option<PathBuf>,
    pub python_version: Option<String>,
    pub env: PathBuf,
    pub clean_env: bool,
    /// The package manager the default build would use (`pip`, `uv`, `poetry`, `pipenv`, `none`),
    /// empty when the app's files leave it unclear.
    pub package_manager: String,
    /// Where `slipway build install` keeps Poetry and Pipenv.
    pub tools_dir: PathBuf,
    /// Directory of the `slipway` executable, put first on PATH so `slipway build <step>` works.
    pub slipway_dir: Option<PathBuf>,
}

impl ScriptVariables {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            ("DEPLOYMENT_SOURCE", path(&self.source)),
            ("DEPLOYMENT_TARGET", path(&self.target)),
            ("DEPLOYMENT_TEMP", path(&self.temp)),
            ("PREVIOUS_MANIFEST_PATH", path(&self.previous_manifest)),
            ("NEXT_MANIFEST_PATH", path(&self.next_manifest)),
            ("PYTHON", self.python.as_deref().map(path).unwrap_or_default()),
            ("PYTHON_VERSION", self.python_version.clone().unwrap_or_default()),
            ("SLIPWAY_ENV", path(&self.env)),
            ("SLIPWAY_CLEAN_ENV", if self.clean_env { "1" } else { "0" }.to_string()),
            ("SLIPWAY_PACKAGE_MANAGER", self.package_manager.clone()),
            (crate::tools::TOOLS_DIR_VAR, path(&self.tools_dir)),
        ]
    }
}

/// Runs the custom script from the checkout; its output streams into the log.
pub fn run(script: &CustomScript, vars: &ScriptVariables, settings: &Settings, log: &BuildLog) -> Result<()> {
    log.info(format!("Running custom deployment script `{}` (from {DEPLOYMENT_FILE})", script.command));
    let mut command = Command::new(&script.argv[0]);
    command.args(&script.argv[1..]).current_dir(&vars.checkout).envs(settings.iter()).envs(vars.pairs());
    if let Some(dir) = &vars.slipway_dir {
        let mut paths = vec![dir.clone()];
        paths.extend(
            std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default(),
        );
        command.env("PATH", std::env::join_paths(paths).unwrap_or_default());
    }
    run_logged(&format!("custom deployment script `{}`", script.command), &mut command, log)
}

/// The default build as a custom deployment script.
pub fn default_script() -> &'static str {
    include_str!("default-deploy.sh")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str, u32)]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (name, content, mode) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        dir
    }

    #[test]
    fn sh_scripts_run_with_bash_and_are_not_copied() {
        let dir = repo(&[("deploy.sh", "echo hi", 0o644)]);
        let script = parse("[config]\ncommand = deploy.sh\n", dir.path()).unwrap().script.unwrap();
        assert_eq!(script.argv, ["bash", "deploy.sh"]);
        assert_eq!(script.script_file, Some(PathBuf::from("deploy.sh")));
    }

    #[test]
    fn programs_on_path_take_arguments_and_repo_files_among_them_are_the_script() {
        let dir = repo(&[("build.py", "print(1)", 0o644)]);
        let script = parse("[config]\ncommand = sh -c 'true' build.py\n", dir.path()).unwrap().script.unwrap();
        assert_eq!(script.argv, ["sh", "-c", "true", "build.py"]);
        assert_eq!(script.script_file, Some(PathBuf::from("build.py")));
    }

    #[test]
    fn non_executable_scripts_and_missing_commands_are_named() {
        let dir = repo(&[("deploy.py", "print(1)", 0o644)]);
        let err = parse("[config]\ncommand = deploy.py\n", dir.path()).unwrap_err().to_string();
        assert!(err.starts_with(".deployment: `command = deploy.py`: `deploy.py` is not executable"), "{err}");
        let err = parse("[config]\ncommand = nosuch.sh\n", dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            ".deployment: `command = nosuch.sh`: `nosuch.sh` is neither a file in the repository nor a program on PATH"
        );
    }

    #[test]
    fn missing_config_section_or_command_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = parse("command = deploy.sh\n", dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            ".deployment: no `[config]` section; expected a `[config]` section with `command = deploy.sh` or `project = path/to/app`"
        );
        let err = parse("[config]\nSCM_DO_BUILD_DURING_DEPLOYMENT = true\n", dir.path()).unwrap_err().to_string();
        assert!(err.contains("has neither `command` nor `project`"), "{err}");
        let file = parse("[config]\nproject = services/api\n", dir.path()).unwrap();
        assert_eq!(file, DeploymentFile { script: None, project: Some("services/api".into()) });
    }

    #[test]
    fn default_script_is_made_of_build_steps() {
        let script = default_script();
        for step in ["slipway build sync", "slipway build env", "slipway build install", "slipway build collectstatic"]
        {
            assert!(script.contains(step), "missing {step}");
        }
    }
}
