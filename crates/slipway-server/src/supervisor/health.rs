//! The health check: a new web process counts as started once it answers `HEALTHCHECK_PATH`
//! (default `/`) with a status `HEALTHCHECK_STATUSES` accepts (default 200–499: a 404 still shows
//! the app is up, a 500 that it is broken).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

use crate::settings::{AppSettings, DEFAULT_HEALTHCHECK_STATUSES, DEFAULT_STARTUP_TIMEOUT, HEALTHCHECK_STATUSES};

/// How often a starting process is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);
/// How long a process that answers with a refused status gets to answer better (it may still be
/// warming up) before its start fails.
const REFUSED_FOR: Duration = Duration::from_secs(5);

/// What a web process must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub path: String,
    ranges: Vec<(u16, u16)>,
    /// As the setting says it, for messages.
    pub statuses: String,
    /// How long a process that restarted after a crash gets to answer (`STARTUP_TIMEOUT`).
    pub timeout: Duration,
}

impl Health {
    pub fn new(path: String, ranges: Vec<(u16, u16)>, settings: &AppSettings) -> Self {
        let statuses = settings.get(HEALTHCHECK_STATUSES).unwrap_or(DEFAULT_HEALTHCHECK_STATUSES).to_string();
        // The setting was checked when it was set; a start refuses a bad one before this.
        let timeout = settings.startup_timeout().unwrap_or(DEFAULT_STARTUP_TIMEOUT);
        Health { path, ranges, statuses, timeout }
    }

    fn accepts(&self, status: u16) -> bool {
        self.ranges.iter().any(|(low, high)| (*low..=*high).contains(&status))
    }
}

/// Polls until the process answers its health check, exits, or time runs out.
pub async fn wait_until_healthy(
    child: &mut Child,
    port: u16,
    health: &Health,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut refused_since: Option<(Instant, u16)> = None;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status}) before answering HTTP on port {port}"));
        }
        match status_of(port, &health.path).await {
            Some(status) if health.accepts(status) => return Ok(()),
            Some(status) => {
                let (since, _) = *refused_since.get_or_insert((Instant::now(), status));
                if since.elapsed() >= REFUSED_FOR {
                    return Err(format!(
                        "it answers {} with {status}, which HEALTHCHECK_STATUSES ({}) does not accept",
                        health.path, health.statuses
                    ));
                }
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(match refused_since {
                Some((_, status)) => format!(
                    "it answered {} with {status} for {}s (HEALTHCHECK_STATUSES accepts {})",
                    health.path,
                    timeout.as_secs(),
                    health.statuses
                ),
                None => format!(
                    "nothing answered HTTP on 127.0.0.1:{port} within {}s (the app must listen on $PORT; STARTUP_TIMEOUT sets the wait)",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// The status the app answers `GET path` with, if it answers HTTP at all.
async fn status_of(port: u16, path: &str) -> Option<u16> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: slipway-health\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        if &head[..5] != b"HTTP/" {
            return None;
        }
        let status = std::str::from_utf8(&head[9..12]).ok()?.parse().ok()?;
        // Read the rest too (briefly): closing early makes the app log a "connection reset".
        let (mut rest, mut sink) = ((&mut stream).take(1 << 20), Vec::new());
        let _ = tokio::time::timeout(Duration::from_millis(500), rest.read_to_end(&mut sink)).await;
        Some(status)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten()
}
