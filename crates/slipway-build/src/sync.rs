//! Sync: copy the repository checkout into wwwroot the way KuduSync does.
//!
//! New and changed files are copied (atomically, mtimes preserved); unchanged ones are left alone.
//! A manifest lists what each deployment brought; the next sync deletes only files the previous
//! manifest lists and the new checkout no longer has, so files that users put into wwwroot outside
//! deployments stay. env and slipway's own state are never touched, and `.git`, `.deployment`,
//! the custom script and a committed `env/` are never copied.

use std::collections::BTreeSet;
use std::fs::Metadata;
use std::path::{Component, Path, PathBuf};

use filetime::FileTime;

use crate::error::IoContext;
use crate::log::BuildLog;
use crate::settings::SCM_OVERWRITE_RUNTIME_FILES;
use crate::{BuildError, Result};

/// Names at the root of wwwroot that belong to slipway, not to deployments.
pub const RESERVED_ROOT_NAMES: &[&str] = &[crate::env::ENV_DIR, crate::pipeline::STATE_DIR_NAME];

/// How many file names the log lists per kind of change before summarising.
const LOGGED_NAMES: usize = 50;

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub source: PathBuf,
    pub target: PathBuf,
    /// The manifest of the previous deployment, if there was one.
    pub previous_manifest: Option<PathBuf>,
    /// Where this deployment's manifest is written.
    pub next_manifest: PathBuf,
    /// Whether files the app or a user made in the target may be overwritten by the commit's
    /// (the setting `SCM_OVERWRITE_RUNTIME_FILES`); otherwise the sync is refused, naming them.
    pub overwrite_app_files: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub copied: Vec<String>,
    pub unchanged: usize,
    pub deleted: Vec<String>,
}

/// Refuses a target that is the source or inside it (a sync would copy into itself).
pub fn check_paths(source: &Path, target: &Path) -> Result<(PathBuf, PathBuf)> {
    let source_meta = std::fs::metadata(source).map_err(|e| {
        BuildError::InvalidPaths(format!("source directory `{}` cannot be read: {e}", source.display()))
    })?;
    if !source_meta.is_dir() {
        return Err(BuildError::InvalidPaths(format!("source `{}` is not a directory", source.display())));
    }
    let source = source.canonicalize().at("resolve", source)?;
    let target_abs = absolute_through_existing(target)?;
    if target_abs.starts_with(&source) {
        return Err(BuildError::InvalidPaths(format!(
            "target `{}` is inside source `{}`; expected a directory outside the checkout",
            target.display(),
            source.display()
        )));
    }
    Ok((source, target_abs))
}

/// Canonicalizes the longest existing ancestor and appends the rest, so a target that does not
/// exist yet can still be compared with the source.
fn absolute_through_existing(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).at("resolve", path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name().map(PathBuf::from).unwrap_or_default());
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let mut result = existing.canonicalize().at("resolve", existing)?;
    for part in rest.into_iter().rev() {
        result.push(part);
    }
    Ok(result)
}

pub fn sync(options: &SyncOptions, log: &BuildLog) -> Result<SyncReport> {
    let SyncOptions { source, target, .. } = options;
    std::fs::create_dir_all(target).at("create target directory", target)?;
    let mut report = SyncReport::default();
    let mut brought: BTreeSet<String> = BTreeSet::new();
    let entries = copied_entries(source, log)?;
    let previous = match options.previous_manifest.as_deref().filter(|p| p.exists()) {
        Some(path) => Some(read_manifest(path)?),
        None => None,
    };
    if let Some(previous) = &previous {
        check_app_files(&entries, source, target, previous, options.overwrite_app_files, log)?;
    }
    for entry in entries {
        let rel = entry.path().strip_prefix(source).expect("walk stays below source").to_path_buf();
        let rel_name = manifest_name(&rel);
        let dest = target.join(&rel);
        let file_type = entry.file_type();
        if file_type.is_dir() {
            ensure_dir(&dest)?;
            brought.insert(format!("{rel_name}/"));
        } else if file_type.is_symlink() {
            let link = std::fs::read_link(entry.path()).at("read symlink", entry.path())?;
            if !stays_inside(source, &rel, &link) {
                log.warn(format!(
                    "not copying symlink `{rel_name}` → `{}`: it points outside the repository",
                    link.display()
                ));
                continue;
            }
            if std::fs::read_link(&dest).ok().as_ref() != Some(&link) {
                crate::env::remove_path(&dest)?;
                std::os::unix::fs::symlink(&link, &dest).at("create symlink", &dest)?;
                report.copied.push(rel_name.clone());
            } else {
                report.unchanged += 1;
            }
            brought.insert(rel_name);
        } else {
            let meta = entry.metadata().map_err(|e| BuildError::io("read", entry.path(), e.into()))?;
            if is_unchanged(entry.path(), &meta, &dest)? {
                report.unchanged += 1;
            } else {
                copy_file(entry.path(), &meta, &dest)?;
                report.copied.push(rel_name.clone());
            }
            brought.insert(rel_name);
        }
    }

    if let Some(previous) = &previous {
        report.deleted = delete_no_longer_brought(previous, &brought, target, log)?;
    }
    write_manifest(&options.next_manifest, &brought)?;
    log_changes(log, "Copied", &report.copied);
    log_changes(log, "Deleted (no longer in the repository)", &report.deleted);
    log.info(format!(
        "Synced {} into {}: {} copied, {} unchanged, {} deleted.",
        source.display(),
        target.display(),
        report.copied.len(),
        report.unchanged,
        report.deleted.len()
    ));
    Ok(report)
}

/// What the checkout brings: every entry of `source` but what is never copied.
fn copied_entries(source: &Path, log: &BuildLog) -> Result<Vec<walkdir::DirEntry>> {
    // The custom script is part of the build, not of the site. A malformed `.deployment` is
    // reported by the build that reads it; here it only means there is no script to leave out.
    let script = crate::custom_script::read(source).ok().and_then(|d| d.script).and_then(|s| s.script_file);
    let walker = walkdir::WalkDir::new(source).min_depth(1).sort_by_file_name().into_iter();
    walker
        .filter_entry(|entry| {
            let rel = entry.path().strip_prefix(source).unwrap_or(entry.path());
            !is_never_copied(rel, script.as_deref(), log) && !is_committed_venv(entry, rel, log)
        })
        .map(|entry| {
            entry.map_err(|e| {
                let path = e.path().unwrap_or(source).to_path_buf();
                BuildError::io("read source", path, e.into())
            })
        })
        .collect()
}

/// Entries of the commit that would replace, with other content, something in wwwroot that the
/// app or a user made (the previous deployment did not bring it): a SQLite database, an upload,
/// a folder of uploads, a link. Refused, naming them, unless `overwrite` (the setting
/// `SCM_OVERWRITE_RUNTIME_FILES`) says otherwise.
fn check_app_files(
    entries: &[walkdir::DirEntry],
    source: &Path,
    target: &Path,
    previous: &BTreeSet<String>,
    overwrite: bool,
    log: &BuildLog,
) -> Result<()> {
    let mut in_the_way = Vec::new();
    for entry in entries {
        let rel = entry.path().strip_prefix(source).expect("walk stays below source");
        let dest = target.join(rel);
        let Ok(dest_meta) = std::fs::symlink_metadata(&dest) else { continue };
        if replaces_app_content(entry, source, rel, &dest, &dest_meta, previous)? {
            in_the_way.push(manifest_name(rel));
        }
    }
    if in_the_way.is_empty() {
        return Ok(());
    }
    let names = in_the_way.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    if overwrite {
        log.warn(format!(
            "overwriting files that the app or a user made in wwwroot, not a deployment ({SCM_OVERWRITE_RUNTIME_FILES}=true): {names}"
        ));
        return Ok(());
    }
    Err(BuildError::AppFiles(format!(
        "the commit would overwrite files that the app or a user made in wwwroot (not a deployment): {names}; remove them from the repository (data belongs in $SLIPWAY_APP_DATA), or set {SCM_OVERWRITE_RUNTIME_FILES}=true to overwrite them"
    )))
}

/// Whether copying `entry` to `dest` (which exists) would replace what the app or a user made.
fn replaces_app_content(
    entry: &walkdir::DirEntry,
    source: &Path,
    rel: &Path,
    dest: &Path,
    dest_meta: &std::fs::Metadata,
    previous: &BTreeSet<String>,
) -> Result<bool> {
    let kind = entry.file_type();
    let name = manifest_name(rel);
    if dest_meta.is_dir() {
        // A folder merges into a folder; anything else replaces the folder and all it holds.
        return if kind.is_dir() { Ok(false) } else { holds_app_content(dest, &name, previous) };
    }
    if previous.contains(&name) {
        return Ok(false);
    }
    if kind.is_dir() {
        return Ok(true);
    }
    if kind.is_symlink() {
        let link = std::fs::read_link(entry.path()).at("read symlink", entry.path())?;
        // A link that points outside the repository is not copied at all.
        let copied = stays_inside(source, rel, &link);
        return Ok(copied && std::fs::read_link(dest).ok().as_ref() != Some(&link));
    }
    if !dest_meta.is_file() {
        return Ok(true);
    }
    let size = entry.metadata().map_err(|e| BuildError::io("read", entry.path(), e.into()))?.len();
    Ok(size != dest_meta.len() || !same_contents(entry.path(), dest)?)
}

/// Whether a folder in wwwroot holds anything the previous deployment did not bring (or is
/// itself one it did not bring).
fn holds_app_content(dir: &Path, name: &str, previous: &BTreeSet<String>) -> Result<bool> {
    if !previous.contains(&format!("{name}/")) {
        return Ok(true);
    }
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.map_err(|e| BuildError::io("read", dir, e.into()))?;
        let inner = manifest_name(entry.path().strip_prefix(dir).expect("walk stays below dir"));
        let key = if entry.file_type().is_dir() { format!("{name}/{inner}/") } else { format!("{name}/{inner}") };
        if !previous.contains(&key) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_never_copied(rel: &Path, custom_script: Option<&Path>, log: &BuildLog) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let at_root = rel.components().count() == 1;
    if name == ".git" || custom_script == Some(rel) {
        return true;
    }
    if at_root && name == crate::custom_script::DEPLOYMENT_FILE {
        return true;
    }
    if at_root && name == crate::env::ENV_DIR {
        log.warn("the repository contains `env/`; it is not copied over the managed virtual environment. Add `env/` to .gitignore.");
        return true;
    }
    at_root && RESERVED_ROOT_NAMES.contains(&name)
}

/// A virtual environment in the repository (a folder with `pyvenv.cfg`, such as `.venv/`): its
/// interpreter links point into the machine that made it, and env is the app's environment.
fn is_committed_venv(entry: &walkdir::DirEntry, rel: &Path, log: &BuildLog) -> bool {
    let venv = entry.file_type().is_dir()
        && std::fs::symlink_metadata(entry.path().join("pyvenv.cfg")).is_ok_and(|m| m.is_file());
    if venv {
        let name = manifest_name(rel);
        log.warn(format!(
            "the repository contains a virtual environment, `{name}/` (it has pyvenv.cfg); it is not copied: the app runs in env, which slipway builds. Add `{name}/` to .gitignore."
        ));
    }
    venv
}

/// A relative symlink that resolves inside the checkout; absolute ones are refused.
fn stays_inside(root: &Path, rel: &Path, link: &Path) -> bool {
    let start: Vec<std::ffi::OsString> =
        rel.parent().map(|p| p.components().map(|c| c.as_os_str().to_owned()).collect()).unwrap_or_default();
    resolve_in_repo(root, start, link, &mut 0).is_some()
}

/// How many links a chain may go through before it is refused (as the kernel's ELOOP does).
const MAX_LINK_HOPS: usize = 40;

/// Follows `target` from the folder `dir` (components below `root`), expanding every link on the
/// way that is in the repository, as the kernel would: the folder it ends in, or `None` when it
/// climbs above `root` at any point, is absolute, or loops. A lexical check is not enough:
/// `d/e/f/up -> ../../..` is harmless, but `chain -> d/e/f/up/../../../..` leaves the repository.
fn resolve_in_repo(
    root: &Path,
    mut dir: Vec<std::ffi::OsString>,
    target: &Path,
    hops: &mut usize,
) -> Option<Vec<std::ffi::OsString>> {
    if target.is_absolute() {
        return None;
    }
    for component in target.components() {
        match component {
            Component::ParentDir => {
                dir.pop()?;
            }
            Component::Normal(name) => {
                dir.push(name.to_owned());
                let here: PathBuf = dir.iter().fold(root.to_path_buf(), |p, c| p.join(c));
                if std::fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink()) {
                    *hops += 1;
                    let next = std::fs::read_link(&here).ok().filter(|_| *hops <= MAX_LINK_HOPS)?;
                    dir.pop();
                    dir = resolve_in_repo(root, dir, &next, hops)?;
                }
            }
            _ => {}
        }
    }
    Some(dir)
}

fn manifest_name(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}

fn ensure_dir(dest: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => {
            crate::env::remove_path(dest)?;
            std::fs::create_dir(dest).at("create directory", dest)
        }
        Err(_) => std::fs::create_dir_all(dest).at("create directory", dest),
    }
}

/// Same size and same bytes. Size and mtime alone (rsync's quick check) are not enough: a
/// checkout made with `git archive` stamps every file with the commit time, in whole seconds, so
/// two commits made within a second look alike. A changed mtime alone is carried over.
fn is_unchanged(source: &Path, meta: &Metadata, dest: &Path) -> Result<bool> {
    let Ok(dest_meta) = std::fs::symlink_metadata(dest) else { return Ok(false) };
    if !dest_meta.is_file() || dest_meta.len() != meta.len() {
        return Ok(false);
    }
    if !same_contents(source, dest)? {
        return Ok(false);
    }
    let source_mtime = FileTime::from_last_modification_time(meta);
    if FileTime::from_last_modification_time(&dest_meta) != source_mtime {
        filetime::set_file_mtime(dest, source_mtime).at("set modification time of", dest)?;
    }
    Ok(true)
}

/// Compares two files of equal size block by block, stopping at the first difference.
/// Whether two files of the same size hold the same bytes.
fn same_contents(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    let mut fa = std::fs::File::open(a).at("read", a)?;
    let mut fb = std::fs::File::open(b).at("read", b)?;
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = fa.read(&mut ba).at("read", a)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n]).at("read", b)?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Copies through a temporary file and a rename, so a running app never reads half a file.
fn copy_file(source: &Path, meta: &Metadata, dest: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dest).is_ok_and(|m| !m.is_file()) {
        crate::env::remove_path(dest)?;
    }
    let file_name = dest.file_name().expect("a file has a name").to_string_lossy();
    let tmp = dest.with_file_name(format!(".{file_name}.slipway-tmp"));
    std::fs::copy(source, &tmp).at("copy to", &tmp)?;
    filetime::set_file_mtime(&tmp, FileTime::from_last_modification_time(meta)).at("set modification time of", &tmp)?;
    std::fs::rename(&tmp, dest).at("replace", dest)?;
    drop_cached_bytecode(dest)
}

/// Removes the bytecode CPython cached for the module `dest` (`__pycache__/<stem>.*.pyc`), which
/// the app wrote into the release this one was cloned from. CPython trusts a cached file whose
/// recorded source mtime (in whole seconds) and size match, so a change of the same size
/// committed and deployed within the same second would otherwise run the old code.
fn drop_cached_bytecode(dest: &Path) -> Result<()> {
    let (Some(stem), Some(dir)) = (dest.file_stem(), dest.parent()) else { return Ok(()) };
    if dest.extension().is_none_or(|ext| ext != "py") {
        return Ok(());
    }
    let cache = dir.join("__pycache__");
    let Ok(entries) = std::fs::read_dir(&cache) else { return Ok(()) };
    let prefix = format!("{}.", stem.to_string_lossy());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".pyc") {
            let path = entry.path();
            std::fs::remove_file(&path).at("remove stale bytecode", &path)?;
        }
    }
    Ok(())
}

/// A manifest: the relative paths a deployment brought (`dir/` for folders).
pub fn read_manifest(path: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path).at("read manifest", path)?;
    Ok(text.lines().filter(|l| !l.is_empty()).map(String::from).collect())
}

fn write_manifest(path: &Path, entries: &BTreeSet<String>) -> Result<()> {
    let dir = path.parent().expect("manifest path has a directory");
    std::fs::create_dir_all(dir).at("create directory", dir)?;
    let mut text = String::new();
    for entry in entries {
        text.push_str(entry);
        text.push('\n');
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).at("create temporary file in", dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).at("write", path)?;
    tmp.persist(path).map_err(|e| BuildError::io("write manifest", path, e.error))?;
    Ok(())
}

/// Deletes what the previous manifest lists and this sync did not bring, files first, then
/// directories that are left empty. Entries that could escape the target, or reach env or
/// slipway's state, are ignored: a custom script may have written the manifest.
fn delete_no_longer_brought(
    previous: &BTreeSet<String>,
    brought: &BTreeSet<String>,
    target: &Path,
    log: &BuildLog,
) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    let mut stale_dirs = Vec::new();
    for entry in previous.difference(brought) {
        let (rel, is_dir) = match entry.strip_suffix('/') {
            Some(dir) => (dir, true),
            None => (entry.as_str(), false),
        };
        if !is_safe_manifest_path(Path::new(rel)) {
            log.warn(format!("ignoring manifest entry `{entry}`: not a path inside wwwroot"));
            continue;
        }
        let path = target.join(rel);
        if is_dir {
            stale_dirs.push(path);
        } else if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&path).at("delete", &path)?;
            deleted.push(rel.to_string());
        }
    }
    // Deepest first, and only if empty: a directory may still hold user files.
    stale_dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for dir in stale_dirs {
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(deleted)
}

fn is_safe_manifest_path(rel: &Path) -> bool {
    let mut components = rel.components();
    let first_ok = match components.next() {
        Some(Component::Normal(name)) => !RESERVED_ROOT_NAMES.iter().any(|r| name == *r),
        _ => false,
    };
    first_ok && components.all(|c| matches!(c, Component::Normal(_)))
}

fn log_changes(log: &BuildLog, verb: &str, names: &[String]) {
    for name in names.iter().take(LOGGED_NAMES) {
        log.info(format!("  {verb}: {name}"));
    }
    if names.len() > LOGGED_NAMES {
        log.info(format!("  {verb}: … and {} more", names.len() - LOGGED_NAMES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemorySink;
    use std::sync::Arc;

    #[test]
    fn symlinks_must_stay_inside_the_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(stays_inside(root, Path::new("static/logo.png"), Path::new("../img/logo.png")));
        assert!(!stays_inside(root, Path::new("logo.png"), Path::new("../etc/passwd")));
        assert!(!stays_inside(root, Path::new("a"), Path::new("/etc/passwd")));
        // Resolved, not read lexically: a harmless link, then a chain through it that leaves.
        std::fs::create_dir_all(root.join("d/e/f")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("d/e/f/up")).unwrap();
        assert!(stays_inside(root, Path::new("d/e/f/up"), Path::new("../../..")));
        assert!(!stays_inside(root, Path::new("chain"), Path::new("d/e/f/up/../../../..")));
        assert!(stays_inside(root, Path::new("ok"), Path::new("d/e/f/up/d/e")));
        std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
        assert!(!stays_inside(root, Path::new("x"), Path::new("loop1")));
    }

    #[test]
    fn manifest_paths_cannot_escape_or_reach_env() {
        assert!(is_safe_manifest_path(Path::new("app/views.py")));
        assert!(!is_safe_manifest_path(Path::new("../other/app.py")));
        assert!(!is_safe_manifest_path(Path::new("/etc/passwd")));
        assert!(!is_safe_manifest_path(Path::new("env/bin/python")));
        assert!(!is_safe_manifest_path(Path::new("a/../../b")));
    }

    #[test]
    fn target_inside_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_paths(dir.path(), &dir.path().join("out/site")).unwrap_err().to_string();
        assert!(err.contains("is inside source"), "{err}");
        let err = check_paths(&dir.path().join("missing"), &dir.path().join("t")).unwrap_err().to_string();
        assert!(err.starts_with("source directory"), "{err}");
    }

    #[test]
    fn resync_copies_only_changes_and_deletes_only_what_was_brought() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst, state) = (dir.path().join("src"), dir.path().join("dst"), dir.path().join("state"));
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        std::fs::write(src.join("app.py"), "v1").unwrap();
        std::fs::write(src.join("pkg/mod.py"), "m").unwrap();
        let options = SyncOptions {
            overwrite_app_files: false,
            source: src.clone(),
            target: dst.clone(),
            previous_manifest: Some(state.join("manifest")),
            next_manifest: state.join("manifest"),
        };
        let log = BuildLog::new(Arc::new(MemorySink::default()));
        let first = sync(&options, &log).unwrap();
        assert_eq!(first.copied, ["app.py", "pkg/mod.py"]);
        std::fs::write(dst.join("user.txt"), "mine").unwrap();

        std::fs::remove_dir_all(src.join("pkg")).unwrap();
        std::fs::write(src.join("app.py"), "v2").unwrap();
        let second = sync(&options, &log).unwrap();
        assert_eq!(second.copied, ["app.py"]);
        assert_eq!(second.deleted, ["pkg/mod.py"]);
        assert!(!dst.join("pkg").exists(), "emptied directory the deployment brought is removed");
        assert_eq!(std::fs::read_to_string(dst.join("user.txt")).unwrap(), "mine");

        let third = sync(&options, &log).unwrap();
        assert_eq!((third.copied.len(), third.unchanged), (0, 1));

        // Same size, same mtime, different bytes (two commits in one second): still copied.
        let mtime = FileTime::from_last_modification_time(&std::fs::metadata(src.join("app.py")).unwrap());
        std::fs::write(src.join("app.py"), "v3").unwrap();
        filetime::set_file_mtime(src.join("app.py"), mtime).unwrap();
        // The app cached bytecode for app.py (which CPython would find still valid) and for
        // application.py, which stays.
        std::fs::create_dir(dst.join("__pycache__")).unwrap();
        for cached in ["app.cpython-312.pyc", "app.cpython-312.opt-1.pyc", "application.cpython-312.pyc"] {
            std::fs::write(dst.join("__pycache__").join(cached), "bytecode").unwrap();
        }
        let fourth = sync(&options, &log).unwrap();
        assert_eq!(fourth.copied, ["app.py"]);
        assert_eq!(std::fs::read_to_string(dst.join("app.py")).unwrap(), "v3");
        let left: Vec<_> =
            std::fs::read_dir(dst.join("__pycache__")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["application.cpython-312.pyc"]);
    }

    #[test]
    fn files_the_app_made_are_not_overwritten_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst, state) = (dir.path().join("src"), dir.path().join("dst"), dir.path().join("state"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("app.py"), "v1").unwrap();
        let mut options = SyncOptions {
            overwrite_app_files: false,
            source: src.clone(),
            target: dst.clone(),
            previous_manifest: Some(state.join("manifest")),
            next_manifest: state.join("manifest"),
        };
        let log = BuildLog::new(Arc::new(MemorySink::default()));
        sync(&options, &log).unwrap();
        std::fs::write(dst.join("notes.db"), "the app's data").unwrap();
        std::fs::write(src.join("notes.db"), "a test fixture").unwrap();
        let err = sync(&options, &log).unwrap_err().to_string();
        assert!(err.starts_with("the commit would overwrite files that the app or a user made in wwwroot (not a deployment): `notes.db`;"), "{err}");
        assert_eq!(std::fs::read_to_string(dst.join("notes.db")).unwrap(), "the app's data", "nothing is lost");

        std::fs::write(src.join("notes.db"), "the app's data").unwrap();
        sync(&options, &log).unwrap();
        std::fs::write(src.join("notes.db"), "a test fixture").unwrap();
        sync(&options, &log).unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("notes.db")).unwrap(),
            "a test fixture",
            "the commit brought it last time"
        );

        // A folder of uploads the app made, and a link a user made: a commit's file of that
        // name would replace them (and all the folder holds).
        std::fs::create_dir_all(dst.join("uploads/2026")).unwrap();
        std::fs::write(dst.join("uploads/2026/photo.jpg"), "a user's photo").unwrap();
        std::fs::write(src.join("uploads"), "a file").unwrap();
        let err = sync(&options, &log).unwrap_err().to_string();
        assert!(err.contains("(not a deployment): `uploads`;"), "{err}");
        assert!(dst.join("uploads/2026/photo.jpg").is_file(), "nothing is lost");
        std::fs::remove_file(src.join("uploads")).unwrap();
        std::os::unix::fs::symlink("app.py", dst.join("current")).unwrap();
        std::fs::create_dir(src.join("current")).unwrap();
        std::fs::write(src.join("current/readme"), "x").unwrap();
        let err = sync(&options, &log).unwrap_err().to_string();
        assert!(err.contains("`current`"), "{err}");
        std::fs::remove_dir_all(src.join("current")).unwrap();
        // A folder the commit brought, with only what it brought, merges or goes quietly.
        std::fs::create_dir_all(src.join("static")).unwrap();
        std::fs::write(src.join("static/site.css"), "body{}").unwrap();
        sync(&options, &log).unwrap();
        std::fs::remove_dir_all(src.join("static")).unwrap();
        std::fs::write(src.join("static"), "now a file").unwrap();
        sync(&options, &log).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("static")).unwrap(), "now a file");

        std::fs::write(dst.join("uploads.txt"), "mine").unwrap();
        std::fs::write(src.join("uploads.txt"), "theirs").unwrap();
        options.overwrite_app_files = true;
        sync(&options, &log).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("uploads.txt")).unwrap(), "theirs");
    }
}
