//! A build run as a job: the whole [`BuildRequest`] as JSON on standard input, the log on standard
//! error as it is written, and a [`BuildReport`] — what the build did, as data — as JSON on
//! standard output. `slipway serve` runs every build this way, as the app's own user and in the
//! app's sandbox, so that nothing in the repository runs with the server's rights; `slipway
//! build-job` is the job's side.
//!
//! A job's commands stay in the job's process group (see [`crate::log::Cancel::in_callers_group`]):
//! whoever runs the job stops all of it by signalling that one group.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::log::{BuildLog, StepTiming};
use crate::pipeline::{self, BuildRequest, MANIFEST_FILE, STATE_DIR_NAME};
use crate::release;

/// What a job does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// A build into a release.
    Build(BuildRequest),
    /// A rollback's part in the releases: the files users or the app put into release `from`
    /// are linked into release `to` (see [`release::carry_user_files`]).
    CarryUserFiles { from: PathBuf, to: PathBuf },
}

/// What a build job did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildReport {
    /// Every step, as it ended.
    pub steps: Vec<StepTiming>,
    /// How the build ended: what it made, or the one-line reason it failed.
    pub result: Result<Built, String>,
}

/// What a successful build made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Built {
    /// The Python version the release runs on (`None` when the Python steps were skipped).
    pub python_version: Option<String>,
    pub env_reused: bool,
    pub installer_ran: bool,
}

/// Runs the job, logging into `log`; never panics on bad input.
pub fn run(job: &Job, log: &BuildLog) -> BuildReport {
    match job {
        Job::Build(request) => build(request, log),
        Job::CarryUserFiles { from, to } => {
            let skip = crate::sync::RESERVED_ROOT_NAMES;
            let brought =
                |release: &PathBuf| crate::sync::read_manifest(&release.join(STATE_DIR_NAME).join(MANIFEST_FILE)).ok();
            // A release a custom script made may have no manifest: then what a deployment brought
            // cannot be told from what users made. With none in `from`, nothing is carried; with
            // none in `to`, only what `to` lacks (its own files stay as the script left them).
            let result = match brought(from) {
                None => Ok(0),
                Some(from_brought) => {
                    let to_brought = brought(to).unwrap_or_else(|| {
                        let every = release::user_files(to, &Default::default(), skip);
                        every.iter().map(|rel| rel.to_string_lossy().into_owned()).collect()
                    });
                    release::carry_user_files(from, &from_brought, to, &to_brought, skip)
                }
            };
            let result = result
                .map(|carried| {
                    log.info(format!("Carried {carried} files that users or the app put into the live release."));
                    Built::default()
                })
                .map_err(|e| e.to_string());
            BuildReport { steps: Vec::new(), result }
        }
    }
}

/// Runs the build the request describes, logging into `log`.
fn build(request: &BuildRequest, log: &BuildLog) -> BuildReport {
    let result = pipeline::run_steps(request, log)
        .map(|outcome| Built {
            python_version: outcome.runtime.map(|r| r.version.to_string()),
            env_reused: outcome.env_reused,
            installer_ran: outcome.installer_ran,
        })
        .map_err(|e| log.masked(&e.to_string()));
    BuildReport { steps: log.timings(), result }
}
