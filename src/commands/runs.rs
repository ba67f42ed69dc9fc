//! `slipway run APP -- CMD…`: the command runs in the app's live release; its output streams here
//! and its exit code becomes this command's.

use serde_json::json;

use crate::cli::RunArgs;
use crate::client::{app_path, Client};

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let app = args.app.resolve()?;
    let command = shell_words::join(&args.command);
    let mut exit_code = None;
    let mut outcome = String::new();
    client.stream_json_lines(&format!("{}/run", app_path(&app)), json!({ "command": command }), |event| {
        if let Some(line) = event["line"].as_str() {
            println!("{line}");
        } else if let Some(id) = event["run"].as_i64() {
            eprintln!("Running `{command}` in `{app}` (run {id})…");
        } else if event.get("outcome").is_some() {
            exit_code = Some(event["exit_code"].as_i64());
            outcome = event["outcome"].as_str().unwrap_or_default().to_string();
        }
    })?;
    match exit_code {
        Some(Some(0)) => Ok(()),
        Some(code) => {
            eprintln!("error: `{command}` failed ({outcome})");
            std::process::exit(code.and_then(|c| i32::try_from(c).ok()).filter(|c| *c != 0).unwrap_or(1));
        }
        None => anyhow::bail!("the server ended the run's answer before saying how it ended"),
    }
}
