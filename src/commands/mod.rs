//! One module per command; each turns parsed arguments into calls to the engine.

mod build;
mod deployment_script;
mod hook;
mod runtimes;
mod serve;

use std::path::PathBuf;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let cache_dir = cli.cache_dir.or_else(default_cache_dir);
    match cli.command {
        Command::Build(args) => build::run(args, cache_dir),
        Command::Runtimes(args) => runtimes::run(args, cache_dir),
        Command::DeploymentScript => deployment_script::run(),
        Command::Serve(args) => serve::run(args),
        Command::Hook { .. } => hook::run(),
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"));
    xdg.or(home).map(|dir| dir.join("slipway"))
}
