//! Kudu's zipdeploy: an archive of the app (zip or gzipped tar) deployed like a push. Its files
//! become a commit on `refs/slipway/zipdeploy` in the app's repository — the deployment branch is
//! left alone, so a later `git push` is not refused — and that commit is built and started as
//! any other, so redeploy and rollback work the same.

use super::Service;
use crate::app_name::AppName;
use crate::archive::{self, Unpacked};
use crate::error::{Error, Result};
use crate::store::{Deployment, Trigger};

/// Where the uploaded code is kept, each upload's commit on top of the one before.
pub const ZIPDEPLOY_REF: &str = "refs/slipway/zipdeploy";

impl Service {
    /// Unpacks the archive, records it as a commit and starts its deployment (it runs on in the
    /// background). Returns the deployment and what the archive held.
    pub async fn zipdeploy(&self, app: &AppName, bytes: Vec<u8>) -> Result<(Deployment, Unpacked)> {
        self.require_app(app)?;
        let paths = self.paths(app);
        let tmp = paths.tmp();
        let repo = paths.repository();
        let (commit, unpacked) = tokio::task::spawn_blocking(move || -> Result<(String, Unpacked)> {
            std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
            let dir = tempfile::Builder::new()
                .prefix("upload-")
                .tempdir_in(&tmp)
                .map_err(|e| Error::io("create a folder in", &tmp, e))?;
            let unpacked =
                archive::unpack(&bytes, dir.path()).map_err(|e| Error::Invalid(format!("zipdeploy: {e}")))?;
            if unpacked.files == 0 {
                return Err(Error::Invalid("zipdeploy: the archive holds no files".into()));
            }
            let message = format!("zipdeploy: {} files, {} bytes", unpacked.files, unpacked.bytes);
            let commit = crate::git::commit_folder(&repo, dir.path(), ZIPDEPLOY_REF, &message)?;
            Ok((commit, unpacked))
        })
        .await??;
        tracing::info!("{app}: zipdeploy of {} files as commit {commit}", unpacked.files);
        let deployment = self.start_in_background(app, commit, false, Trigger::Zipdeploy).await?;
        Ok((deployment, unpacked))
    }
}
