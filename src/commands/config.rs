//! `slipway config list|set|unset APP`.

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::Value;

use crate::cli::{ConfigArgs, ConfigCommand, UsageError};
use slipway_server::service::settings::Applied;

use crate::app_arg;
use crate::client::{app_path, print_json, seg, Client};
use slipway_server::app_name::AppName;

pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    // Check the arguments before asking anything of the server.
    let pairs = match &args.command {
        ConfigCommand::Set { args, global: true, .. } => parse_pairs(args)?,
        ConfigCommand::Set { args, .. } => {
            let leading_app = args.first().is_some_and(|first| app_arg::unless_pair(first, args.len()));
            parse_pairs(&args[usize::from(leading_app)..])?
        }
        _ => BTreeMap::new(),
    };
    let client = Client::new(&args.client)?;
    match args.command {
        ConfigCommand::List { global: true, json, reveal, .. } => {
            let settings = client.get(&format!("/api/settings{}", reveal_query(reveal)))?;
            if json {
                return print_json(&settings);
            }
            if as_map(&settings).is_empty() {
                eprintln!("no server-wide settings");
            }
            print_settings(&as_map(&settings));
            Ok(())
        }
        ConfigCommand::List { app, json, reveal, .. } => {
            let app = app.resolve()?;
            let own = client.get(&format!("{}/settings{}", app_path(&app), reveal_query(reveal)))?;
            if json {
                return print_json(&own);
            }
            let own = as_map(&own);
            let mut inherited = as_map(&client.get(&format!("/api/settings{}", reveal_query(reveal)))?);
            inherited.retain(|key, _| !own.contains_key(key));
            if own.is_empty() {
                eprintln!("app `{app}` has no settings of its own");
            }
            print_settings(&own);
            if !inherited.is_empty() {
                println!("# server-wide, not set on the app:");
                print_settings(&inherited);
            }
            Ok(())
        }
        ConfigCommand::Set { global: true, .. } => {
            client.put("/api/settings", pairs_body(&pairs))?;
            let keys: Vec<&str> = pairs.keys().map(String::as_str).collect();
            println!(
                "Set {} server-wide: every app that does not set it gets it at its next deployment or restart.",
                keys.join(", ")
            );
            Ok(())
        }
        ConfigCommand::Set { args, no_restart, .. } => {
            let (app, _) = app_arg::split_leading_app(args, app_arg::unless_pair)?;
            let path = format!("{}/settings{}", app_path(&app), restart_query(no_restart));
            let (_, applied) = client.send_reading_header("PUT", &path, Some(pairs_body(&pairs)), APPLIED_HEADER)?;
            let keys: Vec<&str> = pairs.keys().map(String::as_str).collect();
            println!("Set {} on `{app}`: {}.", keys.join(", "), describe_applied(applied.as_deref()));
            Ok(())
        }
        ConfigCommand::Unset { args: keys, global: true, .. } => {
            let settings = client.get("/api/settings")?;
            if let Some(missing) = keys.iter().find(|k| settings.get(k.as_str()).is_none()) {
                bail!("no server-wide setting `{missing}`");
            }
            for key in &keys {
                client.delete(&format!("/api/settings/{}", seg(key)))?;
            }
            println!("Unset {} server-wide.", keys.join(", "));
            Ok(())
        }
        ConfigCommand::Unset { args, no_restart, .. } => {
            // A lone argument is the key; before keys, an app name (lowercase, unlike keys).
            let leading_app = |first: &str, count: usize| count > 1 && AppName::parse(first).is_ok();
            let (app, keys) = app_arg::split_leading_app(args, leading_app)?;
            // Check all keys first so that a typo removes nothing.
            let settings = client.get(&format!("{}/settings", app_path(&app)))?;
            if let Some(missing) = keys.iter().find(|k| settings.get(k.as_str()).is_none()) {
                bail!("app `{app}` has no setting `{missing}`");
            }
            // One restart, after the last key goes.
            let mut applied = None;
            for (index, key) in keys.iter().enumerate() {
                let defer = no_restart || index + 1 < keys.len();
                let path = format!("{}/settings/{}{}", app_path(&app), seg(key), restart_query(defer));
                applied = client.send_reading_header("DELETE", &path, None, APPLIED_HEADER)?.1;
            }
            println!("Unset {} on `{app}`: {}.", keys.join(", "), describe_applied(applied.as_deref()));
            Ok(())
        }
    }
}

fn as_map(settings: &Value) -> serde_json::Map<String, Value> {
    settings.as_object().cloned().unwrap_or_default()
}

fn print_settings(settings: &serde_json::Map<String, Value>) {
    for (key, value) in settings {
        println!("{key}={}", value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()));
    }
}

fn pairs_body(pairs: &BTreeMap<String, String>) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

fn reveal_query(reveal: bool) -> &'static str {
    if reveal {
        "?reveal=true"
    } else {
        ""
    }
}

/// The API's answer to a change of settings: what it did to the app's processes.
const APPLIED_HEADER: &str = "x-slipway-applied";

fn restart_query(no_restart: bool) -> &'static str {
    if no_restart {
        "?restart=false"
    } else {
        ""
    }
}

fn describe_applied(applied: Option<&str>) -> &'static str {
    let applied = applied.and_then(|a| serde_json::from_value::<Applied>(Value::String(a.to_string())).ok());
    applied.unwrap_or(Applied::Deferred).describe()
}

/// `KEY=VALUE` arguments; the value may be empty and may contain `=`.
fn parse_pairs<'a>(args: impl IntoIterator<Item = &'a String>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut pairs = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                pairs.insert(key.to_string(), value.to_string());
            }
            Some(_) => {
                let why =
                    format!("invalid argument `{arg}`: the setting name before `=` is empty (expected KEY=VALUE)");
                return Err(UsageError(why).into());
            }
            None => return Err(UsageError(format!("invalid argument `{arg}`: expected KEY=VALUE")).into()),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_need_an_equals_sign_and_a_key() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let ok = parse_pairs(&args(&["A=1", "B=x=y", "C="])).unwrap();
        assert_eq!(ok["B"], "x=y");
        assert_eq!(ok["C"], "");
        let error = parse_pairs(&args(&["A=1", "OOPS"])).unwrap_err().to_string();
        assert_eq!(error, "invalid argument `OOPS`: expected KEY=VALUE");
        assert!(parse_pairs(&args(&["=v"])).unwrap_err().to_string().contains("`=v`"));
    }
}
