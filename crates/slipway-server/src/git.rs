//! The app's bare repository, driven with the real `git` binary: creating it with slipway's
//! pre-receive hook, reading a commit's author and message, and checking a commit out.
//!
//! During a push the new objects are in git's quarantine directory, visible only to processes
//! given the hook's object-directory variables; [`ObjectAccess`] carries them from the hook.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The environment a git process needs to see a push's quarantined objects.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ObjectAccess {
    pub object_directory: Option<String>,
    pub alternate_object_directories: Option<String>,
}

impl ObjectAccess {
    fn apply(&self, command: &mut Command) {
        if let Some(dir) = &self.object_directory {
            command.env("GIT_OBJECT_DIRECTORY", dir);
        }
        if let Some(dirs) = &self.alternate_object_directories {
            command.env("GIT_ALTERNATE_OBJECT_DIRECTORIES", dirs);
        }
    }
}

fn git(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command.arg("--git-dir").arg(repo).env_remove("GIT_DIR").env_remove("GIT_WORK_TREE").stdin(Stdio::null());
    command
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<String> {
    let output = command.output().with_context(|| format!("run git to {what}"))?;
    if !output.status.success() {
        bail!("git failed to {what}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Creates the bare repository with `main` as its default branch, push options enabled and the
/// pre-receive hook that hands deployments to the server.
pub fn init_repository(repo: &Path, slipway_exe: &Path) -> anyhow::Result<()> {
    run(
        Command::new("git").args(["init", "--quiet", "--bare", "--initial-branch=main"]).arg(repo),
        "create the repository",
    )?;
    for (key, value) in
        [("receive.advertisePushOptions", "true"), ("http.receivepack", "true"), ("receive.keepAlive", "5")]
    {
        run(git(repo).args(["config", key, value]), "configure the repository")?;
    }
    install_hook(repo, slipway_exe)
}

/// (Re)writes the pre-receive hook; done at every start so it follows the binary if it moves.
pub fn install_hook(repo: &Path, slipway_exe: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let hook = repo.join("hooks/pre-receive");
    let exe = slipway_exe.to_string_lossy().replace('\'', r"'\''");
    std::fs::write(&hook, format!("#!/bin/sh\nexec '{exe}' hook pre-receive\n"))
        .with_context(|| format!("write {}", hook.display()))?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    pub author: String,
    pub message: String,
}

pub fn commit_info(repo: &Path, commit: &str, access: &ObjectAccess) -> anyhow::Result<CommitInfo> {
    let mut command = git(repo);
    command.args(["log", "-1", "--format=%an <%ae>%x00%s", commit, "--"]);
    access.apply(&mut command);
    let out = run(&mut command, "read the commit")?;
    let (author, message) = out.trim_end().split_once('\0').unwrap_or((out.trim_end(), ""));
    Ok(CommitInfo { author: author.to_string(), message: message.to_string() })
}

/// Writes the tree of `commit` into `dir` (which must not exist), as `git archive | tar -x`.
pub fn checkout(repo: &Path, commit: &str, dir: &Path, access: &ObjectAccess) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut archive = git(repo);
    archive.args(["archive", "--format=tar", commit]).stdout(Stdio::piped()).stderr(Stdio::piped());
    access.apply(&mut archive);
    let mut archive = archive.spawn().context("run git archive")?;
    let stdout = archive.stdout.take().expect("piped");
    let untar = Command::new("tar")
        .args(["-x", "-f", "-", "-C"])
        .arg(dir)
        .stdin(stdout)
        .output()
        .context("run tar to unpack the checkout")?;
    let archived = archive.wait_with_output()?;
    if !archived.status.success() {
        bail!("git archive of {commit} failed: {}", String::from_utf8_lossy(&archived.stderr).trim());
    }
    if !untar.status.success() {
        bail!("unpacking {commit} failed: {}", String::from_utf8_lossy(&untar.stderr).trim());
    }
    Ok(())
}

/// A temporary checkout, deleted when dropped.
pub struct Checkout {
    pub dir: PathBuf,
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
