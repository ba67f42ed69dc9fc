//! The app's log, `LogFiles/app.log`: its processes' output, a router line per request and the
//! release phase's output, one line each, prefixed with when, which release and which source:
//!
//! ```text
//! 2026-11-26T16:41:52.123Z v4 web.1: Booting worker with pid: 12
//! 2026-11-26T16:41:53.007Z v4 router: method=GET path="/" host=hello.localhost status=200 duration=3ms bytes=12
//! ```
//!
//! One writer per app, shared by all its processes, so that a rotation is seen by every one of
//! them; [`read`] answers `slipway logs` from it. The log is bounded: past [`APP_LOG_MAX_BYTES`] it becomes `app.log.1` (the one before
//! goes), so an app keeps at most twice that.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use time::macros::format_description;
use time::OffsetDateTime;

pub const APP_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// `LogFiles/app.log`, rotated to `app.log.1` when it passes [`APP_LOG_MAX_BYTES`].
#[derive(Debug)]
pub struct AppLog {
    path: PathBuf,
    /// The open file and its size, counted as lines are written (no `stat` per line).
    file: Mutex<(std::fs::File, u64)>,
}

impl AppLog {
    /// Opens (appends to) the log at `path`, creating its folder.
    pub fn open(path: &Path) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(path.parent().expect("the log has a folder"))?;
        let path = path.to_path_buf();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Arc::new(AppLog { path, file: Mutex::new((file, size)) }))
    }

    /// Appends a line from `source` (`web.1`, `router`, `release`) of release `version`, with its
    /// control characters escaped: the log is printed on operators' terminals by `slipway logs`.
    pub fn write(&self, version: i64, source: &str, text: &str) {
        let line = format!("{} v{version} {source}: {}\n", now(), slipway_build::log::escape_controls(text));
        let mut guard = self.file.lock().unwrap();
        let (file, size) = &mut *guard;
        if file.write_all(line.as_bytes()).is_ok() {
            *size += line.len() as u64;
        }
        if *size > APP_LOG_MAX_BYTES {
            let _ = std::fs::rename(&self.path, rotated(&self.path));
            if let Ok(fresh) = std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
                *guard = (fresh, 0);
            }
        }
    }
}

/// Where `app.log` goes when it is full.
pub fn rotated(path: &Path) -> PathBuf {
    path.with_extension("log.1")
}

fn now() -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::now_utc().format(&format).expect("UTC times format")
}

/// Which lines `slipway logs --source` keeps: `web` is every web process, `web.1` only that one.
#[derive(Debug, Clone, Default)]
pub struct SourceFilter(Option<String>);

impl SourceFilter {
    pub fn new(source: Option<&str>) -> Self {
        SourceFilter(source.filter(|s| !s.is_empty()).map(String::from))
    }

    pub fn keeps(&self, line: &str) -> bool {
        let Some(wanted) = &self.0 else { return true };
        match source_of(line) {
            Some(source) => source == wanted || source.split_once('.').is_some_and(|(kind, _)| kind == wanted),
            None => false,
        }
    }
}

/// The source of a log line (`web.1` in `… v4 web.1: text`).
fn source_of(line: &str) -> Option<&str> {
    let mut fields = line.splitn(4, ' ');
    let (_time, version, source) = (fields.next()?, fields.next()?, fields.next()?);
    (version.starts_with('v')).then_some(())?;
    source.strip_suffix(':')
}

/// The lines of `text` the filter keeps, only the last `last` of them when given.
pub fn select(text: &str, filter: &SourceFilter, last: Option<usize>) -> String {
    let kept: Vec<&str> = text.lines().filter(|l| filter.keeps(l)).collect();
    let from = last.map_or(0, |n| kept.len().saturating_sub(n));
    kept[from..].iter().map(|l| format!("{l}\n")).collect()
}

/// How many lines `slipway logs` shows without `-n`, as Heroku does.
pub const DEFAULT_LINES: usize = 100;

/// What a reader of the log asks for.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogQuery {
    /// Continue after this byte offset of `app.log` (what the previous answer ended at); without
    /// it, the last `lines` lines.
    pub offset: Option<u64>,
    pub lines: Option<usize>,
    /// `web` (every web process), `web.1`, `worker`, `router`, `release`.
    pub source: Option<String>,
}

/// Lines of the app's log, and the offset to continue from.
#[derive(Debug)]
pub struct AppOutput {
    pub text: String,
    pub end: u64,
    /// Whether older lines were left out.
    pub truncated: bool,
}

/// What the query asks of the log at `path`: the last lines, or those after an offset.
pub fn read(path: &Path, query: &LogQuery) -> AppOutput {
    let filter = SourceFilter::new(query.source.as_deref());
    match query.offset {
        Some(offset) => read_after(path, offset, &filter),
        None => read_last(path, query.lines.unwrap_or(DEFAULT_LINES), &filter),
    }
}

/// The complete lines after `offset`; from the start when the log was rotated since (the offset
/// is past its end).
fn read_after(path: &Path, offset: u64, filter: &SourceFilter) -> AppOutput {
    let Ok(mut file) = std::fs::File::open(path) else {
        return AppOutput { text: String::new(), end: 0, truncated: false };
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if offset <= len { offset } else { 0 };
    let mut bytes = Vec::new();
    let _ = file.seek(SeekFrom::Start(start)).and_then(|_| file.take(len - start).read_to_end(&mut bytes));
    // A line being written is left for the next read.
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = select(&String::from_utf8_lossy(&bytes[..complete]), filter, None);
    AppOutput { text, end: start + complete as u64, truncated: false }
}

/// The last `lines` lines the filter keeps, reaching into `app.log.1` when `app.log` has fewer.
fn read_last(path: &Path, lines: usize, filter: &SourceFilter) -> AppOutput {
    let current = std::fs::read(path).unwrap_or_default();
    let complete = current.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut text = String::from_utf8_lossy(&current[..complete]).into_owned();
    if select(&text, filter, None).lines().count() < lines {
        let older = std::fs::read(rotated(path)).unwrap_or_default();
        text = format!("{}{text}", String::from_utf8_lossy(&older));
    }
    let kept = select(&text, filter, None);
    let total = kept.lines().count();
    AppOutput {
        text: select(&kept, &SourceFilter::default(), Some(lines)),
        end: complete as u64,
        truncated: total > lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_time_release_and_source_and_escape_terminal_controls() {
        let dir = tempfile::tempdir().unwrap();
        let log = AppLog::open(&dir.path().join("app.log")).unwrap();
        log.write(3, "web.1", "\u{1b}]0;owned\u{7}title");
        let written = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
        let (time, rest) = written.split_once(' ').unwrap();
        assert_eq!(rest, "v3 web.1: \\u{1b}]0;owned\\u{7}title\n");
        assert!(time.len() == 24 && time.ends_with('Z'), "{time}");
    }

    #[test]
    fn sources_are_filtered_by_type_or_by_process() {
        let text = "t v1 web.1: a\nt v1 web.2: b\nt v1 router: c\nt v1 worker.1: d\nold line\n";
        let web = SourceFilter::new(Some("web"));
        assert_eq!(select(text, &web, None), "t v1 web.1: a\nt v1 web.2: b\n");
        assert_eq!(select(text, &SourceFilter::new(Some("web.2")), None), "t v1 web.2: b\n");
        assert_eq!(select(text, &SourceFilter::new(Some("router")), None), "t v1 router: c\n");
        assert_eq!(select(text, &SourceFilter::default(), Some(2)), "t v1 worker.1: d\nold line\n");
    }

    #[test]
    fn the_app_log_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let log = AppLog::open(&dir.path().join("app.log")).unwrap();
        let big = "x".repeat(1024 * 1024);
        // Ten lines of 1 MiB and a prefix pass 10 MiB: the tenth one rotates the file.
        for _ in 0..APP_LOG_MAX_BYTES / (1024 * 1024) {
            log.write(1, "web.1", &big);
        }
        log.write(1, "web.1", "after the rotation");
        let rotated = std::fs::metadata(dir.path().join("app.log.1")).unwrap().len();
        assert!(rotated > APP_LOG_MAX_BYTES, "{rotated}");
        let current = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
        assert!(current.ends_with(" v1 web.1: after the rotation\n") && current.lines().count() == 1, "{current}");
    }

    #[test]
    fn the_last_lines_reach_into_the_rotated_log_and_offsets_skip_a_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(rotated(&path), "t v1 web.1: old\nt v1 router: old request\n").unwrap();
        std::fs::write(&path, "t v2 web.1: new\nt v2 router: new request\npartial").unwrap();
        let all = SourceFilter::default();
        let last = read_last(&path, 3, &all);
        assert_eq!(last.text, "t v1 router: old request\nt v2 web.1: new\nt v2 router: new request\n");
        assert!(last.truncated);
        assert_eq!(last.end, 41, "the partial line is not passed");
        let web = read_last(&path, 10, &SourceFilter::new(Some("web")));
        assert_eq!((web.text.as_str(), web.truncated), ("t v1 web.1: old\nt v2 web.1: new\n", false));
        let after = read_after(&path, 16, &all);
        assert_eq!((after.text.as_str(), after.end), ("t v2 router: new request\n", 41));
        let rotated = read_after(&path, 1000, &SourceFilter::new(Some("router")));
        assert_eq!(rotated.text, "t v2 router: new request\n", "an offset past the end starts over");
    }
}
