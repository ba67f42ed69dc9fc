//! How an app's code runs — its builds (`slipway build-job`) and its processes — so that one app's
//! password is not root on the host.
//!
//! When the server runs as root, every app has a Unix user of its own (a uid slipway allocates,
//! [`app_ids`]; no `useradd` needed) and everything of the app runs as that user inside a
//! bubblewrap sandbox: a new mount, PID and IPC namespace whose filesystem holds only the system
//! (read-only), the Python runtimes and tools (read-only), the app's own folders (its releases and
//! cache, writable; a build's checkout, read-only) and a private `/tmp`. The data dir, other apps,
//! `/root` and `/etc/shadow` are not there at all. bubblewrap runs as root to build that view
//! (an unprivileged bubblewrap could not reach runtimes under `/root`), and `setpriv` drops to
//! the app's user inside it, with no capabilities and `no_new_privs`. `--die-with-parent` and the
//! PID namespace mean that when the server dies, everything in the sandbox dies with it.
//!
//! The environment is built, never inherited: the documented variables and the app's settings.
//!
//! When the server runs as an ordinary user, everything runs as that user, unsandboxed, and the
//! server says at start that apps are not isolated from each other.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::app_name::AppName;
use crate::layout::AppPaths;
use crate::owner::OWNER_VAR;

/// Apps' uids and gids are this plus the app's number: far above login users and the ranges
/// `/etc/subuid` hands out.
pub const APP_ID_BASE: u32 = 1_900_000_000;

/// The uid and gid of the app with store number `number`.
pub fn app_ids(number: i64) -> (u32, u32) {
    let id = APP_ID_BASE + u32::try_from(number).unwrap_or(0);
    (id, id)
}

/// Parts of `/etc` programs need (name resolution, TLS roots, locale, time zone), bound
/// read-only; the rest of `/etc` (`shadow`, SSH host keys, …) is not in the sandbox.
const ETC: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/passwd",
    "/etc/group",
];

/// The system, read-only.
const SYSTEM: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/opt"];

/// How this server isolates apps, decided once at start.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// Root with bubblewrap: a user and a sandbox per app.
    Sandboxed { bwrap: PathBuf, setpriv: PathBuf, tools: Vec<PathBuf> },
    /// Everything runs as the server's own user.
    SameUser,
}

impl Isolation {
    /// Root: sandboxed, which needs `bwrap` and `setpriv` (`./scripts/setup.sh` installs
    /// bubblewrap). `tools` are the paths builds and apps need read-only besides the system:
    /// the runtimes' installations, uv, the slipway executable.
    pub fn detect(tools: Vec<PathBuf>) -> anyhow::Result<Self> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(Isolation::SameUser);
        }
        let find = |name: &str| {
            ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"]
                .iter()
                .map(|dir| Path::new(dir).join(name))
                .find(|path| path.is_file())
        };
        match (find("bwrap"), find("setpriv")) {
            (Some(bwrap), Some(setpriv)) => Ok(Isolation::Sandboxed { bwrap, setpriv, tools }),
            (None, _) => anyhow::bail!(
                "slipway serve runs as root, and isolating apps from each other and from the host needs bubblewrap (`bwrap`), which is not installed: `apt-get install bubblewrap` (./scripts/setup.sh does)"
            ),
            (_, None) => anyhow::bail!("slipway serve runs as root and needs `setpriv` (util-linux) to run apps as their own users"),
        }
    }

    pub fn is_sandboxed(&self) -> bool {
        matches!(self, Isolation::Sandboxed { .. })
    }

    /// A command that runs `program args` as the app, in its sandbox, with exactly `env` (plus
    /// the variables every app process gets), from `cwd`.
    pub fn command(&self, run: &Confined) -> Command {
        let mut env = base_environment(run);
        env.extend(run.env.iter().cloned());
        let mut command = match self {
            Isolation::SameUser => {
                let mut c = Command::new(&run.program);
                c.args(&run.args).current_dir(&run.cwd);
                c
            }
            Isolation::Sandboxed { bwrap, setpriv, tools } => {
                let mut c = Command::new(bwrap);
                c.args(sandbox_args(run, tools));
                c.arg("--").arg(setpriv);
                c.arg(format!("--reuid={}", run.uid)).arg(format!("--regid={}", run.gid));
                c.args(["--clear-groups", "--inh-caps=-all", "--no-new-privs", "--"]);
                c.arg(&run.program).args(&run.args);
                c
            }
        };
        command.env_clear().envs(env);
        command
    }
}

/// One thing to run for an app.
#[derive(Debug, Clone)]
pub struct Confined {
    pub app: AppName,
    pub uid: u32,
    pub gid: u32,
    pub paths: AppPaths,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Folders it may write (and read).
    pub writable: Vec<PathBuf>,
    /// Folders and files it may read besides the system and the tools.
    pub readable: Vec<PathBuf>,
    /// Its own variables: settings, `PORT`, …
    pub env: Vec<(String, String)>,
}

/// What every process of an app finds in its environment.
fn base_environment(run: &Confined) -> Vec<(String, String)> {
    let cache = run.paths.cache();
    let mut env = vec![
        ("PATH".to_string(), "/usr/local/bin:/usr/bin:/bin".to_string()),
        ("HOME".to_string(), cache.display().to_string()),
        ("USER".to_string(), run.app.to_string()),
        ("LOGNAME".to_string(), run.app.to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("TMPDIR".to_string(), "/tmp".to_string()),
        ("UV_CACHE_DIR".to_string(), cache.join("uv").display().to_string()),
        ("PIP_CACHE_DIR".to_string(), cache.join("pip").display().to_string()),
        ("XDG_CACHE_HOME".to_string(), cache.display().to_string()),
    ];
    // The mark that finds every process of this server after a crash (see `crate::owner`).
    if let Ok(owner) = std::env::var(OWNER_VAR) {
        env.push((OWNER_VAR.to_string(), owner));
    }
    env
}

fn sandbox_args(run: &Confined, tools: &[PathBuf]) -> Vec<OsString> {
    let mut args = Arguments::default();
    for dir in SYSTEM.iter().chain(ETC) {
        args.bind("--ro-bind-try", Path::new(dir));
    }
    // A private /tmp first: the app's folders may be below /tmp (tests), and are bound over it.
    args.push(&["--proc".as_ref(), "/proc".as_ref(), "--dev".as_ref(), "/dev".as_ref()]);
    args.push(&["--perms".as_ref(), "1777".as_ref(), "--tmpfs".as_ref(), "/tmp".as_ref()]);
    for path in tools.iter().chain(&run.readable) {
        args.bind("--ro-bind-try", path);
    }
    for path in &run.writable {
        args.bind("--bind", path);
    }
    let mut args = args.words;
    let mut push = |words: &[&std::ffi::OsStr]| args.extend(words.iter().map(|w| w.to_os_string()));
    push(&[
        "--unshare-pid".as_ref(),
        "--unshare-ipc".as_ref(),
        "--unshare-uts".as_ref(),
        "--die-with-parent".as_ref(),
        "--chdir".as_ref(),
        run.cwd.as_os_str(),
    ]);
    args
}

/// Sets an app home's owners and modes: everything root's and private (0700), but what the app's
/// own user writes — its releases and its cache — which is the app's (when `ids` is given, i.e.
/// apps run as their own users). Run at creation and at every start (it adopts homes made before).
pub fn prepare_home(paths: &AppPaths, ids: Option<(u32, u32)>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(paths.cache())?;
    std::fs::create_dir_all(paths.releases())?;
    std::fs::create_dir_all(paths.data())?;
    let private = |path: &Path| match std::fs::metadata(path) {
        Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)),
        Err(_) => Ok(()),
    };
    for path in [paths.home.clone(), paths.repository(), paths.deployments(), paths.log_files(), paths.tmp()] {
        private(&path)?;
    }
    std::fs::set_permissions(paths.site(), std::fs::Permissions::from_mode(0o755))?;
    if let Some((uid, gid)) = ids {
        give_to(&paths.cache(), uid, gid)?;
        give_to(&paths.data(), uid, gid)?;
        give_to(&paths.releases(), uid, gid)?;
        for release in std::fs::read_dir(paths.releases())?.flatten() {
            give_to(&release.path(), uid, gid)?;
        }
        private(&paths.releases())?;
        private(&paths.cache())?;
        private(&paths.data())?;
    }
    Ok(())
}

/// bubblewrap's arguments, with the folders above each bind made traversable (bubblewrap would
/// make them 0700, shutting the app's user out of its own binds).
#[derive(Default)]
struct Arguments {
    words: Vec<OsString>,
    made: std::collections::BTreeSet<PathBuf>,
}

impl Arguments {
    fn push(&mut self, words: &[&std::ffi::OsStr]) {
        self.words.extend(words.iter().map(|w| w.to_os_string()));
    }

    fn bind(&mut self, option: &str, path: &Path) {
        let ancestors: Vec<PathBuf> =
            path.ancestors().skip(1).filter(|a| a.parent().is_some()).map(Path::to_path_buf).collect();
        for dir in ancestors.into_iter().rev() {
            if self.made.insert(dir.clone()) {
                self.push(&["--dir".as_ref(), dir.as_os_str()]);
            }
        }
        self.push(&[option.as_ref(), path.as_os_str(), path.as_os_str()]);
    }
}

/// Gives a file or folder that FTP or the VFS API made (as root) in the app's releases or its data
/// folder to the app's user, so the app can change it. `path` is as the session named it, from
/// the home (`/site/wwwroot/…`, `/site/releases/…`, `/data/…`); it is resolved without following
/// any link but `site/wwwroot` itself (which slipway owns), so an app cannot aim this at anything
/// else. Elsewhere in the home (its logs), what is made stays root's.
pub fn give_made_file(home: &Path, path: &Path, (uid, gid): (u32, u32)) {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = match rel.strip_prefix("site/wwwroot") {
        Ok(rest) => match std::fs::read_link(home.join("site/wwwroot")) {
            Ok(live) => Path::new("site").join(live).join(rest),
            Err(_) => return,
        },
        Err(_) => rel.to_path_buf(),
    };
    let in_release = rel.starts_with("site/releases") && rel.components().count() >= 4;
    let in_data = rel.starts_with("data") && rel.components().count() >= 2;
    if !in_release && !in_data {
        return;
    }
    if let Err(e) = chown_beneath(home, &rel, uid, gid) {
        tracing::warn!("giving {} to the app's user: {e}", rel.display());
    }
}

/// `lchown` of `rel` below `root`, its folders resolved with no link followed.
fn chown_beneath(root: &Path, rel: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else { return Ok(()) };
    let root = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let parent =
        rustix::fs::openat2(&root, parent, flags, Mode::empty(), ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS)?;
    let (uid, gid) = (rustix::fs::Uid::from_raw(uid), rustix::fs::Gid::from_raw(gid));
    rustix::fs::chownat(&parent, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Makes `path` and everything below it belong to the app's user, without following links. A
/// tree that already does (its top does) is left as it is.
pub fn give_to(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.uid() == uid && meta.gid() == gid {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_binds_the_system_read_only_and_only_the_app_s_folders_writable() {
        let app = AppName::parse("demo").unwrap();
        let run = Confined {
            app: app.clone(),
            uid: 1_900_000_003,
            gid: 1_900_000_003,
            paths: AppPaths { home: "/data/apps/demo".into() },
            program: "/usr/bin/python3".into(),
            args: vec!["app.py".into()],
            cwd: "/data/apps/demo/site/releases/4".into(),
            writable: vec!["/data/apps/demo/site/releases/4".into()],
            readable: vec![],
            env: vec![("PORT".into(), "8000".into()), ("GREETING".into(), "hi".into())],
        };
        let isolation = Isolation::Sandboxed {
            bwrap: "/usr/bin/bwrap".into(),
            setpriv: "/usr/bin/setpriv".into(),
            tools: vec!["/root/.pyenv/versions/3.12.1".into()],
        };
        let command = isolation.command(&run);
        let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let line = args.join(" ");
        assert!(line.contains("--ro-bind-try /usr /usr"), "{line}");
        assert!(line.contains("--ro-bind-try /root/.pyenv/versions/3.12.1 /root/.pyenv/versions/3.12.1"));
        assert!(line.contains("--bind /data/apps/demo/site/releases/4 /data/apps/demo/site/releases/4"));
        assert!(!line.contains("/etc/shadow") && !line.contains("--bind /data/apps/demo "), "{line}");
        assert!(line.ends_with("-- /usr/bin/setpriv --reuid=1900000003 --regid=1900000003 --clear-groups --inh-caps=-all --no-new-privs -- /usr/bin/python3 app.py"), "{line}");
        let env: Vec<(String, String)> = command
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.unwrap_or_default().to_string_lossy().into_owned()))
            .collect();
        assert!(env.contains(&("GREETING".into(), "hi".into())) && env.contains(&("USER".into(), "demo".into())));
        assert!(
            !env.iter().any(|(k, _)| k == "CARGO" || k == "RUST_BACKTRACE"),
            "nothing of the server's own: {env:?}"
        );
    }
}
