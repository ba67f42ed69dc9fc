//! `slipway domains list|add|remove|cert APP …`.

use anyhow::Context;
use serde_json::{json, Value};

use crate::app_arg;
use crate::cli::{DomainsArgs, DomainsCommand};
use crate::client::{app_path, print_json, print_table, seg, short_time, Client};

pub fn run(args: DomainsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    match args.command {
        DomainsCommand::List { app, json } => {
            let app = app.resolve()?;
            let domains = client.get(&format!("{}/domains", app_path(&app)))?;
            if json {
                return print_json(&domains);
            }
            let rows: Vec<Vec<String>> = domains.as_array().cloned().unwrap_or_default().iter().map(row).collect();
            print_table(&["DOMAIN", "KIND", "CERTIFICATE", "ISSUER", "EXPIRES", "URL"], &rows);
            for domain in domains.as_array().into_iter().flatten() {
                if let Some(error) = domain["certificate"]["last_error"].as_str() {
                    eprintln!(
                        "{}: the last attempt to obtain its certificate failed: {error}",
                        domain["domain"].as_str().unwrap_or("?")
                    );
                }
            }
            Ok(())
        }
        DomainsCommand::Add { args } => {
            let (app, domain) = app_and_domain(args)?;
            let added = client.post(&format!("{}/domains", app_path(&app)), Some(json!({ "domain": domain })))?;
            println!("`{app}` answers on {} now.", added["url"].as_str().unwrap_or(&domain));
            if added["certificate"]["state"] == "pending" {
                println!("Its certificate is being obtained: `slipway domains list {app}` shows when it is issued.");
            }
            Ok(())
        }
        DomainsCommand::Remove { args } => {
            let (app, domain) = app_and_domain(args)?;
            client.delete(&format!("{}/domains/{}", app_path(&app), seg(&domain)))?;
            println!("{domain} no longer leads to `{app}`.");
            Ok(())
        }
        DomainsCommand::Cert { args, cert, key } => {
            let (app, domain) = app_and_domain(args)?;
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
            };
            let body = json!({ "certificate": read(&cert)?, "key": read(&key)? });
            let path = format!("{}/domains/{}/certificate", app_path(&app), seg(&domain));
            let (view, _) = client.send_reading_header("PUT", &path, Some(body), "content-type")?;
            let certificate = &view["certificate"];
            println!(
                "{domain} is served with your certificate (issuer {}, expires {}).",
                certificate["issuer"].as_str().unwrap_or("-"),
                short_time(&certificate["not_after"])
            );
            Ok(())
        }
    }
}

/// `[APP] DOMAIN`: with one argument, the app comes from the git remote.
fn app_and_domain(args: Vec<String>) -> anyhow::Result<(String, String)> {
    let (app, mut rest) = app_arg::split_leading_app(args, |_, count| count == 2)?;
    Ok((app, rest.pop().unwrap_or_default()))
}

fn row(domain: &Value) -> Vec<String> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let certificate = &domain["certificate"];
    vec![
        text(&domain["domain"]),
        text(&domain["kind"]),
        if certificate.is_null() { "-".to_string() } else { text(&certificate["state"]) },
        text(&certificate["issuer"]),
        if certificate["not_after"].is_null() { "-".to_string() } else { short_time(&certificate["not_after"]) },
        text(&domain["url"]),
    ]
}
