//! Pid files (`<data-dir>/run/apps/<app>.pid`): the process group of each app's running process,
//! so that a server that was killed (kill -9) can stop it at its next start.

use crate::app_name::AppName;
use crate::layout::DataDir;

use super::process::stop_group;

pub fn record_pid(data_dir: &DataDir, app: &AppName, pid: Option<u32>) {
    let path = data_dir.pid_file(app);
    match pid {
        Some(pid) => {
            let _ = std::fs::create_dir_all(data_dir.pid_files());
            let _ = std::fs::write(&path, pid.to_string());
        }
        None => {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Stops app processes left running by a server that died without stopping them.
pub async fn stop_orphans(data_dir: &DataDir) {
    let Ok(entries) = std::fs::read_dir(data_dir.pid_files()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let app = path.file_stem().and_then(|s| AppName::parse(&s.to_string_lossy()).ok());
        let pid: Option<u32> = std::fs::read_to_string(&path).ok().and_then(|p| p.trim().parse().ok());
        if let (Some(app), Some(pid)) = (app, pid) {
            let wwwroot = data_dir.app(&app).wwwroot();
            // Only a process still working in this app's wwwroot: the pid may have been reused.
            if std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == wwwroot) {
                tracing::info!("stopping {app}'s process {pid}, left over from before the restart");
                stop_group(pid).await;
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}
