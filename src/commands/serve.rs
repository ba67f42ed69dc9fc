use anyhow::Context;
use slipway_build::version::VersionSpec;
use slipway_server::config::Config;
use slipway_server::store::Location;

use crate::cli::ServeArgs;

/// Logs to stderr, `info` unless RUST_LOG says otherwise.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,libunftp=warn,unftp_sbe_fs=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .init();
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let exe = std::env::current_exe().context("locate the slipway executable")?;
    let mut config = Config::with_defaults(args.data_dir, exe);
    // Checked here, not by clap, whose error would print the URL and its password.
    config.database = args.database.as_deref().map(database_location).transpose()?;
    config.instance = args.instance;
    config.http = args.http;
    config.ftp = args.ftp;
    config.ftp_passive = args.ftp_passive;
    config.ftp_require_tls = args.ftp_require_tls;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(slipway_server::config::TlsFiles { cert, key });
    }
    config.pythons = args.python;
    config.uv = args.uv;
    config.domain = args.domain;
    config.admin_hosts = args.admin_hosts;
    config.https = args.https;
    config.acme = slipway_server::config::AcmeConfig {
        directory: args.acme_directory,
        email: args.acme_email,
        ca_cert: args.acme_ca_cert,
    };
    config.default_python = args
        .default_python
        .as_deref()
        .map(|v| {
            VersionSpec::parse(v)
                .with_context(|| format!("--default-python `{v}` is not a Python version; expected `3.X` or `3.X.Y`"))
        })
        .transpose()?;
    // Before the runtime's threads exist: the data dir's lock, and this process marked as the
    // owner of everything it starts.
    let startup = slipway_server::Startup::prepare(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listeners = slipway_server::Listeners::bind(startup.config()).await?;
        slipway_server::serve(startup, listeners, shutdown_signal()).await
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}

/// `--database URL`, or an error that names what is wrong without the URL's password.
pub fn database_location(url: &str) -> anyhow::Result<Location> {
    Location::parse_url(url).map_err(|e| anyhow::anyhow!("--database: {e}"))
}
