//! The app's bare repository, driven with the real `git` binary: creating it with slipway's
//! pre-receive hook, reading a commit's author and message, and checking a commit out.
//! [`hook`] is the pre-receive hook itself, both its side in git's process and the server's.
//!
//! During a push the new objects are in git's quarantine directory, visible only to processes
//! given the hook's object-directory variables; [`ObjectAccess`] carries them from the hook.

pub mod hook;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run {program} to {what}: {source}")]
    Spawn { program: &'static str, what: String, source: std::io::Error },
    #[error("git failed to {what}: {stderr}")]
    Failed { what: String, stderr: String },
    #[error("{action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

pub type GitResult<T> = Result<T, GitError>;

/// What git calls a ref that does not exist, in a push's old or new value.
pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

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

fn run(command: &mut Command, what: &str) -> GitResult<String> {
    let output =
        command.output().map_err(|source| GitError::Spawn { program: "git", what: what.to_string(), source })?;
    if !output.status.success() {
        return Err(failed(what, &output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn failed(what: &str, stderr: &[u8]) -> GitError {
    GitError::Failed { what: what.to_string(), stderr: String::from_utf8_lossy(stderr).trim().to_string() }
}

/// Creates the bare repository with `main` as its default branch and push options enabled. Its
/// hooks are slipway's, from [`install_hook`]'s folder (given to `git http-backend` as
/// `core.hooksPath`), not the repository's own `hooks/`.
pub fn init_repository(repo: &Path) -> GitResult<()> {
    run(
        Command::new("git").args(["init", "--quiet", "--bare", "--initial-branch=main"]).arg(repo),
        "create the repository",
    )?;
    for (key, value) in
        [("receive.advertisePushOptions", "true"), ("http.receivepack", "true"), ("receive.keepAlive", "5")]
    {
        run(git(repo).args(["config", key, value]), "configure the repository")?;
    }
    Ok(())
}

/// Writes the pre-receive hook that hands deployments to the server into `hooks` (done at every
/// start, so it follows the binary if it moves).
pub fn install_hook(hooks: &Path, slipway_exe: &Path) -> GitResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| GitError::Io { action, path, source }
    };
    std::fs::create_dir_all(hooks).map_err(io("create", hooks))?;
    let hook = hooks.join("pre-receive");
    let exe = slipway_exe.to_string_lossy().replace('\'', r"'\''");
    std::fs::write(&hook, format!("#!/bin/sh\nexec '{exe}' hook pre-receive\n")).map_err(io("write", &hook))?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).map_err(io("make executable", &hook))
}

/// `git http-backend`'s environment for slipway's hooks: configuration from the environment
/// outranks the repository's own, so a `core.hooksPath` written into a repository is overridden.
pub fn hooks_env(hooks: &Path) -> [(&'static str, std::ffi::OsString); 3] {
    [
        ("GIT_CONFIG_COUNT", "1".into()),
        ("GIT_CONFIG_KEY_0", "core.hooksPath".into()),
        ("GIT_CONFIG_VALUE_0", hooks.as_os_str().to_os_string()),
    ]
}

#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    pub author: String,
    pub message: String,
}

pub fn commit_info(repo: &Path, commit: &str, access: &ObjectAccess) -> GitResult<CommitInfo> {
    let mut command = git(repo);
    command.args(["log", "-1", "--format=%an <%ae>%x00%s", commit, "--"]);
    access.apply(&mut command);
    let out = run(&mut command, "read the commit")?;
    let (author, message) = out.trim_end().split_once('\0').unwrap_or((out.trim_end(), ""));
    Ok(CommitInfo { author: author.to_string(), message: message.to_string() })
}

/// The commit a ref points to (outside any push's quarantine); `None` if the ref does not exist.
pub fn ref_value(repo: &Path, name: &str) -> GitResult<Option<String>> {
    let output = git(repo)
        .args(["rev-parse", "--verify", "--quiet", &format!("{name}^{{commit}}")])
        .output()
        .map_err(|source| GitError::Spawn { program: "git", what: format!("read {name}"), source })?;
    match output.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&output.stdout).trim().to_string())),
        Some(1) => Ok(None),
        _ => Err(failed(&format!("read {name}"), &output.stderr)),
    }
}

/// Who a commit slipway makes is by (zipdeploy): `slipway <zipdeploy@slipway>`.
const SLIPWAY_AUTHOR: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "slipway"),
    ("GIT_AUTHOR_EMAIL", "zipdeploy@slipway"),
    ("GIT_COMMITTER_NAME", "slipway"),
    ("GIT_COMMITTER_EMAIL", "zipdeploy@slipway"),
];

/// Records every file of `dir` as a commit whose parent is what `reference` points to, and moves
/// `reference` to it (compare-and-swap: a concurrent change fails). Returns the commit. For code
/// that came without a push (zipdeploy): the deployment builds it like any commit, and redeploy
/// and rollback work the same.
pub fn commit_folder(repo: &Path, dir: &Path, reference: &str, message: &str) -> GitResult<String> {
    let scratch = tempfile::tempdir().map_err(|source| GitError::Io {
        action: "create a temporary index for",
        path: repo.to_path_buf(),
        source,
    })?;
    let index_path = scratch.path().join("index");
    let with_tree = |command: &mut Command| {
        command.arg("--work-tree").arg(dir).env("GIT_INDEX_FILE", &index_path);
    };
    let mut add = git(repo);
    with_tree(&mut add);
    add.args(["add", "--all", "--force", "."]).current_dir(dir);
    run(&mut add, "record the uploaded files")?;
    let mut write_tree = git(repo);
    with_tree(&mut write_tree);
    write_tree.arg("write-tree");
    let tree = run(&mut write_tree, "write the uploaded tree")?.trim().to_string();
    let parent = ref_value(repo, reference)?;
    let mut commit_tree = git(repo);
    commit_tree.args(["commit-tree", &tree, "-m", message]).envs(SLIPWAY_AUTHOR);
    if let Some(parent) = &parent {
        commit_tree.args(["-p", parent]);
    }
    let commit = run(&mut commit_tree, "commit the uploaded files")?.trim().to_string();
    let old = parent.as_deref().unwrap_or(ZERO_SHA);
    run(git(repo).args(["update-ref", reference, &commit, old]), &format!("move {reference}"))?;
    Ok(commit)
}

/// Fetches `branch` of the remote repository `url` into `reference` of the app's repository. git
/// never prompts (no terminal) and only fetches over the usual transports.
pub fn fetch_branch(repo: &Path, url: &str, branch: &str, reference: &str) -> GitResult<()> {
    let mut fetch = git(repo);
    fetch
        .args(["-c", "protocol.ext.allow=never", "fetch", "--no-tags", "--quiet", "--", url])
        .arg(format!("+refs/heads/{branch}:{reference}"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new");
    run(&mut fetch, &format!("fetch `{branch}`"))?;
    Ok(())
}

/// Whether the repository has `commit` (a full or abbreviated id).
pub fn has_commit(repo: &Path, commit: &str) -> bool {
    git(repo)
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes the tree of `commit` into `dir` (which must not exist), as `git archive | tar -x`.
pub fn checkout(repo: &Path, commit: &str, dir: &Path, access: &ObjectAccess) -> GitResult<()> {
    std::fs::create_dir_all(dir).map_err(|source| GitError::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    let what = format!("check out {commit}");
    let spawn = |program, source| GitError::Spawn { program, what: what.clone(), source };
    let mut archive = git(repo);
    archive.args(["archive", "--format=tar", commit]).stdout(Stdio::piped()).stderr(Stdio::piped());
    access.apply(&mut archive);
    let mut archive = archive.spawn().map_err(|e| spawn("git", e))?;
    let stdout = archive.stdout.take().expect("piped");
    let untar = Command::new("tar")
        .args(["-x", "-f", "-", "-C"])
        .arg(dir)
        .stdin(stdout)
        .output()
        .map_err(|e| spawn("tar", e))?;
    let archived = archive.wait_with_output().map_err(|e| spawn("git", e))?;
    if !archived.status.success() {
        return Err(failed(&format!("archive {commit}"), &archived.stderr));
    }
    if !untar.status.success() {
        return Err(failed(&format!("unpack {commit} (tar)"), &untar.stderr));
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
