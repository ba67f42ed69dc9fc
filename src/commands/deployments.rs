//! `slipway deployments APP`, `slipway logs APP [VERSION] [-f]`, `slipway redeploy APP [VERSION]
//! [--clean-env]`, `slipway cancel APP [VERSION]`. Deployments are named by their number among the
//! app's: `v3`.

use std::io::Write;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use crate::cli::{AppTableArgs, CancelArgs, RedeployArgs};
use crate::client::{
    app_path, deployment_path, duration, print_json, print_table, short_commit, short_time, truncate, Client,
};

pub fn list(args: AppTableArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let app = args.app.resolve()?;
    let deployments = client.get(&format!("{}/deployments", app_path(&app)))?;
    if args.json {
        return print_json(&deployments);
    }
    let deployments = deployments.as_array().cloned().unwrap_or_default();
    if deployments.is_empty() {
        println!(
            "App `{}` has no deployments yet: push to it with git (`slipway apps show {}` has the URL).",
            app, app
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = deployments
        .iter()
        .map(|d| {
            vec![
                version(d),
                d["status"].as_str().unwrap_or("-").to_string(),
                if d["active"] == true { "*".into() } else { String::new() },
                short_commit(&d["commit"]),
                d["trigger"].as_str().unwrap_or("-").to_string(),
                short_time(&d["started_at"]),
                duration(d),
                truncate(d["message"].as_str().unwrap_or(""), 50),
            ]
        })
        .collect();
    print_table(&["VERSION", "STATUS", "ACTIVE", "COMMIT", "TRIGGER", "STARTED", "DURATION", "MESSAGE"], &rows);
    Ok(())
}

/// `slipway logs APP VERSION`: a deployment's build log, or follows it to its end.
pub fn deployment_log(client: &Client, app: &str, number: i64, follow: bool) -> anyhow::Result<()> {
    if follow {
        let deployment = client.follow(app, number)?;
        eprintln!("{}", summary(&deployment));
        return Ok(());
    }
    let log = client.get_bytes(&format!("{}/log", deployment_path(app, number)))?;
    let mut stdout = std::io::stdout();
    stdout.write_all(&log).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    Ok(())
}

pub fn redeploy(args: RedeployArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let (app, number) = args.app.resolve_with_version(args.number)?;
    let number = match number {
        Some(number) => number,
        None => {
            let summary = client.get(&app_path(&app))?;
            summary["active_deployment"]["number"].as_i64().ok_or_else(|| {
                anyhow!("app `{app}` has no active deployment to redeploy: pass a deployment such as `v3` (see `slipway deployments {app}`)")
            })?
        }
    };
    let started = client
        .post(&format!("{}/redeploy", deployment_path(&app, number)), Some(json!({ "clean_env": args.clean_env })))?;
    let new = number_of(&started)?;
    eprintln!(
        "Redeploying commit {} of v{number} as v{new}{}.",
        short_commit(&started["commit"]),
        if args.clean_env { " with a fresh env" } else { "" }
    );
    follow_to_end(&client, &app, new)
}

pub fn cancel(args: CancelArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let (app, number) = args.app.resolve_with_version(args.number)?;
    let number = match number {
        Some(number) => number,
        None => {
            let deployments = client.get(&format!("{}/deployments", app_path(&app)))?;
            let running = deployments.as_array().and_then(|list| {
                list.iter()
                    .find(|d| !matches!(d["status"].as_str(), Some("success" | "failed")))
                    .and_then(|d| d["number"].as_i64())
            });
            running.ok_or_else(|| anyhow!("app `{}` has no running deployment to cancel", app))?
        }
    };
    client.post(&format!("{}/cancel", deployment_path(&app, number)), None)?;
    let deployment = client.follow(&app, number)?;
    eprintln!("{}", summary(&deployment));
    Ok(())
}

/// Follows a deployment the command started: fails when the deployment fails.
pub fn follow_to_end(client: &Client, app: &str, number: i64) -> anyhow::Result<()> {
    let deployment = client.follow(app, number)?;
    if deployment["status"] == "success" {
        eprintln!("{}", summary(&deployment));
        return Ok(());
    }
    match deployment["reason"].as_str() {
        Some(reason) => bail!("deployment v{number} of `{app}` failed: {reason}"),
        None => bail!("deployment v{number} of `{app}` failed (see `slipway logs {app} v{number}`)"),
    }
}

/// The number of a deployment the server answered with.
pub fn number_of(deployment: &Value) -> anyhow::Result<i64> {
    deployment["number"].as_i64().ok_or_else(|| anyhow!("the server's answer has no deployment number: {deployment}"))
}

/// `v3`, as tables show a deployment.
pub fn version(deployment: &Value) -> String {
    format!("v{}", deployment["number"])
}

fn summary(deployment: &Value) -> String {
    let v = version(deployment);
    match deployment["status"].as_str() {
        Some("success") => format!("Deployment {v} succeeded in {}.", duration(deployment)),
        Some("failed") => match deployment["reason"].as_str() {
            Some(reason) => format!("Deployment {v} failed: {reason}"),
            None => format!("Deployment {v} failed."),
        },
        Some(status) => format!("Deployment {v} is {status}."),
        None => format!("Deployment {v}."),
    }
}
