//! `slipway instances`: the instances sharing the server's store.

use serde_json::Value;

use crate::cli::InstancesArgs;
use crate::client::{print_json, print_table, short_time, Client};

pub fn run(args: InstancesArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let instances = client.get("/api/instances")?;
    if args.json {
        return print_json(&instances);
    }
    let rows: Vec<Vec<String>> = instances.as_array().cloned().unwrap_or_default().iter().map(row).collect();
    print_table(&["NAME", "STATE", "URL", "PID", "STARTED", "LAST SEEN", "PROCESSES"], &rows);
    Ok(())
}

fn row(instance: &Value) -> Vec<String> {
    let name = instance["name"].as_str().unwrap_or("?");
    vec![
        if instance["this"] == true { format!("{name} (this one)") } else { name.to_string() },
        instance["state"].as_str().unwrap_or("?").to_string(),
        instance["url"].as_str().unwrap_or("-").to_string(),
        instance["pid"].to_string(),
        short_time(&instance["started_at"]),
        short_time(&instance["seen_at"]),
        format!("{} of {} apps", instance["processes"], instance["apps"]),
    ]
}
