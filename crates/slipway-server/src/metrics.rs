//! Per-app metrics: what the proxy saw of each request (count by status class, latency, bytes)
//! and what the supervisor knows of each process (memory, CPU time, restarts). Exposed at
//! `GET /metrics` in the OpenMetrics text format Prometheus scrapes (the `prometheus-client`
//! crate encodes it), and summed up for `slipway ps`, `apps show` and the dashboard's charts: the
//! latency percentiles of the last [`RECENT`] requests, and per minute of the last [`MINUTES`]
//! the requests and the processes' memory and CPU (sampled every few seconds).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;
use time::OffsetDateTime;

use crate::app_name::AppName;
use crate::supervisor::{ProcessRow, ProcessState};

/// How many of an app's latest requests its percentiles are computed from.
pub const RECENT: usize = 1000;
/// How many minutes of request counts the dashboard's chart shows.
pub const MINUTES: usize = 60;
/// Latency buckets of the histogram, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// One request the proxy passed to an app (or answered for it: 502 when it is down).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub host: String,
    /// The client's address, as the proxy saw it.
    pub client: String,
    /// The `X-Request-Id` the proxy gave the request.
    pub request_id: String,
    pub status: u16,
    /// Until the app's answer began (Heroku's `service`).
    pub duration: Duration,
    /// Of the response body, as sent.
    pub bytes: u64,
}

impl RequestRecord {
    /// The router's line in the app's log, as `key=value` pairs like Heroku's router.
    pub fn log_text(&self) -> String {
        let path: String = self.path.chars().take(300).collect::<String>().replace('"', "%22");
        format!(
            "method={} path=\"{path}\" host={} request_id={} fwd=\"{}\" status={} duration={}ms bytes={}",
            self.method,
            self.host,
            self.request_id,
            self.client,
            self.status,
            self.duration.as_millis(),
            self.bytes
        )
    }
}

/// An app's requests as `slipway ps`, `apps show` and the dashboard show them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestStats {
    /// Since the server started.
    pub requests: u64,
    /// `2xx` → count, since the server started.
    pub status: BTreeMap<String, u64>,
    /// Latency percentiles of the last [`RECENT`] requests, in milliseconds.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The last [`MINUTES`] minutes, oldest first, with no gaps.
    pub per_minute: Vec<MinuteCount>,
    /// The processes' memory and CPU over the same minutes (zeros where nothing was sampled).
    pub usage_per_minute: Vec<UsageMinute>,
}

/// An app's processes in one minute: the most memory they held together, and the CPU they used
/// (100 = one core busy).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UsageMinute {
    /// `16:41` (UTC).
    pub minute: String,
    pub memory_bytes: u64,
    pub cpu_percent: f64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MinuteCount {
    /// `16:41` (UTC).
    pub minute: String,
    /// 1xx, 2xx and 3xx.
    pub ok: u64,
    pub client_errors: u64,
    pub server_errors: u64,
}

#[derive(Default)]
struct Recent {
    requests: u64,
    classes: BTreeMap<String, u64>,
    latencies: VecDeque<f64>,
    /// (minute since the epoch, counts) for the minutes that had requests.
    minutes: VecDeque<(i64, MinuteCount)>,
    /// (minute since the epoch, the processes' resources) for the minutes they were sampled.
    usage: VecDeque<(i64, UsageMinute)>,
    /// The last sample's CPU seconds and time, to turn the next one into a percentage.
    last_cpu: Option<(f64, std::time::Instant)>,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    durations: HistogramFamily,
    bytes: Family<Labels, Counter>,
    memory: Family<Labels, Gauge>,
    cpu: Family<Labels, Gauge<f64, AtomicU64>>,
    restarts: Family<Labels, Gauge>,
    up: Family<Labels, Gauge>,
    recent: Mutex<HashMap<AppName, Recent>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("slipway");
        let requests = Family::<Labels, Counter>::default();
        let durations: HistogramFamily = Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let bytes = Family::<Labels, Counter>::default();
        let memory = Family::<Labels, Gauge>::default();
        let cpu = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let restarts = Family::<Labels, Gauge>::default();
        let up = Family::<Labels, Gauge>::default();
        registry.register("http_requests", "Requests to an app through the proxy, by status class", requests.clone());
        registry.register("http_request_duration_seconds", "Time until the app's answer began", durations.clone());
        registry.register("http_response_bytes", "Response body bytes sent for an app", bytes.clone());
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of a process and its children",
            memory.clone(),
        );
        registry.register("process_cpu_seconds", "CPU time of a process and its children so far", cpu.clone());
        registry.register("process_restarts", "Times the supervisor restarted a process", restarts.clone());
        registry.register("process_up", "1 when the process is running", up.clone());
        Metrics { registry, requests, durations, bytes, memory, cpu, restarts, up, recent: Mutex::default() }
    }
}

impl Metrics {
    pub fn record(&self, app: &AppName, request: &RequestRecord) {
        let class = status_class(request.status);
        let seconds = request.duration.as_secs_f64();
        let app_label: Labels = vec![("app", app.to_string())];
        self.requests.get_or_create(&vec![("app", app.to_string()), ("status", class.clone())]).inc();
        self.durations.get_or_create(&app_label).observe(seconds);
        self.bytes.get_or_create(&app_label).inc_by(request.bytes);

        let mut recent = self.recent.lock().unwrap();
        let recent = recent.entry(app.clone()).or_default();
        recent.requests += 1;
        *recent.classes.entry(class).or_default() += 1;
        recent.latencies.push_back(seconds * 1000.0);
        if recent.latencies.len() > RECENT {
            recent.latencies.pop_front();
        }
        let minute = OffsetDateTime::now_utc().unix_timestamp().div_euclid(60);
        if recent.minutes.back().is_none_or(|(m, _)| *m != minute) {
            recent.minutes.push_back((minute, MinuteCount::default()));
        }
        let (_, count) = recent.minutes.back_mut().expect("just pushed");
        match request.status {
            500.. => count.server_errors += 1,
            400..500 => count.client_errors += 1,
            _ => count.ok += 1,
        }
        while recent.minutes.front().is_some_and(|(m, _)| minute - m >= MINUTES as i64) {
            recent.minutes.pop_front();
        }
    }

    pub fn stats(&self, app: &AppName) -> RequestStats {
        let recent = self.recent.lock().unwrap();
        let Some(recent) = recent.get(app) else {
            return RequestStats { per_minute: minutes(&VecDeque::new()), ..Default::default() };
        };
        let mut sorted: Vec<f64> = recent.latencies.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        RequestStats {
            requests: recent.requests,
            status: recent.classes.clone(),
            p50_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            p99_ms: percentile(&sorted, 99.0),
            per_minute: minutes(&recent.minutes),
            usage_per_minute: minutes(&recent.usage),
        }
    }

    /// Notes what the app's processes use now (their memory together, and their CPU seconds so
    /// far): the minute keeps its highest memory and its CPU share since the previous sample.
    pub fn sample_usage(&self, app: &AppName, memory_bytes: u64, cpu_seconds: f64) {
        let now = std::time::Instant::now();
        let mut recent = self.recent.lock().unwrap();
        let recent = recent.entry(app.clone()).or_default();
        let cpu_percent = match recent.last_cpu {
            Some((before, at)) if cpu_seconds >= before && now > at => {
                100.0 * (cpu_seconds - before) / now.duration_since(at).as_secs_f64()
            }
            // The first sample, or the processes were replaced (their CPU time starts over).
            _ => 0.0,
        };
        recent.last_cpu = Some((cpu_seconds, now));
        let minute = OffsetDateTime::now_utc().unix_timestamp().div_euclid(60);
        if recent.usage.back().is_none_or(|(m, _)| *m != minute) {
            recent.usage.push_back((minute, UsageMinute::default()));
        }
        let (_, usage) = recent.usage.back_mut().expect("just pushed");
        usage.memory_bytes = usage.memory_bytes.max(memory_bytes);
        usage.cpu_percent = usage.cpu_percent.max(cpu_percent);
        while recent.usage.front().is_some_and(|(m, _)| minute - m >= MINUTES as i64) {
            recent.usage.pop_front();
        }
    }

    /// Forgets a deleted app's numbers.
    pub fn forget(&self, app: &AppName) {
        self.recent.lock().unwrap().remove(app);
        for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
            self.requests.remove(&vec![("app", app.to_string()), ("status", class.to_string())]);
        }
        self.durations.remove(&vec![("app", app.to_string())]);
        self.bytes.remove(&vec![("app", app.to_string())]);
    }

    /// Everything, in the OpenMetrics text format; the process gauges are those of `processes`
    /// now (a process gone since the last scrape is gone from them).
    pub fn openmetrics(&self, processes: &[(AppName, Vec<ProcessRow>)]) -> String {
        for family in [&self.memory, &self.restarts, &self.up] {
            family.clear();
        }
        self.cpu.clear();
        for (app, rows) in processes {
            for row in rows {
                let labels: Labels = vec![("app", app.to_string()), ("process", row.name.clone())];
                self.up.get_or_create(&labels).set(i64::from(row.state == ProcessState::Running));
                self.restarts.get_or_create(&labels).set(i64::from(row.restarts));
                if let Some(memory) = row.memory {
                    self.memory.get_or_create(&labels).set(memory as i64);
                }
                if let Some(cpu) = row.cpu_seconds {
                    self.cpu.get_or_create(&labels).set(cpu);
                }
            }
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String does not fail");
        text
    }
}

fn status_class(status: u16) -> String {
    format!("{}xx", (status / 100).clamp(1, 5))
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A per-minute value the charts show: it knows its own label.
trait PerMinute: Clone + Default {
    fn labelled(self, minute: String) -> Self;
}

impl PerMinute for MinuteCount {
    fn labelled(self, minute: String) -> Self {
        MinuteCount { minute, ..self }
    }
}

impl PerMinute for UsageMinute {
    fn labelled(self, minute: String) -> Self {
        UsageMinute { minute, ..self }
    }
}

/// The last [`MINUTES`] minutes up to now, the ones with nothing recorded as zeros.
fn minutes<T: PerMinute>(seen: &VecDeque<(i64, T)>) -> Vec<T> {
    let now = OffsetDateTime::now_utc().unix_timestamp().div_euclid(60);
    (now - MINUTES as i64 + 1..=now)
        .map(|minute| {
            let label = OffsetDateTime::from_unix_timestamp(minute * 60)
                .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
                .unwrap_or_default();
            let counted = seen.iter().find(|(m, _)| *m == minute).map(|(_, c)| c.clone()).unwrap_or_default();
            counted.labelled(label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status: u16, millis: u64) -> RequestRecord {
        RequestRecord {
            method: "GET".into(),
            path: "/a\"b".into(),
            host: "shop.localhost".into(),
            client: "203.0.113.9".into(),
            request_id: "abc123".into(),
            status,
            duration: Duration::from_millis(millis),
            bytes: 10,
        }
    }

    #[test]
    fn requests_are_counted_by_class_with_percentiles_and_a_chart() {
        let metrics = Metrics::default();
        let app = AppName::parse("shop").unwrap();
        for millis in 1..=100 {
            metrics.record(&app, &request(if millis > 95 { 500 } else { 200 }, millis));
        }
        metrics.record(&app, &request(404, 1));
        let stats = metrics.stats(&app);
        assert_eq!(stats.requests, 101);
        assert_eq!(stats.status, BTreeMap::from([("2xx".into(), 95), ("4xx".into(), 1), ("5xx".into(), 5)]));
        assert_eq!((stats.p50_ms, stats.p99_ms), (Some(50.0), Some(99.0)));
        assert_eq!(stats.per_minute.len(), MINUTES);
        let now = stats.per_minute.last().unwrap();
        assert_eq!((now.ok, now.client_errors, now.server_errors), (95, 1, 5));

        let text = metrics.openmetrics(&[]);
        assert!(text.contains(r#"slipway_http_requests_total{app="shop",status="2xx"} 95"#), "{text}");
        assert!(text.contains(r#"slipway_http_request_duration_seconds_count{app="shop"} 101"#), "{text}");
        assert!(text.contains(r#"slipway_http_response_bytes_total{app="shop"} 1010"#), "{text}");
        metrics.forget(&app);
        assert!(!metrics.openmetrics(&[]).contains("shop"));
    }

    #[test]
    fn usage_samples_keep_the_minutes_peak_memory_and_cpu_share() {
        let metrics = Metrics::default();
        let app = AppName::parse("shop").unwrap();
        metrics.sample_usage(&app, 50_000_000, 10.0);
        std::thread::sleep(Duration::from_millis(200));
        metrics.sample_usage(&app, 40_000_000, 10.1);
        let now = metrics.stats(&app).usage_per_minute.pop().unwrap();
        assert_eq!(now.memory_bytes, 50_000_000, "the peak of the minute");
        assert!(now.cpu_percent > 20.0 && now.cpu_percent <= 50.0, "0.1 s of CPU in ~0.2 s: {}", now.cpu_percent);
    }

    #[test]
    fn the_router_line_quotes_the_path() {
        assert_eq!(
            request(200, 3).log_text(),
            r#"method=GET path="/a%22b" host=shop.localhost request_id=abc123 fwd="203.0.113.9" status=200 duration=3ms bytes=10"#
        );
    }
}
