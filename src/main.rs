//! The `slipway` command. Thin: it parses arguments and calls the build engine (`slipway-build`).

mod app_arg;
mod cli;
mod client;
mod commands;
mod saved_login;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !cli.command.is_internal() {
        restore_default_sigpipe();
    }
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<cli::UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `slipway deployments web | head -3` should end quietly, as `ls | head` does: Rust ignores
/// SIGPIPE, which turns the closed pipe into a panic in `println!`. The server and the commands
/// it runs keep ignoring it: for them a closed pipe is an error to handle, not a reason to die.
fn restore_default_sigpipe() {
    // SAFETY: called once at start-up, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
