//! App archives, Kudu's zipdeploy: a zip or a gzipped tar unpacked into a folder — within limits,
//! never outside it, files and folders only — and a folder packed as a gzipped tar (what
//! `slipway deploy` uploads).

use std::io::{Cursor, Read, Write};
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

/// The largest upload `POST /api/apps/APP/zipdeploy` takes.
pub const MAX_ARCHIVE_BYTES: usize = 512 * 1024 * 1024;
/// The most an archive may unpack to: a zip bomb stops here.
pub const MAX_UNPACKED_BYTES: u64 = 2 * 1024 * 1024 * 1024;
pub const MAX_ENTRIES: usize = 100_000;
/// Folders `slipway deploy` leaves out: git's own, bytecode and a local virtual environment,
/// which the build makes afresh.
const NOT_PACKED: &[&str] = &[".git", "__pycache__", ".venv"];

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the upload is neither a zip nor a gzipped tar (it starts with {0:02x?})")]
    UnknownFormat(Vec<u8>),
    #[error("the archive cannot be read: {0}")]
    Corrupt(String),
    #[error("the archive entry `{0}` leads outside the app (an absolute path or `..`)")]
    Escapes(String),
    #[error("the archive unpacks to more than {} MiB", MAX_UNPACKED_BYTES >> 20)]
    TooBig,
    #[error("the archive holds more than {MAX_ENTRIES} entries")]
    TooMany,
    #[error("{action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

/// What an archive held.
#[derive(Debug, Default, serde::Serialize)]
pub struct Unpacked {
    pub files: usize,
    pub bytes: u64,
    /// Links and special files, which are not unpacked.
    pub skipped: Vec<String>,
}

/// Unpacks a zip or a gzipped tar into `dir` (which exists). A single top-level folder holding
/// everything (GitHub's "Download ZIP") is taken as the app's root.
pub fn unpack(bytes: &[u8], dir: &Path) -> Result<Unpacked, ArchiveError> {
    let mut unpacked = Unpacked::default();
    match bytes {
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => unpack_zip(bytes, dir, &mut unpacked)?,
        [0x1f, 0x8b, ..] => unpack_tar_gz(bytes, dir, &mut unpacked)?,
        _ => return Err(ArchiveError::UnknownFormat(bytes.iter().take(4).copied().collect())),
    }
    lift_single_folder(dir)?;
    Ok(unpacked)
}

fn unpack_zip(bytes: &[u8], dir: &Path, unpacked: &mut Unpacked) -> Result<(), ArchiveError> {
    let corrupt = |e: zip::result::ZipError| ArchiveError::Corrupt(e.to_string());
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    if archive.len() > MAX_ENTRIES {
        return Err(ArchiveError::TooMany);
    }
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(corrupt)?;
        let name = entry.name().map_err(corrupt)?.to_string();
        let relative = safe_path(Path::new(&name))?;
        if entry.is_dir() {
            create_dir(&dir.join(relative))?;
        } else if entry.is_symlink() {
            unpacked.skipped.push(name);
        } else {
            let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
            write_file(&mut entry, &dir.join(relative), executable, unpacked)?;
        }
    }
    Ok(())
}

fn unpack_tar_gz(bytes: &[u8], dir: &Path, unpacked: &mut Unpacked) -> Result<(), ArchiveError> {
    let corrupt = |e: std::io::Error| ArchiveError::Corrupt(e.to_string());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for (index, entry) in archive.entries().map_err(corrupt)?.enumerate() {
        if index >= MAX_ENTRIES {
            return Err(ArchiveError::TooMany);
        }
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        let relative = safe_path(&path)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => create_dir(&dir.join(relative))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let executable = entry.header().mode().is_ok_and(|mode| mode & 0o111 != 0);
                write_file(&mut entry, &dir.join(relative), executable, unpacked)?;
            }
            // pax and GNU long-name headers are read by `tar` itself; the rest is not a file.
            _ => unpacked.skipped.push(path.display().to_string()),
        }
    }
    Ok(())
}

/// The entry's path below the app's root: relative, with no `..`.
fn safe_path(path: &Path) -> Result<PathBuf, ArchiveError> {
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            _ => return Err(ArchiveError::Escapes(path.display().to_string())),
        }
    }
    Ok(relative)
}

fn create_dir(path: &Path) -> Result<(), ArchiveError> {
    std::fs::create_dir_all(path).map_err(|source| ArchiveError::Io { action: "create", path: path.into(), source })
}

/// Writes one file, counting it against [`MAX_UNPACKED_BYTES`]. Folders are made here and links
/// are never written, so no path can lead out of the app's root.
fn write_file(
    content: &mut impl Read,
    path: &Path,
    executable: bool,
    unpacked: &mut Unpacked,
) -> Result<(), ArchiveError> {
    use std::os::unix::fs::OpenOptionsExt;
    create_dir(path.parent().expect("a file below the root"))?;
    let io = |action| move |source| ArchiveError::Io { action, path: path.into(), source };
    let mode = if executable { 0o755 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io("create"))?;
    let allowed = MAX_UNPACKED_BYTES - unpacked.bytes;
    let written = std::io::copy(&mut content.take(allowed + 1), &mut file).map_err(io("write"))?;
    if written > allowed {
        return Err(ArchiveError::TooBig);
    }
    file.flush().map_err(io("write"))?;
    unpacked.bytes += written;
    unpacked.files += 1;
    Ok(())
}

/// `app-main/app.py`, `app-main/requirements.txt` → `app.py`, `requirements.txt`.
fn lift_single_folder(dir: &Path) -> Result<(), ArchiveError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { action, path, source }
    };
    let entries: Vec<_> = std::fs::read_dir(dir).map_err(io("read", dir))?.flatten().collect();
    let [only] = entries.as_slice() else { return Ok(()) };
    if !only.file_type().is_ok_and(|t| t.is_dir()) {
        return Ok(());
    }
    let folder = dir.join(format!(".lifting-{}", std::process::id()));
    std::fs::rename(only.path(), &folder).map_err(io("move", &only.path()))?;
    for entry in std::fs::read_dir(&folder).map_err(io("read", &folder))?.flatten() {
        std::fs::rename(entry.path(), dir.join(entry.file_name())).map_err(io("move", &entry.path()))?;
    }
    std::fs::remove_dir(&folder).map_err(io("remove", &folder))
}

/// The folder as a gzipped tar, without [`NOT_PACKED`] folders; links are kept as links (the
/// server skips them). Returns the archive and how many files it holds.
pub fn pack(dir: &Path) -> Result<(Vec<u8>, usize), ArchiveError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { action, path, source }
    };
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    builder.follow_symlinks(false);
    let mut files = 0;
    let walk = WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && NOT_PACKED.iter().any(|skip| e.file_name() == *skip)));
    for entry in walk {
        let entry = entry.map_err(|e| ArchiveError::Io {
            action: "read",
            path: e.path().map(Path::to_path_buf).unwrap_or_else(|| dir.to_path_buf()),
            source: e.into(),
        })?;
        let relative = entry.path().strip_prefix(dir).expect("below the folder");
        if entry.file_type().is_file() {
            files += 1;
        }
        builder.append_path_with_name(entry.path(), relative).map_err(io("pack", entry.path()))?;
    }
    let encoder = builder.into_inner().map_err(io("pack", dir))?;
    let bytes = encoder.finish().map_err(io("pack", dir))?;
    Ok((bytes, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in entries {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(content.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn a_packed_folder_unpacks_the_same_without_git_and_bytecode() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(source.path().join("pkg/__pycache__")).unwrap();
        std::fs::create_dir_all(source.path().join(".git")).unwrap();
        std::fs::write(source.path().join("app.py"), "print(1)\n").unwrap();
        std::fs::write(source.path().join("pkg/mod.py"), "x = 1\n").unwrap();
        std::fs::write(source.path().join("pkg/__pycache__/mod.pyc"), "junk").unwrap();
        std::fs::write(source.path().join(".git/HEAD"), "ref").unwrap();
        let (bytes, files) = pack(source.path()).unwrap();
        assert_eq!(files, 2);
        let target = tempfile::tempdir().unwrap();
        let unpacked = unpack(&bytes, target.path()).unwrap();
        assert_eq!((unpacked.files, unpacked.bytes), (2, 15));
        assert_eq!(std::fs::read_to_string(target.path().join("pkg/mod.py")).unwrap(), "x = 1\n");
        assert!(!target.path().join(".git").exists() && !target.path().join("pkg/__pycache__").exists());
    }

    #[test]
    fn zips_unpack_and_a_single_top_folder_is_the_root() {
        let target = tempfile::tempdir().unwrap();
        let bytes = zip_of(&[("shop-main/app.py", "a"), ("shop-main/requirements.txt", "flask\n")]);
        unpack(&bytes, target.path()).unwrap();
        assert_eq!(std::fs::read_to_string(target.path().join("requirements.txt")).unwrap(), "flask\n");
        assert!(!target.path().join("shop-main").exists());
    }

    #[test]
    fn entries_that_lead_outside_and_unknown_formats_are_refused() {
        let target = tempfile::tempdir().unwrap();
        let escape = unpack(&zip_of(&[("../evil.py", "x")]), target.path()).unwrap_err();
        assert_eq!(
            escape.to_string(),
            "the archive entry `../evil.py` leads outside the app (an absolute path or `..`)"
        );
        let unknown = unpack(b"hello", target.path()).unwrap_err().to_string();
        assert!(unknown.starts_with("the upload is neither a zip nor a gzipped tar"), "{unknown}");
        let truncated = unpack(&[0x1f, 0x8b, 8, 0], target.path()).unwrap_err().to_string();
        assert!(truncated.starts_with("the archive cannot be read"), "{truncated}");
    }
}
