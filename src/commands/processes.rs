//! `slipway ps APP` and `slipway ps scale APP TYPE=COUNT…`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::app_arg;
use crate::cli::{PsArgs, PsCommand, UsageError};
use crate::client::{app_path, print_json, print_table, Client};

pub fn run(args: PsArgs) -> anyhow::Result<()> {
    let (app, answer) = match args.command {
        Some(PsCommand::Scale { args: given }) => {
            let (app, counts) = app_arg::split_leading_app(given, app_arg::unless_pair)?;
            let counts = parse_counts(&counts)?;
            let client = Client::new(&args.table.client)?;
            let answer = client.post(&format!("{}/ps/scale", app_path(&app)), Some(serde_json::to_value(&counts)?))?;
            (app, answer)
        }
        None => {
            let app = args.table.app.resolve()?;
            let client = Client::new(&args.table.client)?;
            let answer = client.get(&format!("{}/ps", app_path(&app)))?;
            (app, answer)
        }
    };
    if args.table.json {
        return print_json(&answer);
    }
    let processes = answer["processes"].as_array().cloned().unwrap_or_default();
    if processes.is_empty() {
        eprintln!("app `{app}` runs no processes");
    } else {
        let mut header = vec!["NAME", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "MEMORY", "CPU", "COMMAND"];
        let mut rows: Vec<Vec<String>> = processes.iter().map(row).collect();
        // Several instances share the store: each runs the app, and each row says where.
        if processes.iter().any(|p| p["instance"].is_string()) {
            header.insert(0, "INSTANCE");
            for (row, process) in rows.iter_mut().zip(&processes) {
                row.insert(0, process["instance"].as_str().unwrap_or("-").to_string());
            }
        }
        print_table(&header, &rows);
    }
    if let Some(requests) = requests_summary(&answer["requests"]) {
        println!("\nRequests: {requests}");
    }
    Ok(())
}

/// `120 (2xx 117, 5xx 3); p50 3 ms, p95 12 ms, p99 40 ms`: what the proxy saw since the server
/// started, with the latency of the latest requests. `None` before the first request.
pub fn requests_summary(requests: &Value) -> Option<String> {
    let total = requests["requests"].as_u64().filter(|n| *n > 0)?;
    let classes: Vec<String> = requests["status"]
        .as_object()
        .map(|status| status.iter().map(|(class, n)| format!("{class} {n}")).collect())
        .unwrap_or_default();
    let ms = |key: &str| requests[key].as_f64().map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "-".into());
    Some(format!(
        "{total} since the server started ({}); latency p50 {}, p95 {}, p99 {}",
        classes.join(", "),
        ms("p50_ms"),
        ms("p95_ms"),
        ms("p99_ms")
    ))
}

fn row(process: &Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    vec![
        text(&process["name"]),
        text(&process["state"]),
        text(&process["pid"]),
        text(&process["port"]),
        process["uptime"].as_u64().map(uptime).unwrap_or_else(|| "-".into()),
        text(&process["restarts"]),
        process["memory"].as_u64().map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_else(|| "-".into()),
        process["cpu_seconds"].as_f64().map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into()),
        text(&process["command"]),
    ]
}

/// `3h12m`, `4m05s`, `12s`.
fn uptime(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// `web=2 worker=1`.
fn parse_counts(args: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut counts = BTreeMap::new();
    for arg in args {
        let parsed = arg.split_once('=').and_then(|(kind, n)| Some((kind, n.parse::<u32>().ok()?)));
        match parsed {
            Some((kind, count)) if !kind.is_empty() => {
                counts.insert(kind.to_string(), count);
            }
            _ => {
                let why = format!("invalid argument `{arg}`: expected TYPE=COUNT, e.g. `web=2` or `worker=0`");
                return Err(UsageError(why).into());
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_uptimes() {
        let counts = parse_counts(&["web=2".into(), "worker=0".into()]).unwrap();
        assert_eq!(counts, BTreeMap::from([("web".into(), 2), ("worker".into(), 0)]));
        assert!(parse_counts(&["web".into()]).unwrap_err().to_string().contains("expected TYPE=COUNT"));
        assert!(parse_counts(&["web=two".into()]).is_err());
        assert_eq!((uptime(12), uptime(245), uptime(11_520)), ("12s".into(), "4m05s".into(), "3h12m".into()));
    }
}
