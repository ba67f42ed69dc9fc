//! The app's log (`LogFiles/app.log` and the rotated `app.log.1`, see
//! [`crate::supervisor::app_log`]): its last lines, or what came after an offset, for `slipway
//! logs`, the API and the dashboard's live view.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

use super::Service;
use crate::app_name::AppName;
use crate::error::Result;
use crate::supervisor::app_log::{self, SourceFilter};

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

impl Service {
    pub async fn app_output(&self, app: &AppName, query: &LogQuery) -> Result<AppOutput> {
        self.require_app(app)?;
        let path = self.paths(app).app_log();
        let filter = SourceFilter::new(query.source.as_deref());
        let query = query.clone();
        let output = tokio::task::spawn_blocking(move || match query.offset {
            Some(offset) => read_after(&path, offset, &filter),
            None => read_last(&path, query.lines.unwrap_or(DEFAULT_LINES), &filter),
        });
        Ok(output.await.expect("reading the log does not panic"))
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
    let text = app_log::select(&String::from_utf8_lossy(&bytes[..complete]), filter, None);
    AppOutput { text, end: start + complete as u64, truncated: false }
}

/// The last `lines` lines the filter keeps, reaching into `app.log.1` when `app.log` has fewer.
fn read_last(path: &Path, lines: usize, filter: &SourceFilter) -> AppOutput {
    let current = std::fs::read(path).unwrap_or_default();
    let complete = current.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut text = String::from_utf8_lossy(&current[..complete]).into_owned();
    if app_log::select(&text, filter, None).lines().count() < lines {
        let older = std::fs::read(app_log::rotated(path)).unwrap_or_default();
        text = format!("{}{text}", String::from_utf8_lossy(&older));
    }
    let kept = app_log::select(&text, filter, None);
    let total = kept.lines().count();
    AppOutput {
        text: app_log::select(&kept, &SourceFilter::default(), Some(lines)),
        end: complete as u64,
        truncated: total > lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_reach_into_the_rotated_log_and_offsets_skip_a_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(app_log::rotated(&path), "t v1 web.1: old\nt v1 router: old request\n").unwrap();
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
