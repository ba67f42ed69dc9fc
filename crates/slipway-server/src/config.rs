//! What `slipway serve` is told on its command line, with the embedded defaults.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use slipway_build::version::VersionSpec;

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
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
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    pub fn with_defaults(data_dir: PathBuf, slipway_exe: PathBuf) -> Self {
        Config {
            data_dir,
            http: "127.0.0.1:8080".parse().expect("valid address"),
            ftp: "127.0.0.1:2121".parse().expect("valid address"),
            ftp_passive: 50000..=50100,
            ftp_require_tls: false,
            default_python: None,
            pythons: Vec::new(),
            uv: None,
            tls: None,
            slipway_exe,
        }
    }
}
