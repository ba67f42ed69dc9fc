//! `slipway cron APP` (the jobs with their last and next runs) and `slipway cron APP run N`.

use serde_json::Value;

use crate::cli::{CronArgs, CronCommand};
use crate::client::{app_path, print_json, print_table, short_time, Client};

pub fn run(args: CronArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let app = args.app.resolve()?;
    if let Some(CronCommand::Run { number }) = args.command {
        let answer = client.post(&format!("{}/cron/{number}/run", app_path(&app)), None)?;
        if args.json {
            return print_json(&answer);
        }
        match answer["run"]["id"].as_i64() {
            Some(id) => println!("Cron job {number} of `{}` started as run {id}.", app),
            None => {
                println!("Cron job {number} of `{}` was skipped: its previous run has not ended (forbid).", app)
            }
        }
        return Ok(());
    }
    let jobs = client.get(&format!("{}/cron", app_path(&app)))?;
    if args.json {
        return print_json(&jobs);
    }
    let jobs = jobs.as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        eprintln!("app `{}` has no cron jobs (app.json's `cron` lists them)", app);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = jobs.iter().map(row).collect();
    print_table(&["#", "SCHEDULE", "POLICY", "LAST RUN", "EXIT", "NEXT RUN (UTC)", "COMMAND"], &rows);
    Ok(())
}

fn row(job: &Value) -> Vec<String> {
    let last = &job["last_run"];
    let exit = match (&last["exit_code"], &last["ended_at"], last.is_null()) {
        (_, _, true) => "-".to_string(),
        (_, Value::Null, false) => "running".to_string(),
        (Value::Null, _, false) => last["outcome"].as_str().unwrap_or("-").to_string(),
        (code, _, false) => code.to_string(),
    };
    vec![
        job["number"].to_string(),
        job["schedule"].as_str().unwrap_or_default().to_string(),
        job["concurrency_policy"].as_str().unwrap_or_default().to_string(),
        if last.is_null() { "never".to_string() } else { short_time(&last["started_at"]) },
        exit,
        short_time(&job["next_run"]),
        job["command"].as_str().unwrap_or_default().to_string(),
    ]
}
