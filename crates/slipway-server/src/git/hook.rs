//! git's pre-receive hook, and the server's side of it.
//!
//! A push reaches `git http-backend`, which runs `receive-pack`, which runs the hook
//! (`slipway hook pre-receive`) before it moves any ref. The hook hands the pushed refs to the
//! server over a Unix socket (`<data-dir>/run/hook.sock`) and prints everything the server sends
//! back; git relays that to the pusher as `remote:` lines while the build runs. The hook's exit
//! code accepts or rejects the push, so a failed build leaves the branch where it was.
//!
//! The protocol is one JSON line up ([`HookRequest`]), then text lines down; the last line is
//! [`RESULT_OK`] or starts with [`RESULT_REJECTED`].

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::{ObjectAccess, ZERO_SHA};
use crate::app_name::AppName;
use crate::deployer::{DeployRequest, PushCheck};
use crate::service::Service;
use crate::store::{Status, Trigger};

pub const ENV_SOCKET: &str = "SLIPWAY_HOOK_SOCKET";
pub const ENV_TOKEN: &str = "SLIPWAY_HOOK_TOKEN";
pub const ENV_APP: &str = "SLIPWAY_APP";
/// Names the `git http-backend` run of a push, so the deployer can hold the app until it ends.
pub const ENV_PUSH_ID: &str = "SLIPWAY_PUSH_ID";
const RESULT_OK: &str = "\u{0}slipway:ok";
const RESULT_REJECTED: &str = "\u{0}slipway:rejected";
pub const CLEAN_ENV_OPTION: &str = "clean-env";

#[derive(Debug, Serialize, Deserialize)]
pub struct HookRequest {
    pub token: String,
    pub app: String,
    pub refs: Vec<RefUpdate>,
    pub push_options: Vec<String>,
    pub access: ObjectAccess,
    #[serde(default)]
    pub push_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

// ---- client: runs inside git's hook process ----

/// `slipway hook pre-receive`: returns the exit code for git.
pub fn run_pre_receive() -> i32 {
    match pre_receive() {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("slipway: {e:#}");
            1
        }
    }
}

fn pre_receive() -> anyhow::Result<bool> {
    let (Ok(socket), Ok(token), Ok(app)) =
        (std::env::var(ENV_SOCKET), std::env::var(ENV_TOKEN), std::env::var(ENV_APP))
    else {
        anyhow::bail!(
            "pushes are accepted only through slipway's git URL (this push did not come through `slipway serve`)"
        );
    };
    let mut refs = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        if let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) {
            refs.push(RefUpdate { old: old.into(), new: new.into(), name: name.into() });
        }
    }
    let count: usize = std::env::var("GIT_PUSH_OPTION_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    let push_options = (0..count).filter_map(|i| std::env::var(format!("GIT_PUSH_OPTION_{i}")).ok()).collect();
    let access = ObjectAccess {
        object_directory: std::env::var("GIT_OBJECT_DIRECTORY").ok(),
        alternate_object_directories: std::env::var("GIT_ALTERNATE_OBJECT_DIRECTORIES").ok(),
    };
    let push_id = std::env::var(ENV_PUSH_ID).unwrap_or_default();
    let request = HookRequest { token, app, refs, push_options, access, push_id };
    let mut stream = std::os::unix::net::UnixStream::connect(&socket)
        .map_err(|e| anyhow::anyhow!("cannot reach the slipway server at {socket}: {e}"))?;
    serde_json::to_writer(&mut stream, &request)?;
    stream.write_all(b"\n")?;
    let mut stderr = std::io::stderr();
    for line in BufReader::new(stream).lines() {
        let line = line?;
        if line == RESULT_OK {
            return Ok(true);
        }
        if line.starts_with(RESULT_REJECTED) {
            return Ok(false);
        }
        let _ = writeln!(stderr, "{line}");
        let _ = stderr.flush();
    }
    anyhow::bail!("the slipway server closed the connection before the deployment finished")
}

// ---- server ----

/// Binds the hook socket in a folder only the server's user can enter, the socket itself 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().expect("the socket has a folder");
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Answers hook connections until the task is aborted.
pub async fn serve(listener: UnixListener, service: Service) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let service = service.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &service).await {
                tracing::warn!("pre-receive hook connection: {e}");
            }
        });
    }
}

async fn handle(stream: UnixStream, service: &Service) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::BufReader::new(read).read_line(&mut line).await?;
    let request = serde_json::from_str::<HookRequest>(&line)
        .ok()
        .filter(|r| r.token == service.shared().hook_token)
        .and_then(|r| Some((AppName::parse(&r.app).ok().filter(|app| service.require_app(app).is_ok())?, r)));
    let Some((app, request)) = request else {
        let refusal = format!("slipway: refusing a hook that did not come from this server\n{RESULT_REJECTED}\n");
        return write.write_all(refusal.as_bytes()).await;
    };
    let (progress, mut lines) = mpsc::unbounded_channel();
    let branch = service.settings(&app).map(|s| s.deployment_branch().to_string()).unwrap_or_default();
    let decision = tokio::spawn(decide(app, request, branch, service.clone(), progress));
    while let Some(line) = lines.recv().await {
        write.write_all(line.as_bytes()).await?;
        write.write_all(b"\n").await?;
    }
    let accepted = decision.await.unwrap_or(false);
    write.write_all(if accepted { RESULT_OK } else { RESULT_REJECTED }.as_bytes()).await?;
    write.write_all(b"\n").await
}

/// Accepts or rejects the push: the deployment branch is deployed (a failed build rejects it),
/// deleting it is refused, other refs are stored.
async fn decide(
    app: AppName,
    request: HookRequest,
    branch: String,
    service: Service,
    progress: mpsc::UnboundedSender<String>,
) -> bool {
    let deployed_ref = format!("refs/heads/{branch}");
    let mut to_deploy = None;
    for update in &request.refs {
        if update.name == deployed_ref {
            if update.new == ZERO_SHA {
                let _ =
                    progress.send(format!("slipway: refusing to delete `{branch}`, the deployment branch of {app}"));
                return false;
            }
            to_deploy = Some(update.clone());
        } else if update.name.starts_with("refs/heads/") {
            let _ = progress.send(format!(
                "slipway: `{}` stored, not deployed: only `{branch}` is deployed (setting DEPLOYMENT_BRANCH)",
                update.name.trim_start_matches("refs/heads/")
            ));
        }
    }
    let Some(update) = to_deploy else { return true };
    let clean_env = request.push_options.iter().any(|o| o == CLEAN_ENV_OPTION);
    let push = PushCheck { id: request.push_id.clone(), ref_name: update.name.clone(), old: update.old.clone() };
    let deploy = DeployRequest {
        app,
        commit: update.new.clone(),
        clean_env,
        trigger: Trigger::Push,
        access: request.access,
        push: Some(push),
    };
    match service.deploy(deploy, progress.clone()).await {
        Ok((_, handle)) => {
            drop(progress);
            handle.await.map(|d| d.status == Status::Success).unwrap_or(false)
        }
        Err(e) => {
            let _ = progress.send(format!("slipway: cannot start the deployment: {}", e.public_message()));
            false
        }
    }
}
