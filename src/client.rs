//! A small blocking client for slipway's REST API, used by the client commands (`apps`, `config`,
//! `deployments`, `logs`, `redeploy`, `env`).
//!
//! Every failure becomes one line that says what was wrong: the server's own `{"error": …}` text,
//! a server that cannot be reached, or an admin token that is missing or refused.

use slipway_build::log::escape_controls;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use slipway_server::config::{DEFAULT_DATA_DIR, DEFAULT_SERVER_URL};

use crate::cli::ClientArgs;
use crate::saved_login::SavedLogin;

/// How often a followed deployment is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(400);

pub struct Client {
    agent: ureq::Agent,
    /// `http://host:port`, without a trailing slash.
    base: String,
    token: String,
    /// Where the token came from, for the message when the server refuses it.
    token_source: String,
}

impl Client {
    /// Finds the server (`--server`/SLIPWAY_SERVER, else the saved login's, else the default)
    /// and the admin token (see [`find_token`]).
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let saved = SavedLogin::load()?;
        let given = match (&args.server, &saved) {
            (Some(server), _) => server.trim().to_string(),
            (None, Some(saved)) => saved.server.clone(),
            (None, None) => DEFAULT_SERVER_URL.to_string(),
        };
        let base = server_base(&given)?;
        let saved = saved.filter(|saved| saved.server == base);
        let (token, token_source) = find_token(args.data_dir.as_deref(), saved)?;
        Ok(Self::with_token(base, token, token_source))
    }

    /// A client for `base` with this token, checked by nothing yet.
    pub fn with_token(base: String, token: String, token_source: String) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("slipway-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client { agent, base, token, token_source }
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        json(self.send("GET", path, None)?)
    }

    pub fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        self.send("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        json(self.send("POST", path, body)?)
    }

    pub fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        json(self.send("PUT", path, Some(body))?)
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        json(self.send("DELETE", path, None)?)
    }

    /// A chunk of a growing log and the offset to ask for next (the server's `X-Log-Offset`).
    pub fn get_log_chunk(&self, path: &str) -> anyhow::Result<(Vec<u8>, Option<u64>)> {
        let (bytes, headers) = self.send_full("GET", path, None)?;
        let next = headers.get("x-log-offset").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        Ok((bytes, next))
    }

    /// A JSON answer and one of its headers.
    pub fn send_reading_header(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        header: &str,
    ) -> anyhow::Result<(Value, Option<String>)> {
        let (bytes, headers) = self.send_full(method, path, body)?;
        let value = headers.get(header).and_then(|v| v.to_str().ok()).map(String::from);
        Ok((json(bytes)?, value))
    }

    /// POSTs `body` and hands each line of JSON of the streamed answer to `on_event` as it
    /// arrives (the API's `…/run`).
    pub fn stream_json_lines(&self, path: &str, body: Value, mut on_event: impl FnMut(Value)) -> anyhow::Result<()> {
        use std::io::BufRead;
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .body(body.to_string())?;
        let response = self.agent.run(request).map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let mut reader = std::io::BufReader::new(response.into_body().into_reader());
        if !(200..300).contains(&status) {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut reader, &mut text);
            let message = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["error"].as_str().map(one_line));
            bail!("{}", message.unwrap_or_else(|| format!("POST {url} answered HTTP {status}")));
        }
        let mut line = String::new();
        while reader.read_line(&mut line).map_err(|e| anyhow!("reading the answer of POST {url}: {e}"))? > 0 {
            if !line.trim().is_empty() {
                on_event(serde_json::from_str(line.trim()).map_err(|e| anyhow!("the server sent invalid JSON: {e}"))?);
            }
            line.clear();
        }
        Ok(())
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Vec<u8>> {
        self.send_full(method, path, body).map(|(bytes, _)| bytes)
    }

    /// One API call; `path` starts with `/api/`. Returns the body and headers of a 2xx answer,
    /// else the server's error text as the error.
    fn send_full(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(Vec<u8>, ureq::http::HeaderMap)> {
        self.send_content(method, path, body.map(|body| ("application/json", body.to_string().into_bytes())))
    }

    /// POSTs bytes of the given content type (an archive for zipdeploy); returns the JSON answer.
    pub fn post_bytes(&self, path: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        json(self.send_content("POST", path, Some((content_type, bytes)))?.0)
    }

    fn send_content(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<(Vec<u8>, ureq::http::HeaderMap)> {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Accept", "application/json");
        let result = match body {
            Some((content_type, body)) => self.agent.run(request.header("Content-Type", content_type).body(body)?),
            // An explicit empty body (`Content-Length: 0`): with ureq's body-less POST the server
            // dropped the kept-alive connection and the next request failed with "Peer disconnected".
            None if method == "POST" || method == "PUT" => self.agent.run(request.body(String::new())?),
            None => self.agent.run(request.body(())?),
        };
        let response = result.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| anyhow!("reading the answer of {method} {url}: {e}"))?;
        if (200..300).contains(&status) {
            return Ok((bytes, headers));
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(one_line));
        match (status, message) {
            (401, Some(message)) => {
                Err(anyhow!("the server refused the admin token from {}: {message}", self.token_source))
            }
            (_, Some(message)) => Err(anyhow!("{message}")),
            (_, None) => {
                let text = String::from_utf8_lossy(&bytes);
                let text = one_line(text.trim());
                let text = if text.chars().count() > 200 {
                    format!("{}…", text.chars().take(200).collect::<String>())
                } else {
                    text
                };
                Err(anyhow!(
                    "{method} {url} answered HTTP {status}{}{text} (is {} a slipway server?)",
                    if text.is_empty() { "" } else { ": " },
                    self.base
                ))
            }
        }
    }

    fn transport_error(&self, error: ureq::Error) -> anyhow::Error {
        let base = &self.base;
        let unreachable =
            |why: &str| anyhow!("cannot reach the slipway server at {base}: {why} (start it with `slipway serve`)");
        match &error {
            ureq::Error::Io(e) => {
                match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => unreachable("connection refused"),
                    std::io::ErrorKind::TimedOut => unreachable("timed out"),
                    std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe => {
                        anyhow!("the slipway server at {base} closed the connection before answering ({e})")
                    }
                    _ if e.to_string().contains("lookup address") => {
                        anyhow!("cannot reach the slipway server at {base}: host not found (check --server or SLIPWAY_SERVER)")
                    }
                    _ => anyhow!("talking to the slipway server at {base}: {e}"),
                }
            }
            ureq::Error::HostNotFound => {
                anyhow!("cannot reach the slipway server at {base}: host not found (check --server or SLIPWAY_SERVER)")
            }
            ureq::Error::Timeout(_) => anyhow!("the slipway server at {base} did not answer in time"),
            ureq::Error::BadUri(why) => anyhow!("invalid --server URL `{base}`: {why}"),
            other => anyhow!("talking to the slipway server at {base}: {other}"),
        }
    }

    /// Prints the log of a deployment as it grows, until the deployment has finished; returns its
    /// final record.
    pub fn follow(&self, app: &str, number: i64) -> anyhow::Result<Value> {
        let mut offset = 0usize;
        let mut stdout = std::io::stdout();
        loop {
            // Status first: once it says finished, the log read after it is complete.
            let deployment = self.get(&deployment_path(app, number))?;
            let chunk = self.get_bytes(&format!("{}/log?offset={offset}", deployment_path(app, number)))?;
            offset += chunk.len();
            stdout.write_all(&chunk).context("writing to stdout")?;
            stdout.flush().context("writing to stdout")?;
            if is_finished(&deployment) {
                return Ok(deployment);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

/// `http://host:port` without a trailing slash, or an error naming what was expected.
pub fn server_base(given: &str) -> anyhow::Result<String> {
    let base = given.trim_end_matches('/').to_string();
    if base.starts_with("https://") {
        bail!("--server {given}: this client speaks plain http:// only; use the server's http:// address");
    }
    let valid =
        base.strip_prefix("http://").is_some_and(|rest| !rest.is_empty()) && base.parse::<ureq::http::Uri>().is_ok();
    if !valid {
        bail!("invalid --server URL `{given}`: expected http://HOST:PORT, e.g. {DEFAULT_SERVER_URL}");
    }
    Ok(base)
}

/// `(token, where it came from)`: env SLIPWAY_TOKEN, else `--data-dir`'s admin-token, else the
/// saved login's (for the same server), else `./slipway-data/admin-token`.
fn find_token(data_dir: Option<&Path>, saved: Option<SavedLogin>) -> anyhow::Result<(String, String)> {
    if let Ok(token) = std::env::var("SLIPWAY_TOKEN") {
        let token = token.trim().to_string();
        if !token.is_empty() {
            return Ok((token, "SLIPWAY_TOKEN".to_string()));
        }
    }
    if let (None, Some(saved)) = (data_dir, saved) {
        let source = SavedLogin::path().map(|p| p.display().to_string()).unwrap_or_else(|| "the saved login".into());
        return Ok((saved.token, source));
    }
    token_in_data_dir(data_dir.unwrap_or(Path::new(DEFAULT_DATA_DIR)))
}

/// The admin token a server keeps in its data dir.
pub fn token_in_data_dir(data_dir: &Path) -> anyhow::Result<(String, String)> {
    let path: PathBuf = data_dir.join(slipway_server::layout::ADMIN_TOKEN_FILE);
    let hint = "run `slipway login URL`, set SLIPWAY_TOKEN or pass --data-dir";
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => Ok((token.trim().to_string(), path.display().to_string())),
        Ok(_) => bail!("no admin token: {} is empty; {hint}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("no admin token: {hint} (looked for {})", path.display())
        }
        Err(e) => bail!("no admin token: cannot read {}: {e}; {hint}", path.display()),
    }
}

fn json(bytes: Vec<u8>) -> anyhow::Result<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| anyhow!("the server sent invalid JSON: {e}"))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Percent-encodes one URL path segment.
pub fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn app_path(app: &str) -> String {
    format!("/api/apps/{}", seg(app))
}

/// A deployment by its number among the app's (`v3`), the name the CLI shows.
pub fn deployment_path(app: &str, number: i64) -> String {
    format!("{}/deployments/v{number}", app_path(app))
}

pub fn is_finished(deployment: &Value) -> bool {
    matches!(deployment["status"].as_str(), Some("success" | "failed"))
}

/// Prints an API answer for scripts.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows as plain aligned columns; the last column is not padded. Control characters in
/// a cell (a commit message is the pusher's) are shown escaped, never sent to the terminal.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|cell| escape_controls(cell).into_owned()).collect()).collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `abc1234` from a full commit id.
pub fn short_commit(commit: &Value) -> String {
    commit.as_str().map(|c| c.chars().take(7).collect()).unwrap_or_else(|| "-".to_string())
}

/// `2024-05-01 12:34:56` from an RFC 3339 UTC timestamp.
pub fn short_time(value: &Value) -> String {
    let Some(text) = value.as_str() else { return "-".to_string() };
    let text = text.split('.').next().unwrap_or(text).trim_end_matches('Z');
    let text = text.strip_suffix("+00:00").unwrap_or(text);
    text.replacen('T', " ", 1)
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
        fraction = format!("0.{}", &frac[..digits]).parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset) as f64 + fraction)
}

/// How long a deployment took (or has been running): `42s`, `3m05s`, `1h02m`.
pub fn duration(deployment: &Value) -> String {
    let Some(start) = deployment["started_at"].as_str().and_then(parse_rfc3339) else { return "-".to_string() };
    let end = match deployment["ended_at"].as_str() {
        Some(end) => match parse_rfc3339(end) {
            Some(end) => end,
            None => return "-".to_string(),
        },
        None => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(start)
        }
    };
    let seconds = (end - start).max(0.0);
    let whole = seconds.round() as u64;
    let text = if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else if whole < 60 {
        format!("{whole}s")
    } else if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, whole % 3600 / 60)
    };
    if deployment["ended_at"].is_null() {
        format!("{text}…")
    } else {
        text
    }
}

/// The first line of `text`, at most `max` characters.
pub fn truncate(text: &str, max: usize) -> String {
    let first = escape_controls(text.lines().next().unwrap_or("").trim()).into_owned();
    let first = first.as_str();
    if first.chars().count() > max {
        format!("{}…", first.chars().take(max.saturating_sub(1)).collect::<String>())
    } else {
        first.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_message_never_reaches_the_terminal_raw() {
        let message = "\u{1b}]0;owned\u{7} \u{1b}[31mRED";
        assert_eq!(truncate(message, 60), "\\u{1b}]0;owned\\u{7} \\u{1b}[31mRED");
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        assert_eq!(parse_rfc3339("2024-05-01T12:00:01.5Z"), Some(1_714_564_801.5));
        assert_eq!(parse_rfc3339("2024-05-01T14:00:01+02:00"), Some(1_714_564_801.0));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn formats_durations_and_times() {
        let d = serde_json::json!({ "started_at": "2024-05-01T12:00:00.25Z", "ended_at": "2024-05-01T12:03:05.25Z" });
        assert_eq!(duration(&d), "3m05s");
        let d = serde_json::json!({ "started_at": "2024-05-01T12:00:00Z", "ended_at": "2024-05-01T12:00:04.5Z" });
        assert_eq!(duration(&d), "4.5s");
        assert_eq!(short_time(&serde_json::json!("2024-05-01T12:00:00.123456Z")), "2024-05-01 12:00:00");
        assert_eq!(truncate("a long message\nbody", 40), "a long message");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
