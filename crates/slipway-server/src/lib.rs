//! `slipway serve`: one process holding the store, the REST API, git smart HTTP, FTP, the
//! dashboard, the deployments, the apps' processes and the proxy in front of them.
//!
//! The layers, outside in (`ARCHITECTURE.md` at the repository root draws the life of a push and
//! of a request through them):
//! - front-ends: [`http`] (API, git smart HTTP, dashboard, proxy), [`ftp`], and git's pre-receive
//!   hook ([`git::hook`]). They parse input ([`app_name::AppName`] once, at the edge), call the
//!   service layer and map its [`error::Error`]s to their own answers.
//! - [`service`]: every operation, implemented once.
//! - the machinery the service drives: [`deployer`] (runs a deployment with the build engine,
//!   `slipway-build`), [`releases`] (release directories and the live one), [`placement`] (the
//!   seam where the apps' processes run; [`supervisor`] runs them on this machine), [`owner`]
//!   (finding them after a crash), [`git`] (repositories), [`store`] (SQLite), [`metrics`],
//!   [`webhooks`], [`archive`].
//! - shared vocabulary: [`config`], [`layout`] (every path on disk), [`settings`] (typed app
//!   settings), [`secrets`], [`login_limiter`].
//!
//! [`server::serve`] takes the data dir its caller locked ([`server::Startup`]), listeners its
//! caller bound and a shutdown future, mini-redis style.

pub mod app_json;
pub mod app_name;
pub mod archive;
pub mod certs;
pub mod cgroups;
pub mod cluster;
pub mod config;
pub mod deployer;
pub mod error;
pub mod ftp;
pub mod git;
pub mod hosts;
pub mod http;
pub mod jobs;
pub mod layout;
pub mod lines;
pub mod login_limiter;
pub mod metrics;
pub mod oneoff;
pub mod owner;
pub mod placement;
pub mod procfile;
pub mod releases;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod service;
pub mod settings;
pub mod start_command;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod webhooks;

pub use server::{migrate_store, serve, Listeners, ServerInfo, Startup};
