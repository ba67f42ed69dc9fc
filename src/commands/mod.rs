//! One module per command; each turns parsed arguments into calls to the engine.

mod apps;
mod build;
mod config;
mod cron;
mod db;
mod deploy;
mod deployment_script;
mod deployments;
mod domains;
mod env;
mod hook;
mod instances;
mod login;
mod logs;
mod processes;
mod releases;
mod runs;
mod runtimes;
mod serve;

use std::path::PathBuf;

use crate::cli::{CacheArgs, Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build(args) => {
            let cache_dir = cache_dir(&args.cache);
            build::run(args, cache_dir)
        }
        Command::BuildJob => build::job(),
        Command::Runtimes(args) => {
            let cache_dir = cache_dir(&args.cache);
            runtimes::run(args, cache_dir)
        }
        Command::DeploymentScript => deployment_script::run(),
        Command::Serve(args) => serve::run(args),
        Command::Db(args) => db::run(args),
        Command::Instances(args) => instances::run(args),
        Command::Login(args) => login::login(args),
        Command::Logout => login::logout(),
        Command::Open(args) => apps::open(args),
        Command::Hook { .. } => hook::run(),
        Command::Apps(args) => apps::run(args),
        Command::Config(args) => config::run(args),
        Command::Deployments(args) => deployments::list(args),
        Command::Logs(args) => logs::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Webhook(args) => deploy::webhook(args),
        Command::Redeploy(args) => deployments::redeploy(args),
        Command::Releases(args) => releases::list(args),
        Command::Rollback(args) => releases::rollback(args),
        Command::Cancel(args) => deployments::cancel(args),
        Command::Env(args) => env::run(args),
        Command::Ps(args) => processes::run(args),
        Command::Run(args) => runs::run(args),
        Command::Cron(args) => cron::run(args),
        Command::Domains(args) => domains::run(args),
    }
}

fn cache_dir(args: &CacheArgs) -> Option<PathBuf> {
    args.cache_dir.clone().or_else(default_cache_dir)
}

fn default_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"));
    xdg.or(home).map(|dir| dir.join("slipway"))
}
