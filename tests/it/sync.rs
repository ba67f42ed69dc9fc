//! Sync of the checkout into wwwroot, KuduSync-style.

use std::os::unix::fs::MetadataExt;

use crate::support::*;

#[test]
fn files_removed_from_the_source_leave_the_target_and_user_files_stay() {
    let project = flask_project("3.12", "six\n");
    project.write("static/old.css", "old").write("lib/helpers.py", "x = 1\n");
    project.build_ok(&[]);
    std::fs::write(project.target().join("uploaded-by-user.txt"), "mine").unwrap();
    std::fs::write(project.target().join("static/user.css"), "mine too").unwrap();

    project.remove("static/old.css").remove("lib");
    let log = project.build_ok(&[]);
    assert!(log.contains("Deleted (no longer in the repository): static/old.css"), "{log}");
    assert!(!project.target().join("static/old.css").exists());
    assert!(!project.target().join("lib").exists(), "a directory the deployment brought and emptied goes too");
    assert_eq!(project.target_file("uploaded-by-user.txt").as_deref(), Some("mine"));
    assert_eq!(project.target_file("static/user.css").as_deref(), Some("mine too"));
    assert!(project.importable("six"), "env is never touched by sync");
}

#[test]
fn committed_env_git_and_deployment_files_are_not_copied() {
    let project = flask_project("3.12", "six\n");
    project.write("env/bin/python", "#!/bin/sh\necho committed\n").write("env/lib/junk.py", "");
    project.write(".git/HEAD", "ref: refs/heads/main\n");
    let log = project.build_ok(&[]);
    assert!(
        log.contains("the repository contains `env/`; it is not copied over the managed virtual environment. Add `env/` to .gitignore."),
        "{log}"
    );
    assert!(!project.env_dir().join("lib/junk.py").exists());
    assert!(!project.target().join(".git").exists());
    assert!(project.importable("six"), "the managed env works");
}

#[test]
fn unchanged_files_are_not_copied_and_mtimes_are_preserved() {
    let project = flask_project("3.12", "six\n");
    let old = filetime::FileTime::from_unix_time(1_600_000_000, 0);
    filetime::set_file_mtime(project.src().join("app.py"), old).unwrap();
    project.build_ok(&[]);
    let deployed = std::fs::metadata(project.target().join("app.py")).unwrap();
    assert_eq!(deployed.mtime(), 1_600_000_000);
    let inode = deployed.ino();

    let log = project.build_ok(&[]);
    assert!(log.contains("0 copied, 3 unchanged, 0 deleted"), "{log}");
    assert_eq!(std::fs::metadata(project.target().join("app.py")).unwrap().ino(), inode, "file was not rewritten");

    // Same content with a new mtime (a fresh checkout) is not copied either.
    filetime::set_file_mtime(project.src().join("app.py"), filetime::FileTime::from_unix_time(1_700_000_000, 0))
        .unwrap();
    let log = project.build_ok(&[]);
    assert!(log.contains("0 copied, 3 unchanged"), "{log}");
    assert_eq!(std::fs::metadata(project.target().join("app.py")).unwrap().mtime(), 1_700_000_000);
}

#[test]
fn symlinks_out_of_the_checkout_are_not_copied() {
    let project = flask_project("3.12", "six\n");
    std::os::unix::fs::symlink("/etc/passwd", project.src().join("passwd")).unwrap();
    std::os::unix::fs::symlink("app.py", project.src().join("main.py")).unwrap();
    let log = project.build_ok(&[]);
    assert!(log.contains("not copying symlink `passwd`"), "{log}");
    assert!(std::fs::symlink_metadata(project.target().join("passwd")).is_err());
    assert_eq!(std::fs::read_link(project.target().join("main.py")).unwrap().to_str(), Some("app.py"));
}
