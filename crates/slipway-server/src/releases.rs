//! Releases on disk: `site/releases/<deployment id>/`, one per successful deployment, and
//! `site/wwwroot`, a relative symlink to the live one, switched atomically (a new symlink renamed
//! over the old). The store says which deployment is live; at start [`recover`] makes the disk
//! agree with it and clears what a crash left.
//!
//! Release 0 holds what was in wwwroot before the first deployment (files uploaded over FTP),
//! so that the first release starts from them like any later one starts from its predecessor.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::layout::AppPaths;

/// Where `wwwroot` points, as a path relative to `site/`.
fn link_target(id: i64) -> PathBuf {
    Path::new("releases").join(id.to_string())
}

/// The live release: the id and directory `wwwroot` points to.
pub fn live(paths: &AppPaths) -> Option<(i64, PathBuf)> {
    let target = std::fs::read_link(paths.wwwroot()).ok()?;
    let id = target.strip_prefix("releases").ok()?.to_str()?.parse().ok()?;
    Some((id, paths.release(id)))
}

/// Points `wwwroot` at release `id`, atomically: a request, an FTP session or a process sees
/// the old release or the new one, never none.
pub fn switch(paths: &AppPaths, id: i64) -> std::io::Result<()> {
    let next = paths.site().join(".wwwroot.next");
    let _ = std::fs::remove_file(&next);
    std::os::unix::fs::symlink(link_target(id), &next)?;
    std::fs::rename(&next, paths.wwwroot())
}

/// Before a file in the app home is written in place (an FTP upload, a VFS `PUT`): if it shares
/// its inode with another release (releases are hard-linked clones of each other), it gets one of
/// its own first, so that the write changes this release only — a kept release stays as it was
/// built, and a rollback after an FTP hot-fix runs the code it ran before. A file outside `home`
/// (through a link) is left alone: the write itself is refused there.
pub fn unshare(home: &Path, file: &Path) -> std::io::Result<()> {
    let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else { return Ok(()) };
    let (Ok(parent), Ok(home)) = (parent.canonicalize(), home.canonicalize()) else { return Ok(()) };
    if !parent.starts_with(&home) {
        return Ok(());
    }
    let file = parent.join(name);
    let meta = match std::fs::symlink_metadata(&file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    use std::os::unix::fs::MetadataExt as _;
    if !meta.is_file() || meta.nlink() < 2 {
        return Ok(());
    }
    let own = parent.join(format!(".{}.slipway-unshare", name.to_string_lossy()));
    std::fs::copy(&file, &own)?;
    std::os::unix::fs::lchown(&own, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::rename(&own, &file)
}

/// A new app: an empty release 0, live.
pub fn create(paths: &AppPaths) -> std::io::Result<()> {
    std::fs::create_dir_all(paths.release(0))?;
    switch(paths, 0)
}

pub fn remove(paths: &AppPaths, id: i64) {
    let dir = paths.release(id);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("removing release {}: {e}", dir.display());
        }
    }
}

/// Makes the disk agree with the store after a (re)start: the old layout (a real `wwwroot`
/// directory) becomes a release, releases no kept deployment owns are removed with every
/// checkout left in `tmp/`, and `wwwroot` points at the live release (`live`, else release 0).
pub fn recover(paths: &AppPaths, live: Option<i64>, kept: &BTreeSet<i64>) -> std::io::Result<()> {
    adopt_old_layout(paths, live.unwrap_or(0))?;
    let live = live.filter(|id| paths.release(*id).is_dir()).unwrap_or(0);
    std::fs::create_dir_all(paths.release(live))?;
    if let Ok(entries) = std::fs::read_dir(paths.releases()) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_str().and_then(|n| n.parse::<i64>().ok());
            if let Some(id) = id.filter(|id| *id != live && !kept.contains(id)) {
                tracing::info!("removing release {id}: no kept deployment owns it (a build a stop interrupted)");
                remove(paths, id);
            }
        }
    }
    let _ = std::fs::remove_dir_all(paths.tmp());
    switch(paths, live)
}

/// The layout before releases: code and env in a real `site/wwwroot` directory and the manifest
/// in `site/deployments/manifest`. They move into release `id`, and env's scripts are made to
/// name their new place.
fn adopt_old_layout(paths: &AppPaths, id: i64) -> std::io::Result<()> {
    let wwwroot = paths.wwwroot();
    let is_directory = std::fs::symlink_metadata(&wwwroot).is_ok_and(|m| m.is_dir());
    if !is_directory {
        return Ok(());
    }
    let release = paths.release(id);
    tracing::info!("moving {} into release {id} ({})", wwwroot.display(), release.display());
    std::fs::create_dir_all(paths.releases())?;
    let _ = std::fs::remove_dir_all(&release);
    std::fs::rename(&wwwroot, &release)?;
    let state = release.join(slipway_build::pipeline::STATE_DIR_NAME);
    std::fs::create_dir_all(&state)?;
    let old_manifest = paths.deployments().join(slipway_build::pipeline::MANIFEST_FILE);
    if old_manifest.is_file() {
        std::fs::rename(&old_manifest, state.join(slipway_build::pipeline::MANIFEST_FILE))?;
    }
    let env = release.join(slipway_build::env::ENV_DIR);
    if env.is_dir() {
        slipway_build::release::relocate(&env, &wwwroot, &release).map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// Reads the file `rel` of `release` as the server (root) may read the app's files: resolved
/// below `release` only (`openat2(RESOLVE_BENEATH)`: a link that leads out is refused by the
/// kernel), a regular file, at most `max` bytes. `None` when it is not there.
pub fn read_file(release: &Path, rel: &Path, max: u64) -> std::io::Result<Option<String>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    use std::io::Read;
    let dir = rustix::fs::open(release, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match rustix::fs::openat2(&dir, rel, flags, Mode::empty(), ResolveFlags::BENEATH) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut text = String::new();
    file.take(max).read_to_string(&mut text)?;
    Ok(Some(text))
}

/// What a release's deployment brought (its manifest), to tell its files from users' files.
pub fn brought(release: &Path) -> BTreeSet<String> {
    let manifest = release.join(slipway_build::pipeline::STATE_DIR_NAME).join(slipway_build::pipeline::MANIFEST_FILE);
    slipway_build::sync::read_manifest(&manifest).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(dir: &Path) -> AppPaths {
        AppPaths { home: dir.to_path_buf() }
    }

    #[test]
    fn a_file_written_in_place_stops_sharing_its_inode_with_other_releases() {
        let dir = tempfile::tempdir().unwrap();
        let paths = app(dir.path());
        for id in [1, 2] {
            std::fs::create_dir_all(paths.release(id)).unwrap();
        }
        std::fs::write(paths.release(1).join("app.py"), "v1").unwrap();
        std::fs::hard_link(paths.release(1).join("app.py"), paths.release(2).join("app.py")).unwrap();
        switch(&paths, 2).unwrap();
        unshare(&paths.home, &paths.wwwroot().join("app.py")).unwrap();
        std::fs::write(paths.wwwroot().join("app.py"), "hot-fix").unwrap();
        assert_eq!(std::fs::read_to_string(paths.release(1).join("app.py")).unwrap(), "v1", "v1 stays as built");
        assert_eq!(std::fs::read_to_string(paths.release(2).join("app.py")).unwrap(), "hot-fix");
        // A new file, and a file outside the home, are left as they are.
        unshare(&paths.home, &paths.wwwroot().join("new.py")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x"), "x").unwrap();
        std::fs::hard_link(outside.path().join("x"), outside.path().join("y")).unwrap();
        unshare(&paths.home, &outside.path().join("x")).unwrap();
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(std::fs::metadata(outside.path().join("y")).unwrap().nlink(), 2);
    }

    #[test]
    fn wwwroot_follows_the_switch_and_recovery_keeps_only_what_the_store_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let paths = app(dir.path());
        create(&paths).unwrap();
        assert_eq!(live(&paths), Some((0, paths.release(0))));
        for id in [3, 4, 5] {
            std::fs::create_dir_all(paths.release(id)).unwrap();
        }
        std::fs::write(paths.release(4).join("app.py"), "four").unwrap();
        switch(&paths, 4).unwrap();
        assert_eq!(std::fs::read_to_string(paths.wwwroot().join("app.py")).unwrap(), "four");
        std::fs::create_dir_all(paths.tmp().join("checkout-5")).unwrap();

        // Deployment 5 was being built when the server died; 3 and 4 are kept, 3 is live.
        recover(&paths, Some(3), &[3, 4].into()).unwrap();
        assert_eq!(live(&paths).unwrap().0, 3);
        assert!(paths.release(4).is_dir() && !paths.release(5).exists() && !paths.release(0).exists());
        assert!(!paths.tmp().exists());
    }

    #[test]
    fn files_are_read_only_from_inside_the_release() {
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("release");
        std::fs::create_dir_all(release.join("sub")).unwrap();
        std::fs::write(dir.path().join("secret"), "TOKEN").unwrap();
        std::fs::write(release.join("Procfile"), "web: x\n").unwrap();
        std::os::unix::fs::symlink("../secret", release.join("leak")).unwrap();
        std::os::unix::fs::symlink("../Procfile", release.join("sub/inner")).unwrap();
        let read = |rel: &str| read_file(&release, Path::new(rel), 1024);
        assert_eq!(read("Procfile").unwrap().as_deref(), Some("web: x\n"));
        assert_eq!(read("sub/inner").unwrap().as_deref(), Some("web: x\n"), "links inside are fine");
        assert!(read("leak").is_err(), "a link out is refused");
        assert_eq!(read("missing").unwrap(), None);
        assert_eq!(read("sub").unwrap(), None, "a folder is not a file");
    }

    #[test]
    fn the_old_layout_becomes_the_live_release() {
        let dir = tempfile::tempdir().unwrap();
        let paths = app(dir.path());
        std::fs::create_dir_all(paths.wwwroot().join("env/bin")).unwrap();
        let script = format!("#!{}/env/bin/python\n", paths.wwwroot().display());
        std::fs::write(paths.wwwroot().join("env/bin/gunicorn"), script).unwrap();
        std::fs::write(paths.wwwroot().join("app.py"), "code").unwrap();
        std::fs::create_dir_all(paths.deployments()).unwrap();
        std::fs::write(paths.deployments().join("manifest"), "app.py\n").unwrap();

        recover(&paths, Some(7), &[7].into()).unwrap();
        assert_eq!(live(&paths).unwrap().0, 7);
        assert_eq!(std::fs::read_to_string(paths.wwwroot().join("app.py")).unwrap(), "code");
        assert_eq!(brought(&paths.release(7)), ["app.py".to_string()].into());
        let relocated = std::fs::read_to_string(paths.release(7).join("env/bin/gunicorn")).unwrap();
        assert_eq!(relocated, format!("#!{}/env/bin/python\n", paths.release(7).display()));
    }
}
