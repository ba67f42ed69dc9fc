//! `slipway env show|reset APP`.

use serde_json::Value;

use crate::cli::{EnvArgs, EnvCommand};
use crate::client::{app_path, print_json, short_commit, short_time, Client};

pub fn run(args: EnvArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    match args.command {
        EnvCommand::Show { app, json } => {
            let app = app.resolve()?;
            let env = client.get(&format!("{}/env", app_path(&app)))?;
            if json {
                return print_json(&env);
            }
            show(&app, &env);
            Ok(())
        }
        EnvCommand::Reset { app } => {
            let app = app.resolve()?;
            let answer = client.post(&format!("{}/env/reset", app_path(&app)), None)?;
            let deployment = &answer["deployment"];
            if deployment.is_null() {
                println!("{}", answer["message"].as_str().unwrap_or("env deleted"));
                return Ok(());
            }
            let number = super::deployments::number_of(deployment)?;
            eprintln!(
                "Resetting env of `{app}`: redeploying commit {} with a fresh env as v{number}.",
                short_commit(&deployment["commit"])
            );
            super::deployments::follow_to_end(&client, &app, number)
        }
    }
}

fn show(app: &str, env: &Value) {
    let path = env["path"].as_str().unwrap_or("env");
    if env["exists"] == false {
        println!("App `{app}` has no env yet ({path}); the next deployment creates it.");
        return;
    }
    let marker = &env["marker"];
    println!("Path:        {path}");
    if let Some(problem) = marker["problem"].as_str() {
        println!("Marker:      unusable ({problem}); the next deployment recreates env");
    } else {
        println!(
            "Python:      {} {}",
            marker["implementation"].as_str().unwrap_or("?"),
            marker["python_version"].as_str().unwrap_or("?")
        );
        println!("Created at:  {}", short_time(&marker["created_at"]));
        println!("Installer:   {}", marker["installer"].as_str().unwrap_or("?"));
    }
    let megabytes = env["size_bytes"].as_f64().unwrap_or(0.0) / 1_000_000.0;
    println!("Size:        {megabytes:.1} MB");
    let packages = env["packages"].as_array().cloned().unwrap_or_default();
    println!("Packages:    {}", packages.len());
    for package in &packages {
        println!("  {}=={}", package["name"].as_str().unwrap_or("?"), package["version"].as_str().unwrap_or("?"));
    }
}
