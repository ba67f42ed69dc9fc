//! The running app's output: `LogFiles/app.log`, rotated to `app.log.1` by size. One writer per
//! app, shared by all its processes, so that a rotation is seen by every one of them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const APP_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// `LogFiles/app.log`, rotated to `app.log.1` when it passes [`APP_LOG_MAX_BYTES`].
#[derive(Debug)]
pub struct AppLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AppLog {
    /// Opens (appends to) the log at `path`, creating its folder.
    pub fn open(path: &Path) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(path.parent().expect("the log has a folder"))?;
        let path = path.to_path_buf();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Arc::new(AppLog { path, file: Mutex::new(file) }))
    }

    /// Appends `line` with its control characters escaped: the log is printed on operators'
    /// terminals by `slipway logs --app`.
    pub fn line(&self, line: &str) {
        let line = slipway_build::log::escape_controls(line);
        let mut file = self.file.lock().unwrap();
        let _ = file.write_all(format!("{line}\n").as_bytes());
        if file.metadata().map(|m| m.len() > APP_LOG_MAX_BYTES).unwrap_or(false) {
            let _ = std::fs::rename(&self.path, self.path.with_extension("log.1"));
            if let Ok(fresh) = std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
                *file = fresh;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_log_escapes_terminal_controls() {
        let dir = tempfile::tempdir().unwrap();
        let log = AppLog::open(&dir.path().join("app.log")).unwrap();
        log.line("\u{1b}]0;owned\u{7}title");
        let written = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
        assert_eq!(written, "\\u{1b}]0;owned\\u{7}title\n");
    }

    #[test]
    fn the_app_log_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let log = AppLog::open(&dir.path().join("app.log")).unwrap();
        let big = "x".repeat(1024 * 1024);
        // Ten lines of 1 MiB and a newline pass 10 MiB: the tenth one rotates the file.
        for _ in 0..APP_LOG_MAX_BYTES / (1024 * 1024) {
            log.line(&big);
        }
        log.line("after the rotation");
        let rotated = std::fs::metadata(dir.path().join("app.log.1")).unwrap().len();
        assert!(rotated > APP_LOG_MAX_BYTES, "{rotated}");
        let current = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
        assert!(current == "after the rotation\n", "app.log holds {} bytes", current.len());
    }
}
