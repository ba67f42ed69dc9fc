//! `slipway apps create|list|show|delete|reset-password|restart|stop|start`.

use anyhow::bail;
use serde_json::{json, Value};

use crate::cli::{AppsArgs, AppsCommand, OpenArgs};
use crate::client::{app_path, print_json, print_table, short_commit, short_time, Client};

pub fn run(args: AppsArgs) -> anyhow::Result<()> {
    // Refuse before asking anything of the server.
    if let AppsCommand::Delete { name, yes: false } = &args.command {
        let name = name.clone().resolve()?;
        bail!("deleting app `{name}` removes its repository, code, env and logs for good: run `slipway apps delete {name} --yes`");
    }
    let client = Client::new(&args.client)?;
    match args.command {
        AppsCommand::Create { name, json } => {
            let app = client.post("/api/apps", Some(json!({ "name": name })))?;
            if json {
                return print_json(&app);
            }
            println!("Created app `{}`.", text(&app["name"]));
            print_credentials(&app);
            Ok(())
        }
        AppsCommand::List { json } => {
            let apps = client.get("/api/apps")?;
            if json {
                return print_json(&apps);
            }
            let apps = apps.as_array().cloned().unwrap_or_default();
            if apps.is_empty() {
                println!("No apps yet: create one with `slipway apps create NAME`.");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = apps.iter().map(list_row).collect();
            print_table(&["NAME", "STATUS", "LIVE", "COMMIT", "DEPLOYED AT"], &rows);
            Ok(())
        }
        AppsCommand::Show { name, json } => {
            let app = client.get(&app_path(&name.resolve()?))?;
            if json {
                return print_json(&app);
            }
            println!("Name:        {}", text(&app["name"]));
            println!("Created at:  {}", short_time(&app["created_at"]));
            println!("Git URL:     {}", text(&app["git_url"]));
            println!("FTP host:    {}", text(&app["ftp_host"]));
            println!("FTP user:    {}", text(&app["ftp_user"]));
            println!("URL:         {}", text(&app["url"]));
            println!("Process:     {}", text(&app["process"]["state"]));
            if let Some(exit) = app["process"]["last_exit"].as_str() {
                println!("Last exit:   {exit}");
            }
            let active = &app["active_deployment"];
            if active.is_object() {
                println!(
                    "Active:      deployment {} ({}), commit {} \"{}\", deployed at {}",
                    super::deployments::version(active),
                    text(&active["status"]),
                    short_commit(&active["commit"]),
                    crate::client::truncate(active["message"].as_str().unwrap_or(""), 60),
                    short_time(if active["ended_at"].is_string() {
                        &active["ended_at"]
                    } else {
                        &active["started_at"]
                    }),
                );
                let last = &app["last_deployment"];
                if last["id"] != active["id"] {
                    println!("Last:        {}", last_deployment(last));
                }
                let branch = text(&app["branch"]);
                match app["live_from"].as_str() {
                    Some("zipdeploy") => {
                        println!("Live:        code uploaded by zipdeploy (`slipway deploy`), not from `{branch}`")
                    }
                    Some("webhook") => println!("Live:        a push to DEPLOYMENT_REPOSITORY, fetched by the webhook"),
                    Some("branch-head") => println!("Live:        the head of `{branch}`"),
                    _ => println!(
                        "Live:        not the head of `{branch}` (a rollback or a redeploy); `{branch}` is at {}",
                        short_commit(&app["branch_head"])
                    ),
                }
            } else if app["last_deployment"].is_object() {
                println!("Active:      none: {}", last_deployment(&app["last_deployment"]));
            } else {
                println!("Active:      none yet (push to deploy)");
            }
            if let Some(requests) = super::processes::requests_summary(&app["requests"]) {
                println!("Requests:    {requests}");
            }
            Ok(())
        }
        AppsCommand::Delete { name, .. } => {
            let name = name.resolve()?;
            client.delete(&app_path(&name))?;
            println!("Deleted app `{name}`.");
            Ok(())
        }
        AppsCommand::Restart { name } | AppsCommand::Start { name } => {
            let app = client.post(&format!("{}/restart", app_path(&name.resolve()?)), None)?;
            print_process(&app);
            Ok(())
        }
        AppsCommand::Stop { name } => {
            let app = client.post(&format!("{}/stop", app_path(&name.resolve()?)), None)?;
            print_process(&app);
            Ok(())
        }
        AppsCommand::ResetPassword { name, json } => {
            let app = client.post(&format!("{}/credentials/reset", app_path(&name.resolve()?)), None)?;
            if json {
                return print_json(&app);
            }
            println!("New deployment password for `{}`; the old one no longer works.", text(&app["name"]));
            print_credentials(&app);
            Ok(())
        }
    }
}

/// `slipway open [APP]`: the app's most specific URL (a custom domain, else the base domain's
/// name, else `<app>.localhost`), in a browser when there is one.
pub fn open(args: OpenArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let app = args.app.resolve()?;
    let domains = client.get(&format!("{}/domains", app_path(&app)))?;
    let url = domains
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["url"].as_str())
        .next_back()
        .map(str::to_string)
        .unwrap_or(text(&client.get(&app_path(&app))?["url"]));
    println!("{url}");
    let browser = std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty()).unwrap_or_else(|| "xdg-open".into());
    let opened = std::process::Command::new(&browser)
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !opened.is_ok_and(|status| status.success()) {
        eprintln!("(no browser opened it: set BROWSER, or open the URL yourself)");
    }
    Ok(())
}

/// The process line after restart, start or stop.
fn print_process(app: &Value) {
    let process = &app["process"];
    match (process["state"].as_str(), process["port"].as_u64(), process["pid"].as_u64()) {
        (Some("running"), Some(port), Some(pid)) => {
            println!("{} is running (pid {pid}, port {port}): {}", text(&app["name"]), text(&app["url"]))
        }
        (state, ..) => println!("{} is {}", text(&app["name"]), state.unwrap_or("unknown")),
    }
}

fn print_credentials(app: &Value) {
    let name = text(&app["name"]);
    let password = text(&app["password"]);
    let git_url = text(&app["git_url"]);
    println!("Git URL:   {git_url}");
    println!("FTP host:  {}", text(&app["ftp_host"]));
    println!("FTP user:  {}", text(&app["ftp_user"]));
    println!("Password:  {password}");
    println!("This password is shown only once and won't be shown again (`slipway apps reset-password {name}` makes a new one).");
    println!();
    let remote = match git_url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{name}:{password}@{rest}"),
        None => git_url.clone(),
    };
    match crate::app_arg::add_remote_here(&remote) {
        crate::app_arg::RemoteAdded::Added => {
            println!("Added the git remote `slipway` to this repository. Deploy with:");
        }
        crate::app_arg::RemoteAdded::Exists => {
            println!("This repository already has a remote `slipway` (left as it is). Deploy with git:");
            println!("  git remote set-url slipway {remote}");
        }
        crate::app_arg::RemoteAdded::NoRepository => {
            println!("Deploy with git:");
            println!("  git remote add slipway {remote}");
        }
    }
    println!("  git push slipway main");
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// `NAME STATUS LIVE COMMIT DEPLOYED-AT`. STATUS is the newest deployment's fate: `failed` while an
/// older release still serves is what a user needs to see first; `rolled-back` when the live
/// release is another commit of the branch's repository (not an upload or a webhook's push).
fn list_row(app: &Value) -> Vec<String> {
    let (active, last) = (&app["active_deployment"], &app["last_deployment"]);
    let status = match last["status"].as_str() {
        None => "not deployed".to_string(),
        Some("success") if app["live_from"] == "other-commit" => "rolled-back".to_string(),
        Some("success") => "deployed".to_string(),
        Some(other) => other.to_string(),
    };
    if !active.is_object() {
        return vec![text(&app["name"]), status, "-".into(), "-".into(), "-".into()];
    }
    vec![
        text(&app["name"]),
        status,
        super::deployments::version(active),
        short_commit(&active["commit"]),
        short_time(if active["ended_at"].is_string() { &active["ended_at"] } else { &active["started_at"] }),
    ]
}

/// `v4 failed: <reason>` — what became of the newest deployment.
fn last_deployment(last: &Value) -> String {
    let fate = format!("{} {}", super::deployments::version(last), text(&last["status"]));
    match last["reason"].as_str() {
        Some(reason) => format!("{fate}: {}", crate::client::truncate(reason, 80)),
        None => fate,
    }
}
