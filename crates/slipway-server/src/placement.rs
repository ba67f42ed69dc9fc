//! Where an app's processes run: the one seam between slipway and whatever runs them. The
//! service layer, the deployer and the proxy ask [`Placement`] to start a release, scale, stop,
//! put to sleep and wake, say what runs and where requests go, write and read the app's log, and
//! run a command once (the release phase, `slipway run`, cron). [`Supervisor`] is the implementation
//! that runs them as processes of this machine; `docs/scale-out.md` says what a Nomad or
//! Kubernetes implementation would do for each method.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use slipway_build::log::Cancel;

use crate::app_name::AppName;
use crate::error::Result;
use crate::oneoff::{self, Exit, OneOff};
use crate::settings::AppSettings;
use crate::state::Shared;
use crate::supervisor::app_log::{AppOutput, LogQuery};
use crate::supervisor::{ProcessInfo, ProcessRow, StartRequest, Supervisor};

/// A line of output of a command run once. (`for<'s>` is spelled out in this trait's callbacks:
/// async_trait would otherwise tie each line's lifetime to the call's.)
pub type OutputSink<'a> = &'a mut (dyn for<'s> FnMut(&'s str) + Send);

#[async_trait]
pub trait Placement: Send + Sync {
    /// Runs the release as the app's processes, as many of each type as it is scaled to; web
    /// processes answer their health check before requests go to them, then the previous ones
    /// retire (no request fails).
    async fn start(&self, request: StartRequest<'_>) -> std::result::Result<(), String>;
    /// Runs `count` processes of `kind` from now on.
    async fn scale(
        &self,
        app: &AppName,
        kind: &str,
        count: u32,
        log: &(dyn for<'s> Fn(&'s str) + Send + Sync),
    ) -> std::result::Result<(), String>;
    /// Stops the app's processes; they stay stopped until the next start.
    async fn stop(&self, app: &AppName);
    /// Stops the app's processes and forgets it (the app is deleted).
    async fn remove(&self, app: &AppName);
    /// Stops every app's processes (the server stops).
    async fn stop_all(&self);
    /// Stops an idle app's web processes until a request wakes it.
    async fn put_to_sleep(&self, app: &AppName);
    /// Starts a sleeping app's web processes again.
    async fn wake(
        &self,
        app: &AppName,
        settings: &AppSettings,
        scale: &BTreeMap<String, u32>,
    ) -> std::result::Result<(), String>;

    /// The app's main process, as `apps show` and the dashboard show it.
    fn info(&self, app: &AppName) -> ProcessInfo;
    /// Every process of the app, for `slipway ps`.
    fn processes(&self, app: &AppName) -> Vec<ProcessRow>;
    /// Where a request for the app goes now, if a web process answers.
    fn endpoint(&self, app: &str) -> Option<SocketAddr>;
    fn has_processes(&self, app: &AppName) -> bool;
    /// Whether the app sleeps (scaled to zero until a request comes).
    fn is_asleep(&self, app: &str) -> bool;
    /// How long since the app's last request, when it runs.
    fn idle_for(&self, app: &AppName) -> Option<Duration>;
    /// A line in the app's log from `source` (`router`, `release`, `webhook`).
    fn log_line(&self, app: &AppName, version: Option<i64>, source: &str, text: &str);
    /// The app's log: its processes' output and slipway's lines about them, as asked.
    async fn read_log(&self, app: &AppName, query: &LogQuery) -> AppOutput;

    /// Runs a command once in a release, with the app's environment, sandbox and limits; its
    /// output goes to `output` line by line.
    async fn run_once(
        &self,
        shared: &Shared,
        command: &OneOff<'_>,
        cancel: &Cancel,
        output: OutputSink<'_>,
    ) -> Result<Exit>;
}

#[async_trait]
impl Placement for Supervisor {
    async fn start(&self, request: StartRequest<'_>) -> std::result::Result<(), String> {
        Supervisor::start(self, request).await
    }

    async fn scale(
        &self,
        app: &AppName,
        kind: &str,
        count: u32,
        log: &(dyn for<'s> Fn(&'s str) + Send + Sync),
    ) -> std::result::Result<(), String> {
        Supervisor::scale(self, app, kind, count, log).await
    }

    async fn stop(&self, app: &AppName) {
        Supervisor::stop(self, app).await
    }

    async fn remove(&self, app: &AppName) {
        Supervisor::remove(self, app).await
    }

    async fn stop_all(&self) {
        Supervisor::stop_all(self).await
    }

    async fn put_to_sleep(&self, app: &AppName) {
        Supervisor::put_to_sleep(self, app).await
    }

    async fn wake(
        &self,
        app: &AppName,
        settings: &AppSettings,
        scale: &BTreeMap<String, u32>,
    ) -> std::result::Result<(), String> {
        Supervisor::wake(self, app, settings, scale).await
    }

    fn info(&self, app: &AppName) -> ProcessInfo {
        Supervisor::info(self, app)
    }

    fn processes(&self, app: &AppName) -> Vec<ProcessRow> {
        Supervisor::processes(self, app)
    }

    /// Web processes listen on loopback, each on a port of its own.
    fn endpoint(&self, app: &str) -> Option<SocketAddr> {
        Supervisor::port(self, app).map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn has_processes(&self, app: &AppName) -> bool {
        Supervisor::has_processes(self, app)
    }

    fn is_asleep(&self, app: &str) -> bool {
        Supervisor::is_idle(self, app)
    }

    fn idle_for(&self, app: &AppName) -> Option<Duration> {
        Supervisor::idle_for(self, app)
    }

    fn log_line(&self, app: &AppName, version: Option<i64>, source: &str, text: &str) {
        Supervisor::log_line(self, app, version, source, text)
    }

    async fn read_log(&self, app: &AppName, query: &LogQuery) -> AppOutput {
        Supervisor::read_log(self, app, query).await
    }

    async fn run_once(
        &self,
        shared: &Shared,
        command: &OneOff<'_>,
        cancel: &Cancel,
        output: OutputSink<'_>,
    ) -> Result<Exit> {
        oneoff::run(shared, command, cancel, output).await
    }
}
