//! `slipway logs [APP] [-n N] [-f] [--source S]`: the app's log — its processes' output, a
//! router line per request, the release phase — and `slipway logs APP VERSION`, a deployment's.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use crate::cli::LogsArgs;
use crate::client::{app_path, seg, Client};

pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let (app, number) = args.app.resolve_with_version(args.number)?;
    if let Some(number) = number {
        return super::deployments::deployment_log(&client, &app, number, args.follow);
    }
    let source = args.source.as_deref().map(|s| format!("&source={}", seg(s))).unwrap_or_default();
    let path = format!("{}/logs", app_path(&app));
    let (chunk, mut offset) = client.get_log_chunk(&format!("{path}?lines={}{source}", args.lines))?;
    let mut stdout = std::io::stdout();
    write(&mut stdout, &chunk)?;
    if chunk.is_empty() && !args.follow {
        match &args.source {
            Some(source) => eprintln!(
                "no lines from `{source}` in the log of `{app}` (sources: web, worker and the other process types, `web.1` for one process, router, release, webhook)"
            ),
            None => eprintln!("app `{app}` has no log lines yet: its processes' output and its requests show up here"),
        }
    }
    if !args.follow {
        return Ok(());
    }
    // Until interrupted, like `tail -f`.
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let after = offset.map(|o| format!("offset={o}")).unwrap_or_default();
        let (chunk, next) = client.get_log_chunk(&format!("{path}?{after}{source}"))?;
        write(&mut stdout, &chunk)?;
        offset = next.or(offset);
    }
}

fn write(stdout: &mut std::io::Stdout, bytes: &[u8]) -> anyhow::Result<()> {
    stdout.write_all(bytes).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}
