//! Files the build reads from the repository stay in the repository: a `runtime.txt` that is a
//! symlink to the server's admin token, or a `-r /etc/hostname` in requirements.txt, is refused
//! by name, and the outside file's content is never read, let alone quoted in an error.

use std::path::{Path, PathBuf};

use crate::{BuildError, Result};

/// The real path of `path` (symlinks and `..` resolved), if it is inside `root`; otherwise an
/// error naming `shown` (the file as the user knows it). A path that does not exist is returned
/// as it is: reading it will say so.
pub fn inside(root: &Path, path: &Path, shown: &str) -> Result<PathBuf> {
    real_path_inside(root, path).ok_or_else(|| BuildError::invalid_file(shown, None, outside_message(shown)))
}

/// [`inside`] for callers that name the error themselves: `None` when `path` leads outside.
pub fn real_path_inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let Ok(real) = path.canonicalize() else {
        // A dangling link: where it points cannot be checked. Missing: returned as it is, if the
        // path (its `..` applied) names a place in the repository.
        if std::fs::symlink_metadata(path).is_ok() {
            return None;
        }
        return lexically_inside(&root, path).then(|| path.to_path_buf());
    };
    real.starts_with(&root).then_some(real)
}

/// Whether `path`, with `.` and `..` applied to its text, stays below `root`.
fn lexically_inside(root: &Path, path: &Path) -> bool {
    let absolute = if path.is_absolute() { path.to_path_buf() } else { root.join(path) };
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            std::path::Component::ParentDir => {
                normal.pop();
            }
            std::path::Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal.starts_with(root)
}

/// What is said of a file that leads outside the repository (never what it leads to).
pub fn outside_message(shown: &str) -> String {
    format!("`{shown}` leads outside the repository (through a symlink or `..`); expected a file in the repository")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_dots_that_leave_the_repository_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("sub")).unwrap();
        std::fs::write(dir.path().join("secret"), "TOKEN").unwrap();
        std::fs::write(repo.join("runtime.txt"), "python-3.12").unwrap();
        std::os::unix::fs::symlink("../secret", repo.join("leak")).unwrap();
        std::os::unix::fs::symlink("runtime.txt", repo.join("sub/../inner")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", repo.join("dangling")).unwrap();
        assert!(inside(&repo, &repo.join("runtime.txt"), "runtime.txt").is_ok());
        assert!(inside(&repo, &repo.join("inner"), "inner").is_ok());
        let err = inside(&repo, &repo.join("leak"), "runtime.txt").unwrap_err().to_string();
        assert!(err.starts_with("runtime.txt: `runtime.txt` leads outside the repository"), "{err}");
        assert!(!err.contains("TOKEN"));
        assert!(inside(&repo, &repo.join("sub/../../secret"), "x").is_err());
        assert!(inside(&repo, Path::new("/etc/hostname"), "/etc/hostname").is_err());
        assert!(inside(&repo, &repo.join("dangling"), "dangling").is_err());
        assert!(inside(&repo, &repo.join("missing"), "missing").is_ok(), "reading it says it is missing");
    }
}
