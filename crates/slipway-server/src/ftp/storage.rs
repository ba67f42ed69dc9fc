//! Storage: unftp-sbe-fs opened at the logged-in app's home, so every session is rooted there.
//!
//! Paths are first normalized by [`confine`] (a `..` that would climb above `/` is refused), then
//! unftp-sbe-fs resolves them with cap-std, i.e. `openat2(RESOLVE_BENEATH)`: the kernel refuses any
//! absolute symlink or `..` that leads out of the home, at the moment of the operation.
//!
//! `crate::http::vfs::resolve` is not reused here: it refuses every `..` (FTP clients legitimately
//! send `CWD ..` and relative paths), and it checks symlinks by canonicalizing before the
//! operation, whereas cap-std has the kernel enforce the confinement during the operation itself.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use unftp_core::storage::{self, ErrorKind, Fileinfo, Metadata, StorageBackend};
use unftp_sbe_fs::Filesystem;

use super::users::AppUser;

/// unftp-sbe-fs opened at the logged-in app's home (see the module docs).
#[derive(Debug, Default)]
pub struct AppStorage {
    inner: Option<Filesystem>,
}

type Meta = unftp_sbe_fs::Meta;

fn denied(message: &str) -> storage::Error {
    storage::Error::new(
        ErrorKind::PermissionDenied,
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, message.to_string()),
    )
}

/// Normalizes a client path (libunftp has joined it to the working directory already) to an
/// absolute path inside the home: `.` dropped, `..` applied, and refused when it would climb above
/// `/` — the home is the root, there is nothing above it to reach.
pub fn confine(path: &Path) -> Result<PathBuf, String> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!("`{}` leads outside the app home", path.display()));
                }
            }
            Component::Normal(part) => parts.push(part),
        }
    }
    let mut confined = PathBuf::from("/");
    confined.extend(parts);
    Ok(confined)
}

/// The live-release link, as FTP sessions see it.
const SITE: &str = "/site";
const WWWROOT: &str = "wwwroot";

impl AppStorage {
    /// The metadata of the folder `site/wwwroot` leads to.
    async fn live_release(&self, user: &AppUser) -> storage::Result<Meta> {
        let link = self.fs()?.metadata(user, Path::new(SITE).join(WWWROOT)).await?;
        let target = link.readlink().map(|t| Path::new(SITE).join(t)).ok_or_else(|| denied("not a link"))?;
        let meta = self.fs()?.metadata(user, Self::path(target)?).await?;
        if meta.is_dir() {
            Ok(meta)
        } else {
            Err(denied("not a folder"))
        }
    }

    fn fs(&self) -> storage::Result<&Filesystem> {
        self.inner.as_ref().ok_or_else(|| denied("not logged in"))
    }

    fn path<P: AsRef<Path>>(path: P) -> storage::Result<PathBuf> {
        confine(path.as_ref()).map_err(|e| denied(&e))
    }

    /// A path the session may change: one in the app's releases (what `site/wwwroot` shows) or
    /// its data folder, judged by where its folder really is (through any link the app made).
    /// The rest of the home — the git repository and its hooks, the deployment logs, the log
    /// files — is slipway's, which runs as root: a write there would be a way out of the sandbox.
    async fn writable<P: AsRef<Path>>(user: &AppUser, path: P) -> storage::Result<PathBuf> {
        let path = Self::path(path)?;
        let paths = crate::layout::AppPaths { home: user.home.clone() };
        let real = user.home.join(path.strip_prefix("/").unwrap_or(&path));
        let inside = tokio::task::spawn_blocking(move || {
            let parent = real.parent()?.canonicalize().ok()?;
            // Inside a release, not the releases themselves (which slipway keeps and prunes).
            let in_a_release = paths.releases().canonicalize().is_ok_and(|r| parent.starts_with(&r) && parent != r);
            let in_data = paths.data().canonicalize().is_ok_and(|d| parent.starts_with(d));
            Some(in_a_release || in_data)
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        if inside {
            Ok(path)
        } else {
            Err(denied("only site/wwwroot and data can be changed over FTP; the rest of the app home is slipway's"))
        }
    }
}

#[async_trait]
impl StorageBackend<AppUser> for AppStorage {
    type Metadata = Meta;

    fn enter(&mut self, user: &AppUser) -> std::io::Result<()> {
        self.inner = Some(Filesystem::new(&user.home)?);
        Ok(())
    }

    fn supported_features(&self) -> u32 {
        unftp_core::storage::FEATURE_RESTART
    }

    async fn metadata<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<Meta> {
        self.fs()?.metadata(user, Self::path(path)?).await
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &AppUser,
        path: P,
    ) -> storage::Result<Vec<Fileinfo<PathBuf, Meta>>> {
        let dir = Self::path(path)?;
        let mut entries = self.fs()?.list(user, &dir).await?;
        // `site/wwwroot` is a link to the live release: it is listed as the folder it leads to, so
        // every client opens it as the seed's wwwroot. Other links are listed as links (a
        // recursive delete must remove a link, not what it leads to).
        if dir == Path::new(SITE) {
            for entry in entries.iter_mut().filter(|e| e.path == Path::new(WWWROOT)) {
                if let Ok(meta) = self.live_release(user).await {
                    entry.metadata = meta;
                }
            }
        }
        Ok(entries)
    }

    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &AppUser,
        path: P,
        start_pos: u64,
    ) -> storage::Result<Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>> {
        self.fs()?.get(user, Self::path(path)?, start_pos).await
    }

    async fn put<P: AsRef<Path> + Send + Debug, R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &AppUser,
        input: R,
        path: P,
        start_pos: u64,
    ) -> storage::Result<u64> {
        let path = Self::writable(user, path).await?;
        let (home, file) = (user.home.clone(), user.home.join(path.strip_prefix("/").unwrap_or(&path)));
        tokio::task::spawn_blocking(move || crate::releases::unshare(&home, &file))
            .await
            .map_err(|e| storage::Error::new(ErrorKind::LocalError, e))?
            .map_err(|e| storage::Error::new(ErrorKind::LocalError, e))?;
        let written = self.fs()?.put(user, input, &path, start_pos).await?;
        user.give_to_app(&path);
        Ok(written)
    }

    async fn del<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        self.fs()?.del(user, Self::writable(user, path).await?).await
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        let path = Self::writable(user, path).await?;
        self.fs()?.mkd(user, &path).await?;
        user.give_to_app(&path);
        Ok(())
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, from: P, to: P) -> storage::Result<()> {
        self.fs()?.rename(user, Self::writable(user, from).await?, Self::writable(user, to).await?).await
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        let path = Self::writable(user, path).await?;
        self.fs()?.rmd(user, path).await
    }

    /// unftp-sbe-fs checks a CWD by listing the folder (a stat per entry); one stat is enough, and
    /// lftp's `rm -r` sends tens of thousands of CWDs for an env.
    async fn cwd<P: AsRef<Path> + Send + Debug>(&self, user: &AppUser, path: P) -> storage::Result<()> {
        let (fs, path) = (self.fs()?, Self::path(path)?);
        let meta = fs.metadata(user, &path).await?;
        if meta.is_dir() {
            Ok(())
        } else if meta.is_symlink() {
            // A link to a folder: followed only if it stays inside the home.
            fs.cwd(user, path).await
        } else {
            Err(storage::Error::from(ErrorKind::PermanentDirectoryNotAvailable))
        }
    }
}

// ---- logging ----

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_inside_the_home() {
        let ok = |p: &str| confine(Path::new(p)).unwrap();
        assert_eq!(ok("/"), PathBuf::from("/"));
        assert_eq!(ok(""), PathBuf::from("/"));
        assert_eq!(ok("/site/wwwroot/./env"), PathBuf::from("/site/wwwroot/env"));
        assert_eq!(ok("/site/wwwroot/../wwwroot/app.py"), PathBuf::from("/site/wwwroot/app.py"));
        assert_eq!(ok("site/.."), PathBuf::from("/"));
        // libunftp joins an absolute argument to the working directory by replacing it.
        assert_eq!(ok("/site//wwwroot/"), PathBuf::from("/site/wwwroot"));
        for escape in ["/..", "..", "/site/../..", "/../other-app/site", "/site/wwwroot/../../../etc/passwd"] {
            assert!(confine(Path::new(escape)).unwrap_err().contains("outside the app home"), "{escape}");
        }
    }
}
