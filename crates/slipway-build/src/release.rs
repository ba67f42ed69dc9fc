//! Releases: a new deployment is built in a directory of its own, starting as a copy of the
//! previous release made of hard links — so it costs neither copy time nor disk for what did not
//! change — and the previous release is never written to.
//!
//! Two things make a hard-linked copy safe:
//! - everything that changes a file afterwards replaces it instead of writing into it: sync copies
//!   through a temporary file and a rename, installers unlink before they write, the env marker is
//!   written atomically;
//! - files that name the release's own path (a virtual environment's scripts have
//!   `#!/…/releases/5/env/bin/python`, `pyvenv.cfg`, `.pth` files of editable installs) are
//!   rewritten in the copy to name the new path ([`relocate`]): a virtual environment is not
//!   relocatable by itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::{BuildError, Result};

/// Files in a virtual environment that may name its absolute path; others are never rewritten.
fn may_name_its_path(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = rel.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("");
    let in_bin = rel.components().count() == 2 && parent == "bin";
    in_bin
        || name == "pyvenv.cfg"
        || (parent == "site-packages"
            && (name.ends_with(".pth") || name.ends_with(".egg-link") || name.starts_with("__editable__")))
        || (name == "direct_url.json" && parent.ends_with(".dist-info"))
}

/// Files larger than this are not scanned for the old path (scripts and `.pth` files are small).
const MAX_RELOCATED_FILE: u64 = 1024 * 1024;

/// How a clone holds the files of the tree it was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Hard links: free, for builds whose every write replaces a file (sync, installers).
    Linked,
    /// Copies: for a custom deployment script, which may write into a file in place (`cp`, `>>`)
    /// and through a hard link would change the live release while it builds.
    Copied,
}

/// Copies the tree `from` into `to` (which must not exist) as hard links or copies, leaving out
/// the top-level names in `skip`. Symlinks are copied as they are; where hard links are not
/// possible (another file system), files are copied.
pub fn clone_tree(from: &Path, to: &Path, skip: &[&str], files: Files) -> Result<()> {
    std::fs::create_dir_all(to).at("create directory", to)?;
    let walker = walkdir::WalkDir::new(from)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && skip.iter().any(|s| e.file_name() == *s)));
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(from).to_path_buf();
            BuildError::io("read", path, e.into())
        })?;
        let rel = entry.path().strip_prefix(from).expect("below the root");
        clone_entry(&entry, &to.join(rel), files)?;
    }
    Ok(())
}

fn clone_entry(entry: &walkdir::DirEntry, dest: &Path, files: Files) -> Result<()> {
    let file_type = entry.file_type();
    if file_type.is_dir() {
        std::fs::create_dir(dest).at("create directory", dest)?;
        let mode = entry.metadata().map_err(|e| BuildError::io("read", entry.path(), e.into()))?.permissions();
        std::fs::set_permissions(dest, mode).at("set permissions of", dest)
    } else if file_type.is_symlink() {
        let link = std::fs::read_link(entry.path()).at("read symlink", entry.path())?;
        std::os::unix::fs::symlink(&link, dest).at("create symlink", dest)
    } else if files == Files::Copied || std::fs::hard_link(entry.path(), dest).is_err() {
        std::fs::copy(entry.path(), dest).at("copy to", dest).map(|_| ())
    } else {
        Ok(())
    }
}

/// Copies a virtual environment from one release to another ([`clone_tree`]) and makes the copy
/// name its own place: every occurrence of `from_root` in the files that can hold it becomes
/// `to_root`.
pub fn clone_env(from_env: &Path, to_env: &Path, from_root: &Path, to_root: &Path) -> Result<()> {
    clone_tree(from_env, to_env, &[], Files::Linked)?;
    relocate(to_env, from_root, to_root)
}

/// Rewrites, in the virtual environment `env`, the files that name `old_root` to name `new_root`.
/// Each is replaced (written aside, then renamed), never written into: it may be a hard link
/// shared with another release.
pub fn relocate(env: &Path, old_root: &Path, new_root: &Path) -> Result<()> {
    let (old, new) = (old_root.as_os_str().as_encoded_bytes(), new_root.as_os_str().as_encoded_bytes());
    for entry in walkdir::WalkDir::new(env).min_depth(1).max_depth(5) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(env).to_owned();
            BuildError::io("read", path, e.into())
        })?;
        let rel = entry.path().strip_prefix(env).expect("below env");
        if !entry.file_type().is_file() || !may_name_its_path(rel) {
            continue;
        }
        let meta = entry.metadata().map_err(|e| BuildError::io("read", entry.path(), e.into()))?;
        if meta.len() > MAX_RELOCATED_FILE {
            continue;
        }
        let bytes = std::fs::read(entry.path()).at("read", entry.path())?;
        if let Some(rewritten) = replace_path(&bytes, old, new) {
            replace_file(entry.path(), &rewritten, meta.permissions())?;
        }
    }
    Ok(())
}

/// `bytes` with every occurrence of the path `old` that is a whole path (followed by `/`, or by a
/// byte that cannot continue a file name such as a quote, a space or a line end) replaced by
/// `new`; `None` when there is none. `releases/5` in `releases/50` is not an occurrence.
fn replace_path(bytes: &[u8], old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut found = false;
    while i < bytes.len() {
        if bytes[i..].starts_with(old) {
            let next = bytes.get(i + old.len()).copied();
            let whole = next.is_none_or(|b| !(b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
            if whole {
                out.extend_from_slice(new);
                i += old.len();
                found = true;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    found.then_some(out)
}

fn replace_file(path: &Path, contents: &[u8], permissions: std::fs::Permissions) -> Result<()> {
    let dir = path.parent().expect("a file has a folder");
    let mut tmp = tempfile::NamedTempFile::new_in(dir).at("create a temporary file in", dir)?;
    std::io::Write::write_all(&mut tmp, contents).at("write", path)?;
    std::fs::set_permissions(tmp.path(), permissions).at("set permissions of", path)?;
    tmp.persist(path).map_err(|e| BuildError::io("replace", path, e.error))?;
    Ok(())
}

/// The files in `release` that its deployment did not bring — uploaded over FTP, or written by
/// the app (a SQLite database) — leaving out the env and slipway's own state (`skip`).
pub fn user_files(release: &Path, brought: &BTreeSet<String>, skip: &[&str]) -> Vec<PathBuf> {
    let walker = walkdir::WalkDir::new(release)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && skip.iter().any(|s| e.file_name() == *s)));
    walker
        .flatten()
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| e.path().strip_prefix(release).ok().map(Path::to_path_buf))
        .filter(|rel| !brought.contains(&rel.to_string_lossy().into_owned()))
        .collect()
}

/// Links the user files of `from` into `to` (a rollback's target), where `to` has nothing of
/// that name or has only a user file of its own there (the newer one wins). Returns how many.
pub fn carry_user_files(
    from: &Path,
    from_brought: &BTreeSet<String>,
    to: &Path,
    to_brought: &BTreeSet<String>,
    skip: &[&str],
) -> Result<usize> {
    let mut carried = 0;
    for rel in user_files(from, from_brought, skip) {
        if to_brought.contains(&rel.to_string_lossy().into_owned()) {
            continue;
        }
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).at("create directory", parent)?;
        }
        let tmp =
            dest.with_file_name(format!(".{}.slipway-carry", dest.file_name().unwrap_or_default().to_string_lossy()));
        let _ = std::fs::remove_file(&tmp);
        let source = from.join(&rel);
        let linked = match std::fs::symlink_metadata(&source) {
            Ok(meta) if meta.file_type().is_symlink() => {
                std::os::unix::fs::symlink(std::fs::read_link(&source).at("read symlink", &source)?, &tmp)
            }
            // A file of another user cannot be hard-linked (protected_hardlinks): copied instead.
            _ => std::fs::hard_link(&source, &tmp).or_else(|_| std::fs::copy(&source, &tmp).map(|_| ())),
        };
        linked.at("link", &tmp)?;
        std::fs::rename(&tmp, &dest).at("replace", &dest)?;
        carried += 1;
    }
    Ok(carried)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn only_whole_paths_are_replaced() {
        let r = |text: &str| replace_path(text.as_bytes(), b"/r/5", b"/r/6").map(|b| String::from_utf8(b).unwrap());
        assert_eq!(r("#!/r/5/env/bin/python\n").as_deref(), Some("#!/r/6/env/bin/python\n"));
        assert_eq!(r("/r/5\n").as_deref(), Some("/r/6\n"));
        assert_eq!(r("'/r/5' and /r/5/x").as_deref(), Some("'/r/6' and /r/6/x"));
        assert_eq!(r("/r/50/env"), None, "another release");
        assert_eq!(r("/r/5.bak"), None);
        assert_eq!(r("nothing here"), None);
    }

    #[test]
    fn a_cloned_env_names_its_new_place_and_leaves_the_old_one_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("releases/5"), dir.path().join("releases/6"));
        let env = a.join("env");
        std::fs::create_dir_all(env.join("bin")).unwrap();
        std::fs::create_dir_all(env.join("lib/python3.12/site-packages/pkg")).unwrap();
        let script = format!("#!{}/env/bin/python\nimport pkg\n", a.display());
        std::fs::write(env.join("bin/gunicorn"), &script).unwrap();
        std::fs::write(env.join("lib/python3.12/site-packages/pkg/__init__.py"), "x = 1\n").unwrap();
        std::fs::write(env.join("lib/python3.12/site-packages/_editable.pth"), format!("{}\n", a.display())).unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", env.join("bin/python")).unwrap();
        std::fs::write(a.join("app.py"), "code").unwrap();

        clone_tree(&a, &b, &["env"], Files::Linked).unwrap();
        clone_env(&env, &b.join("env"), &a, &b).unwrap();

        let copied = std::fs::read_to_string(b.join("env/bin/gunicorn")).unwrap();
        assert_eq!(copied, format!("#!{}/env/bin/python\nimport pkg\n", b.display()));
        assert_eq!(std::fs::read_to_string(env.join("bin/gunicorn")).unwrap(), script, "the old release is untouched");
        let pth = std::fs::read_to_string(b.join("env/lib/python3.12/site-packages/_editable.pth")).unwrap();
        assert_eq!(pth.trim(), b.display().to_string());
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let module = "lib/python3.12/site-packages/pkg/__init__.py";
        assert_eq!(ino(&env.join(module)), ino(&b.join("env").join(module)), "unchanged files are hard links");
        assert_eq!(ino(&a.join("app.py")), ino(&b.join("app.py")));
        assert_eq!(std::fs::read_link(b.join("env/bin/python")).unwrap(), Path::new("/usr/bin/python3"));
    }

    #[test]
    fn user_files_are_carried_unless_the_target_release_brought_that_name() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("6"), dir.path().join("5"));
        for d in [&from, &to] {
            std::fs::create_dir_all(d.join("env")).unwrap();
        }
        std::fs::write(from.join("app.py"), "v6").unwrap();
        std::fs::write(from.join("notes.db"), "data").unwrap();
        std::fs::write(from.join("env/x"), "env").unwrap();
        std::fs::write(to.join("app.py"), "v5").unwrap();
        let brought: BTreeSet<String> = ["app.py".to_string()].into();
        let carried = carry_user_files(&from, &brought, &to, &brought, &["env"]).unwrap();
        assert_eq!(carried, 1);
        assert_eq!(std::fs::read_to_string(to.join("notes.db")).unwrap(), "data");
        assert_eq!(std::fs::read_to_string(to.join("app.py")).unwrap(), "v5", "the target's own code stays");
        assert!(!to.join("env/x").exists());
    }
}
