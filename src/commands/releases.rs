//! `slipway releases APP` and `slipway rollback APP [VERSION]`.

use serde_json::json;

use super::deployments::version;
use crate::cli::{AppTableArgs, RollbackArgs};
use crate::client::{app_path, print_json, print_table, short_commit, short_time, truncate, Client};

pub fn list(args: AppTableArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let app = args.app.resolve()?;
    let releases = client.get(&format!("{}/releases", app_path(&app)))?;
    if args.json {
        return print_json(&releases);
    }
    let releases = releases.as_array().cloned().unwrap_or_default();
    if releases.is_empty() {
        println!("App `{}` has no releases yet: a successful deployment makes one.", app);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = releases
        .iter()
        .map(|r| {
            vec![
                version(r),
                if r["active"] == true { "*".into() } else { String::new() },
                short_commit(&r["commit"]),
                r["python_version"].as_str().unwrap_or("-").to_string(),
                short_time(&r["ended_at"]),
                truncate(r["message"].as_str().unwrap_or(""), 50),
            ]
        })
        .collect();
    print_table(&["VERSION", "LIVE", "COMMIT", "PYTHON", "DEPLOYED AT", "MESSAGE"], &rows);
    Ok(())
}

pub fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let (app, number) = args.app.resolve_with_version(args.number)?;
    let body = number.map(|number| json!({ "deployment": format!("v{number}") }));
    let live = client.post(&format!("{}/rollback", app_path(&app)), body)?;
    println!(
        "`{}` now runs release {} (commit {}, \"{}\").",
        app,
        version(&live),
        short_commit(&live["commit"]),
        truncate(live["message"].as_str().unwrap_or(""), 60)
    );
    Ok(())
}
