//! What the parts of the server share. One [`Shared`] is made at start-up by `server::serve` and
//! lives until the server stops; the service layer, the deployer and the placement hold it.

use std::net::SocketAddr;

use slipway_build::RuntimeCatalog;

use crate::config::Config;
use crate::layout::DataDir;
use crate::store::Store;

pub struct Shared {
    /// The command line's choices. Read-only after start.
    pub config: Config,
    /// This instance: its name among the instances sharing the store.
    pub instance: crate::cluster::Instance,
    /// What the other instances say about each app, applied in turn.
    pub notices: crate::cluster::AppQueues,
    /// Every path below the data dir (made absolute at start).
    pub data_dir: DataDir,
    /// Apps, settings, credentials, deployments. Written by the service layer and the deployer.
    pub store: Store,
    /// The Python interpreters found at start; probed once, read by every build.
    pub runtimes: RuntimeCatalog,
    /// The address the HTTP listener really got (port 0 resolved): the apps' URLs use its port.
    pub http_addr: SocketAddr,
    /// The address the FTP listener really got: the apps' FTP host.
    pub ftp_addr: SocketAddr,
    /// The address the HTTPS listener got (`--https`), if there is one.
    pub https_addr: Option<SocketAddr>,
    /// Which app, or slipway itself, each Host names. Custom domains are written by the service
    /// layer when they change; the proxy reads it on every request.
    pub hosts: crate::hosts::Hosts,
    /// The HTTPS listener's certificates (read on every handshake) and how they are obtained.
    pub certs: std::sync::Arc<crate::certs::Certificates>,
    /// Given to git's hook through its environment; proves that a connection to the hook socket
    /// comes from a push this server started. Made anew at each start, never stored.
    pub hook_token: String,
    /// Password checks in progress, recently verified passwords and lockouts
    /// (`service::credentials`). Written by every login.
    pub logins: crate::service::credentials::Logins,
    /// How apps' builds and processes run: as their own users in sandboxes (root), or as the
    /// server's user. Decided at start.
    pub isolation: crate::sandbox::Isolation,
    /// Where apps' resource limits are applied (cgroup v2, v1, or rlimits only).
    pub cgroups: crate::cgroups::Cgroups,
    /// The uv executable builds use, found at start (`--uv`, else on PATH).
    pub uv: Option<std::path::PathBuf>,
    /// Where the apps' processes run ([`crate::placement`]; on this machine: the
    /// [`crate::supervisor::Supervisor`]). Written by the deployer (switching releases) and the
    /// service layer (restart, stop, delete, scale); read by the proxy on every request.
    pub placement: Box<dyn crate::placement::Placement>,
    /// Requests per app (from the proxy) and the processes' resources, for `/metrics`, `ps` and
    /// the dashboard.
    pub metrics: crate::metrics::Metrics,
    /// One-off commands that have not ended (`slipway run`, cron jobs): how to stop each.
    /// Written when a run starts and ends.
    pub commands: crate::service::runs::RunningCommands,
    /// One lock per app being woken from idle, so that the requests arriving meanwhile wait for
    /// one start rather than each starting the app.
    pub waking:
        std::sync::Mutex<std::collections::HashMap<crate::app_name::AppName, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

/// A kept release, named by the deployment that built it.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    pub id: i64,
    /// `4` for v4: its lines in the app's log say `v4`.
    pub number: i64,
    /// The Python version it was built with.
    pub python: Option<&'a str>,
}

impl<'a> Release<'a> {
    pub fn of(deployment: &'a crate::store::Deployment) -> Self {
        Release { id: deployment.id, number: deployment.number, python: deployment.python_version.as_deref() }
    }
}

impl Shared {
    /// The `bin` folder of the runtime a release was built with: on its processes' `PATH`, after
    /// env's (so `python app.py` works without an env).
    pub fn runtime_bin(&self, version: Option<&str>) -> Option<std::path::PathBuf> {
        let version = version?;
        let runtime = self.runtimes.runtimes.iter().find(|r| r.version.to_string() == version)?;
        runtime.path.parent().map(std::path::Path::to_path_buf)
    }

    /// Starts `release` as the app's processes, as many of each type as the app is scaled to
    /// (see [`Supervisor::start`]).
    pub async fn start_release(
        &self,
        app: &crate::app_name::AppName,
        release: Release<'_>,
        settings: &crate::settings::AppSettings,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<(), String> {
        let ids = self.app_ids(app).map_err(|e| e.to_string())?;
        let scale = self.store.scale(app).map_err(|e| e.to_string())?;
        let runtime = self.runtime_bin(release.python);
        let dir = self.data_dir.app(app).release(release.id);
        let request = crate::supervisor::StartRequest {
            app,
            version: release.number,
            ids,
            release: &dir,
            runtime,
            settings,
            scale: &scale,
            log,
        };
        self.placement.start(request).await
    }

    /// The app's uid and gid: its own when sandboxed, the server's otherwise.
    pub fn app_ids(&self, app: &crate::app_name::AppName) -> crate::error::Result<(u32, u32)> {
        if !self.isolation.is_sandboxed() {
            return Ok((nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw()));
        }
        let number = self.store.app_number(app)?.ok_or_else(|| crate::error::Error::NoSuchApp(app.to_string()))?;
        Ok(crate::sandbox::app_ids(number))
    }
}
