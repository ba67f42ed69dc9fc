//! What `slipway serve` is told on its command line, with the embedded defaults.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use slipway_build::version::VersionSpec;

/// Where `slipway serve` keeps its data, and where the CLI looks for the admin token.
pub const DEFAULT_DATA_DIR: &str = "./slipway-data";
/// The HTTP listener: API, git, dashboard and the `<app>.localhost` proxy.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// The server the CLI talks to unless told otherwise.
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_FTP: &str = "127.0.0.1:2121";
pub const DEFAULT_FTP_PASSIVE: &str = "50000-50100";

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `--database`: PostgreSQL instead of the embedded SQLite file in the data dir.
    pub database: Option<crate::store::Location>,
    /// `--instance`: this instance's name among several sharing the data dir and the database;
    /// its run time state goes to `run/<name>/`. Without it: the host's name, and `run/`.
    pub instance: Option<String>,
    /// HTTP listen address; port 0 picks a free one (tests).
    pub http: SocketAddr,
    /// FTP listen address, shown to users as the app's FTP host.
    pub ftp: SocketAddr,
    /// Ports offered to FTP clients for passive data connections (PASV/EPSV).
    pub ftp_passive: RangeInclusive<u16>,
    /// Refuse FTP logins and transfers that are not protected by TLS (needs `tls`).
    pub ftp_require_tls: bool,
    pub default_python: Option<VersionSpec>,
    /// Interpreters named with `--python PATH`, besides those found on PATH and in pyenv.
    pub pythons: Vec<PathBuf>,
    pub uv: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
    /// The `slipway` executable, which git's pre-receive hook runs.
    pub slipway_exe: PathBuf,
    /// `--domain`: every app is also `<app>.<domain>`.
    pub domain: Option<String>,
    /// `--admin-host`: names the API, git and dashboard answer on, besides IPs and `localhost`.
    pub admin_hosts: Vec<String>,
    /// `--https`: an HTTPS listener presenting each domain's own certificate (SNI); certificates
    /// come from ACME.
    pub https: Option<SocketAddr>,
    pub acme: AcmeConfig,
}

/// Where certificates come from.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The ACME directory URL (Let's Encrypt by default).
    pub directory: String,
    /// The account's contact address.
    pub email: Option<String>,
    /// A root certificate to trust for the ACME server's own HTTPS (a test CA such as pebble).
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// This instance's name: `--instance`, else the host's.
    pub fn instance_name(&self) -> String {
        self.instance.clone().unwrap_or_else(crate::cluster::host_instance_name)
    }

    /// The data dir's layout, with this instance's run dir.
    pub fn data_dir(&self) -> crate::layout::DataDir {
        crate::layout::DataDir::new(self.data_dir.clone()).for_instance(self.instance.as_deref())
    }

    pub fn with_defaults(data_dir: PathBuf, slipway_exe: PathBuf) -> Self {
        Config {
            data_dir,
            database: None,
            instance: None,
            http: DEFAULT_HTTP.parse().expect("valid address"),
            ftp: DEFAULT_FTP.parse().expect("valid address"),
            ftp_passive: parse_port_range(DEFAULT_FTP_PASSIVE).expect("valid range"),
            ftp_require_tls: false,
            default_python: None,
            pythons: Vec::new(),
            uv: None,
            tls: None,
            slipway_exe,
            domain: None,
            admin_hosts: Vec::new(),
            https: None,
            acme: AcmeConfig { directory: crate::certs::acme::LETS_ENCRYPT.to_string(), email: None, ca_cert: None },
        }
    }

    /// `https` when the HTTP port speaks TLS.
    pub fn http_scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// `FROM-TO` (or one port), `1 <= FROM <= TO`.
pub fn parse_port_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (from, to) = text.split_once('-').unwrap_or((text, text));
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p > 0);
    match (port(from), port(to)) {
        (Some(from), Some(to)) if from <= to => Ok(from..=to),
        _ => Err(format!(
            "expected a port range FROM-TO such as {DEFAULT_FTP_PASSIVE} (ports 1-65535, FROM <= TO), got `{text}`"
        )),
    }
}
