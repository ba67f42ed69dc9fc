//! The environment an app's process or command gets besides what every process of the app gets
//! ([`crate::sandbox`]): its settings, its data folder, `PORT` (web processes), and env activated
//! (`VIRTUAL_ENV`, env's `bin` first on `PATH`).

use std::path::Path;

use crate::layout::DATA_VAR;
use crate::settings::AppSettings;

pub fn app_environment(
    release: &Path,
    runtime: Option<&Path>,
    settings: &AppSettings,
    data: &Path,
    port: Option<u16>,
) -> Vec<(String, String)> {
    let env_dir = release.join(slipway_build::env::ENV_DIR);
    let system = "/usr/local/bin:/usr/bin:/bin";
    let path = match runtime {
        Some(bin) => format!("{}:{system}", bin.display()),
        None => system.to_string(),
    };
    let mut vars: Vec<(String, String)> = settings.environment().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some(port) = port {
        vars.push(("PORT".into(), port.to_string()));
    }
    vars.push((DATA_VAR.into(), data.to_string_lossy().into_owned()));
    vars.push(("PYTHONUNBUFFERED".into(), "1".into()));
    if env_dir.join("bin").is_dir() {
        vars.push(("VIRTUAL_ENV".into(), env_dir.to_string_lossy().into_owned()));
        vars.push(("PATH".into(), format!("{}:{path}", env_dir.join("bin").display())));
    } else {
        vars.push(("PATH".into(), path));
    }
    vars
}
