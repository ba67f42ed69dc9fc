//! Which app a client command means: the APP argument, or else the app that the current
//! repository's git remote `slipway` pushes to (as Heroku and Dokku infer it), so that inside an
//! app's checkout `slipway logs` is enough.

use std::process::Command;

use anyhow::{anyhow, bail};
use clap::Args;
use slipway_server::app_name::AppName;

/// The git remote whose URL names the app.
pub const REMOTE: &str = "slipway";

/// An optional APP positional.
#[derive(Debug, Args, Clone)]
pub struct AppArg {
    /// The app [default: the app of the current repository's git remote `slipway`].
    #[arg(value_name = "APP")]
    pub app: Option<String>,
}

impl AppArg {
    /// The app given, or the one the git remote names.
    pub fn resolve(self) -> anyhow::Result<String> {
        match self.app {
            Some(app) => Ok(app),
            None => from_git_remote(),
        }
    }

    /// For `[APP] [VERSION]`: a lone `v3` (or `3`) is the version of the inferred app, since an
    /// app name is never a bare number and `v3` reads as a version first.
    pub fn resolve_with_version(self, version: Option<i64>) -> anyhow::Result<(String, Option<i64>)> {
        if version.is_none() {
            if let Some(number) = self.app.as_deref().and_then(|text| crate::cli::parse_version(text).ok()) {
                return Ok((from_git_remote()?, Some(number)));
            }
        }
        Ok((self.resolve()?, version))
    }
}

/// Splits `[APP] REST…`: the first argument is the app when `is_app(first, count)` says so;
/// otherwise the app comes from the git remote.
pub fn split_leading_app(
    mut args: Vec<String>,
    is_app: impl Fn(&str, usize) -> bool,
) -> anyhow::Result<(String, Vec<String>)> {
    match args.first() {
        Some(first) if is_app(first, args.len()) => {
            let app = args.remove(0);
            Ok((app, args))
        }
        _ => Ok((from_git_remote()?, args)),
    }
}

/// `… KEY=VALUE…`, `… TYPE=COUNT…`: the first of several arguments is the app unless it is a
/// pair; a lone argument is a (perhaps malformed) pair, so its error names it.
pub fn unless_pair(first: &str, count: usize) -> bool {
    count > 1 && !first.contains('=')
}

/// The app the current repository's remote `slipway` pushes to: the last segment of its URL,
/// without `.git` (`http://host:8080/git/hello.git` → `hello`).
pub fn from_git_remote() -> anyhow::Result<String> {
    let no_app = || {
        anyhow!(
            "no APP given, and the current directory is not a git repository with a remote `{REMOTE}` to take it from: pass APP, or run `git remote add {REMOTE} <the app's git URL>`"
        )
    };
    let out = Command::new("git").args(["remote", "get-url", REMOTE]).output().map_err(|_| no_app())?;
    if !out.status.success() {
        return Err(no_app());
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    app_of_url(&url)
}

/// What `slipway apps create` did about the current directory's git remote.
pub enum RemoteAdded {
    Added,
    /// The repository already has a remote of that name (left as it is).
    Exists,
    /// Not inside a git repository.
    NoRepository,
}

/// Adds the remote `slipway` (the push URL, with the password) to the git repository of the
/// current directory, as `heroku create` adds `heroku`.
pub fn add_remote_here(push_url: &str) -> RemoteAdded {
    let inside = Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .stderr(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"true"));
    if !inside {
        return RemoteAdded::NoRepository;
    }
    let added = Command::new("git")
        .args(["remote", "add", REMOTE, push_url])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if added {
        RemoteAdded::Added
    } else {
        RemoteAdded::Exists
    }
}

fn app_of_url(url: &str) -> anyhow::Result<String> {
    let last = url.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or_default();
    let name = last.strip_suffix(".git").unwrap_or(last);
    match AppName::parse(name) {
        Ok(app) => Ok(app.to_string()),
        Err(_) => bail!("the git remote `{REMOTE}` ({}) does not name a slipway app: pass APP", redact(url)),
    }
}

/// The URL without a password in it, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_the_last_segment_of_the_remote_url() {
        assert_eq!(app_of_url("http://127.0.0.1:8080/git/hello.git").unwrap(), "hello");
        assert_eq!(app_of_url("http://hello:secret@example.com/git/hello-api.git/").unwrap(), "hello-api");
        assert_eq!(app_of_url("https://example.com/git/shop").unwrap(), "shop");
        let refused = app_of_url("https://u:secret@github.com/Some/Repo.git").unwrap_err().to_string();
        assert!(refused.contains("does not name a slipway app"), "{refused}");
        assert!(!refused.contains("secret"), "the password is never shown: {refused}");
    }

    #[test]
    fn a_leading_pair_is_not_an_app() {
        let (app, rest) = split_leading_app(vec!["web".into(), "A=1".into()], unless_pair).unwrap();
        assert_eq!((app.as_str(), rest), ("web", vec!["A=1".to_string()]));
    }
}
