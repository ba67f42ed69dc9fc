//! What the pages show, computed from the store, the supervisor and the files on disk: plain
//! values the templates print (askama escapes every one of them).

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

use slipway_build::log::{format_duration, StepOutcome};

use crate::store::{Deployment, Status};
use crate::supervisor::{ProcessInfo, ProcessState};

/// A setting as a page lists it. A masked one shows no input: saving it would store the mask.
pub struct SettingRow {
    pub key: String,
    pub value: String,
    pub masked: bool,
}

/// Settings with their secrets masked, unless the user asked to see them.
pub fn setting_rows(values: BTreeMap<String, String>, revealed: bool) -> Vec<SettingRow> {
    values
        .into_iter()
        .map(|(key, value)| {
            let shown = if revealed { value.clone() } else { crate::settings::masked(&key, &value) };
            SettingRow { masked: shown != value, key, value: shown }
        })
        .collect()
}

/// An app's requests as its page shows them: the numbers, and a bar per minute of the last hour.
pub struct RequestsView {
    pub total: u64,
    /// `2xx 117, 5xx 3`.
    pub classes: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub bars: Vec<ChartBar>,
    /// The busiest minute's count, the chart's full height.
    pub peak: u64,
    /// The chart in words, for screen readers.
    pub summary: String,
    /// The processes' memory (peak per minute) and CPU (share of a core) over the same hour.
    pub memory_bars: Vec<ChartBar>,
    pub memory_peak: String,
    pub cpu_bars: Vec<ChartBar>,
    pub cpu_peak: String,
}

/// One minute of the chart: stacked segments, server errors on top.
pub struct ChartBar {
    pub x: u32,
    pub segments: Vec<ChartSegment>,
    pub title: String,
}

pub struct ChartSegment {
    pub y: String,
    pub height: String,
    /// `ok`, `warn`, `bad`, `busy`, `idle`: the colour, in the stylesheet.
    pub tone: &'static str,
}

/// The chart's height in the SVG's units (its viewBox is 600 × 100: 60 bars, 10 apart).
const CHART_HEIGHT: f64 = 100.0;

pub fn requests_view(stats: &crate::metrics::RequestStats) -> RequestsView {
    let minutes: Vec<(String, Vec<(f64, &'static str)>)> = stats
        .per_minute
        .iter()
        .map(|m| {
            let title = format!("{} UTC: {} ok, {} 4xx, {} 5xx", m.minute, m.ok, m.client_errors, m.server_errors);
            (title, vec![(m.ok as f64, "ok"), (m.client_errors as f64, "warn"), (m.server_errors as f64, "bad")])
        })
        .collect();
    let (bars, peak) = chart_bars(minutes);
    let memory = stats
        .usage_per_minute
        .iter()
        .map(|u| (format!("{} UTC: {}", u.minute, human_size(u.memory_bytes)), vec![(u.memory_bytes as f64, "busy")]))
        .collect();
    let (memory_bars, memory_peak) = chart_bars(memory);
    let cpu = stats
        .usage_per_minute
        .iter()
        .map(|u| (format!("{} UTC: {:.0} % of a core", u.minute, u.cpu_percent), vec![(u.cpu_percent, "idle")]))
        .collect();
    let (cpu_bars, cpu_peak) = chart_bars(cpu);
    let ms = |v: Option<f64>| v.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "-".into());
    let classes: Vec<String> = stats.status.iter().map(|(class, n)| format!("{class} {n}")).collect();
    let last_hour: u64 = stats.per_minute.iter().map(|m| m.ok + m.client_errors + m.server_errors).sum();
    RequestsView {
        total: stats.requests,
        classes: classes.join(", "),
        p50: ms(stats.p50_ms),
        p95: ms(stats.p95_ms),
        p99: ms(stats.p99_ms),
        bars,
        peak: peak as u64,
        summary: format!("{last_hour} requests in the last hour, at most {peak} in a minute"),
        memory_bars,
        memory_peak: human_size(memory_peak as u64),
        cpu_bars,
        cpu_peak: format!("{cpu_peak:.0} %"),
    }
}

/// A bar per minute, its segments stacked in the order given, scaled to the highest bar; and
/// that highest total.
fn chart_bars(minutes: Vec<(String, Vec<(f64, &'static str)>)>) -> (Vec<ChartBar>, f64) {
    let peak = minutes.iter().map(|(_, parts)| parts.iter().map(|(v, _)| v).sum::<f64>()).fold(0.0, f64::max);
    let scale = if peak > 0.0 { CHART_HEIGHT / peak } else { 0.0 };
    let bars = minutes
        .into_iter()
        .enumerate()
        .map(|(i, (title, parts))| {
            let mut top = CHART_HEIGHT;
            let segments = parts
                .into_iter()
                .filter(|(value, _)| *value > 0.0)
                .map(|(value, tone)| {
                    let height = value * scale;
                    top -= height;
                    ChartSegment { y: format!("{top:.2}"), height: format!("{height:.2}"), tone }
                })
                .collect();
            ChartBar { x: i as u32 * 10, segments, title }
        })
        .collect();
    (bars, peak)
}

/// A status as a coloured badge that always carries its word (never colour alone).
#[derive(Debug, Clone)]
pub struct Badge {
    pub label: &'static str,
    /// `ok`, `bad`, `busy`, `warn`, `idle`: the colour, in the stylesheet.
    pub tone: &'static str,
    /// A shape that tells the same without colour.
    pub icon: &'static str,
}

pub fn deployment_badge(status: Status) -> Badge {
    match status {
        Status::Pending => Badge { label: "Pending", tone: "idle", icon: "○" },
        Status::Building => Badge { label: "Building", tone: "busy", icon: "◔" },
        Status::Deploying => Badge { label: "Deploying", tone: "busy", icon: "◑" },
        Status::Success => Badge { label: "Succeeded", tone: "ok", icon: "✓" },
        Status::Failed => Badge { label: "Failed", tone: "bad", icon: "✕" },
    }
}

pub fn process_badge(info: &ProcessInfo) -> Badge {
    state_badge(info.state)
}

pub fn state_badge(state: ProcessState) -> Badge {
    match state {
        ProcessState::Running => Badge { label: "Running", tone: "ok", icon: "●" },
        ProcessState::Starting => Badge { label: "Starting", tone: "busy", icon: "◔" },
        ProcessState::Restarting => Badge { label: "Restarting", tone: "warn", icon: "↻" },
        ProcessState::Crashed => Badge { label: "Crashed", tone: "bad", icon: "✕" },
        ProcessState::Stopped => Badge { label: "Stopped", tone: "idle", icon: "■" },
        ProcessState::Idle => Badge { label: "Idle (wakes on request)", tone: "idle", icon: "☾" },
    }
}

/// A time as `2026-05-01 12:03 UTC` and, beside it, how long ago.
#[derive(Debug, Clone, Default)]
pub struct When {
    pub exact: String,
    pub ago: String,
}

pub fn when(t: OffsetDateTime) -> When {
    let t = t.to_offset(time::UtcOffset::UTC);
    When {
        exact: format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        ago: ago(OffsetDateTime::now_utc() - t),
    }
}

fn ago(elapsed: time::Duration) -> String {
    let secs = elapsed.whole_seconds().max(0);
    match secs {
        0..=9 => "just now".to_string(),
        10..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// `4.2s`, `1m 05s`, `2h 03m`.
pub fn duration_text(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = secs as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let s = secs as u64;
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// How long a deployment took (or has been running).
fn elapsed(started: OffsetDateTime, ended: Option<OffsetDateTime>) -> String {
    duration_text((ended.unwrap_or_else(OffsetDateTime::now_utc) - started).as_seconds_f64())
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// One deployment as the lists and its own page show it.
#[derive(Debug, Clone)]
pub struct DeploymentRow {
    pub id: i64,
    /// `v{number}`: its number among the app's deployments.
    pub number: i64,
    pub commit: String,
    pub short_commit: String,
    /// The commit's subject line.
    pub message: String,
    pub author: String,
    pub badge: Badge,
    pub started: When,
    pub duration: String,
    pub finished: bool,
    pub active: bool,
    pub clean_env: bool,
    /// What started it, in words: `push`, `redeploy`, `env reset`.
    pub trigger: String,
    pub reason: String,
    /// Its release is kept: the app can be rolled back to it.
    pub kept: bool,
}

impl DeploymentRow {
    pub fn new(d: &Deployment) -> Self {
        DeploymentRow {
            id: d.id,
            number: d.number,
            commit: d.commit.clone(),
            short_commit: d.commit.chars().take(10).collect(),
            message: d.message.clone(),
            author: d.author.clone(),
            badge: deployment_badge(d.status),
            started: when(d.started_at),
            duration: elapsed(d.started_at, d.ended_at),
            finished: d.status.is_finished(),
            active: d.active,
            clean_env: d.clean_env,
            trigger: d.trigger.as_str().replace('-', " "),
            reason: d.reason.clone().unwrap_or_default(),
            kept: false,
        }
    }
}

/// One row of a deployment log's closing "Step timings:" table.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    pub name: String,
    pub duration: String,
    /// `ok`, `skipped`, `FAILED`; empty for the total.
    pub outcome: String,
    pub tone: &'static str,
}

/// The deployment's steps as the build reported them (not read back from its log, where a step
/// named `custom script` would split in two); the last row is the total.
pub fn step_rows(deployment: &Deployment) -> Vec<StepRow> {
    if deployment.steps.is_empty() {
        return Vec::new();
    }
    let mut rows: Vec<StepRow> = deployment
        .steps
        .iter()
        .map(|step| {
            let (outcome, tone) = match step.outcome {
                StepOutcome::Ok => ("ok", "ok"),
                StepOutcome::Failed => ("FAILED", "bad"),
                StepOutcome::Skipped => ("skipped", "idle"),
            };
            StepRow { name: step.name.clone(), duration: format_duration(step.duration), outcome: outcome.into(), tone }
        })
        .collect();
    let total = deployment.ended_at.map(|end| end - deployment.started_at).unwrap_or_default();
    rows.push(StepRow {
        name: "total".into(),
        duration: format_duration(total.try_into().unwrap_or_default()),
        outcome: String::new(),
        tone: "total",
    });
    rows
}

/// A log line with the kind of line it is, for a little colour (`step`, `warn`, `error`, `out`).
#[derive(Debug, Clone)]
pub struct LogLine {
    pub kind: &'static str,
    pub text: String,
}

/// The same rules as `lineKind` in `assets/dashboard.js`, which styles the lines it appends live.
pub fn log_lines(text: &str) -> Vec<LogLine> {
    text.lines().map(|line| LogLine { kind: line_kind(line), text: line.to_string() }).collect()
}

fn line_kind(line: &str) -> &'static str {
    let lower = line.to_ascii_lowercase();
    if line.starts_with("--> ") {
        "step"
    } else if lower.starts_with("warning") {
        "warn"
    } else if lower.starts_with("error")
        || (line.starts_with("Deployment ") && line.contains(" failed"))
        || line.starts_with("Rollback")
    {
        "error"
    } else if (line.starts_with("Deployment ") && line.ends_with(" succeeded."))
        || line.starts_with("Rolled back to deployment")
    {
        "ok"
    } else if line.starts_with("    ") {
        "out"
    } else {
        ""
    }
}

/// env as the service describes it.
#[derive(Debug, Clone, Default)]
pub struct EnvView {
    pub exists: bool,
    pub python_version: String,
    pub implementation: String,
    pub installer: String,
    pub created: When,
    pub size: String,
    /// Why slipway cannot read env's marker (it will be recreated at the next deployment).
    pub problem: String,
    pub packages: Vec<(String, String)>,
}

impl EnvView {
    pub fn from_description(info: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        if info["exists"] != Value::Bool(true) {
            return EnvView::default();
        }
        let marker = &info["marker"];
        EnvView {
            exists: true,
            python_version: text(&marker["python_version"]),
            implementation: text(&marker["implementation"]),
            installer: text(&marker["installer"]),
            created: marker["created_at"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
                .map(when)
                .unwrap_or_default(),
            size: human_size(info["size_bytes"].as_u64().unwrap_or(0)),
            problem: text(&marker["problem"]),
            packages: info["packages"]
                .as_array()
                .map(|list| list.iter().map(|p| (text(&p["name"]), text(&p["version"]))).collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(3 * 1024 * 1024 + 100), "3.0 MiB");
        assert_eq!(duration_text(4.21), "4.2s");
        assert_eq!(duration_text(65.0), "1m 05s");
        assert_eq!(duration_text(7380.0), "2h 03m");
        assert_eq!(when(time::macros::datetime!(2026-01-02 03:04:05 UTC)).exact, "2026-01-02 03:04:05 UTC");
    }
}
