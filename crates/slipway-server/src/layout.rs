//! Where slipway keeps everything on disk. Every path it writes is named here, once:
//!
//! ```text
//! <data-dir>/
//!   slipway.db                  the store (SQLite)
//!   admin-token                 the operator's API token, mode 0600
//!   cache/                      probed runtimes
//!   run/                        this server's run time state, mode 0700 (with `--instance NAME`,
//!                               `run/instances/NAME/`: one per instance sharing the data dir)
//!     lock                      held (flock) by the one server using this run dir; its pid
//!     server.json               pid and the addresses it listens on
//!     hook.sock                 git's pre-receive hook talks to the server here
//!     git-hooks/pre-receive     the hook every repository runs (git's core.hooksPath)
//!   certs/<name>/               a name's certificate: cert.pem, key.pem (0600), source
//!   acme/                       the ACME account, and HTTP-01 answers (challenges/)
//!   apps/<app>/                 the app home (its FTP root), see [`AppPaths`]
//! ```

use std::path::{Path, PathBuf};

use crate::app_name::AppName;

/// The data dir's layout.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    run: PathBuf,
}

impl DataDir {
    /// `root` should be absolute: git runs the hook (which finds the server through a path below
    /// it) in the repository, not here.
    pub fn new(root: PathBuf) -> Self {
        DataDir { run: root.join("run"), root }
    }

    /// With `--instance NAME`, the run dir is this instance's own, `run/instances/NAME/`.
    pub fn for_instance(self, instance: Option<&str>) -> Self {
        match instance {
            Some(name) => DataDir { run: self.root.join("run/instances").join(name), root: self.root },
            None => self,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("slipway.db")
    }

    pub fn admin_token(&self) -> PathBuf {
        self.root.join(ADMIN_TOKEN_FILE)
    }

    pub fn runtime_cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// The HTTPS listener's certificates, one folder per domain name.
    pub fn certs(&self) -> PathBuf {
        self.root.join("certs")
    }

    /// The ACME account's credentials.
    pub fn acme(&self) -> PathBuf {
        self.root.join("acme")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.run.clone()
    }

    pub fn server_info(&self) -> PathBuf {
        self.run_dir().join("server.json")
    }

    pub fn hook_socket(&self) -> PathBuf {
        self.run_dir().join("hook.sock")
    }

    /// The hooks every app's repository runs (`core.hooksPath`): outside the app homes, so that
    /// nothing an app can write is ever run by git as root.
    pub fn git_hooks(&self) -> PathBuf {
        self.run_dir().join("git-hooks")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.run_dir().join("lock")
    }

    /// The folder of app homes: git's `GIT_PROJECT_ROOT` and the FTP server's root of roots.
    pub fn apps_dir(&self) -> PathBuf {
        self.root.join("apps")
    }

    pub fn app(&self, app: &AppName) -> AppPaths {
        AppPaths { home: self.apps_dir().join(app) }
    }
}

/// The admin token's file name, which the CLI looks for in the data dir too.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// One app's home, `<data-dir>/apps/<app>/`, which is also its FTP root:
///
/// ```text
/// repository/                   the bare git repository pushes go to
/// site/releases/<id>/           one release per successful deployment: its code, its env/,
///                               and .slipway/manifest (what the deployment brought)
/// site/releases/0/              the files before the first deployment
/// site/wwwroot -> releases/<id> the live release (a relative symlink, switched atomically)
/// site/wwwroot/env/             so, the live env, as the seed and FTP users know it
/// site/deployments/<id>/log.txt each deployment's log
/// LogFiles/app.log              the running app's output (app.log.1 after rotation)
/// LogFiles/runs/<id>.log        each one-off command's and cron job's output
/// data/                         the app's data, outside every release ($SLIPWAY_APP_DATA)
/// cache/                        the app's caches (uv, pip) and its processes' HOME
/// tmp/checkout-<id>/            a deployment's checkout while it builds
/// ```
///
/// When slipway runs as root, the home and everything in it belong to root (mode 0700), except
/// what the app's own user writes: `site/releases/` and `cache/`. The app cannot touch its
/// repository (git runs its hooks as root) or its deployment logs.
#[derive(Debug, Clone)]
pub struct AppPaths {
    pub home: PathBuf,
}

/// The variable that names an app's data folder ([`AppPaths::data`]) to everything the app runs.
pub const DATA_VAR: &str = "SLIPWAY_APP_DATA";

impl AppPaths {
    pub fn repository(&self) -> PathBuf {
        self.home.join("repository")
    }
    pub fn site(&self) -> PathBuf {
        self.home.join("site")
    }
    /// The live release, through the `wwwroot` symlink.
    pub fn wwwroot(&self) -> PathBuf {
        self.site().join("wwwroot")
    }
    pub fn releases(&self) -> PathBuf {
        self.site().join("releases")
    }
    /// A release's directory; release 0 holds what was there before the first deployment.
    pub fn release(&self, deployment: i64) -> PathBuf {
        self.releases().join(deployment.to_string())
    }
    pub fn env(&self) -> PathBuf {
        self.wwwroot().join(slipway_build::env::ENV_DIR)
    }
    /// Deployment logs and the sync manifest (Kudu keeps both under `site/deployments`).
    pub fn deployments(&self) -> PathBuf {
        self.site().join("deployments")
    }
    pub fn deployment_dir(&self, id: i64) -> PathBuf {
        self.deployments().join(id.to_string())
    }
    pub fn deployment_log(&self, id: i64) -> PathBuf {
        self.deployment_dir(id).join("log.txt")
    }
    pub fn log_files(&self) -> PathBuf {
        self.home.join("LogFiles")
    }
    pub fn app_log(&self) -> PathBuf {
        self.log_files().join("app.log")
    }
    /// The output of one-off commands (`slipway run`, cron jobs), one file per run.
    pub fn runs(&self) -> PathBuf {
        self.log_files().join("runs")
    }
    pub fn run_log(&self, id: i64) -> PathBuf {
        self.runs().join(format!("{id}.log"))
    }
    /// Scratch space for checkouts, on the same file system as wwwroot.
    pub fn tmp(&self) -> PathBuf {
        self.home.join("tmp")
    }
    /// The app's own caches (uv, pip) and its processes' `HOME`.
    pub fn cache(&self) -> PathBuf {
        self.home.join("cache")
    }
    /// The app's persistent data, outside every release: SQLite files, uploads. Its processes,
    /// builds and commands find it in [`DATA_VAR`]; FTP and the VFS reach it as `/data`.
    pub fn data(&self) -> PathBuf {
        self.home.join("data")
    }
    /// Poetry and Pipenv, installed for the app's builds (in its cache, which builds may write).
    pub fn tools(&self) -> PathBuf {
        self.cache().join("tools")
    }
    pub fn checkout(&self, deployment: i64) -> PathBuf {
        self.tmp().join(format!("checkout-{deployment}"))
    }
}
