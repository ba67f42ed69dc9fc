//! pip as the installer (uv is covered everywhere else), and switching between them.

use crate::support::*;

#[test]
fn pip_installs_reuses_and_uninstalls() {
    let mut project = flask_project("3.12", "flask\nrequests\n");
    project.setting("PYTHON_INSTALLER", "pip");
    let log = project.build_ok(&[]);
    assert!(log.contains("Installer: pip"), "{log}");
    assert!(log.contains("pip install --dry-run"), "pip resolves first:\n{log}");
    assert_eq!(project.marker()["installer"], "pip");
    assert!(project.importable("flask") && project.importable("requests"));
    assert!(project.env_python("import pip").is_ok(), "a pip env is made with python -m venv");

    let log = project.build_ok(&[]);
    assert!(log.contains("Found compatible virtual environment."), "{log}");
    assert!(log.contains("--> install: skipped"), "{log}");

    project.write("requirements.txt", "flask\n");
    let log = project.build_ok(&[]);
    assert!(
        log.contains("Uninstalling packages that requirements.txt no longer needs:") && log.contains("requests"),
        "{log}"
    );
    assert!(!project.importable("requests") && project.importable("flask"));
}

#[test]
fn switching_installer_recreates_env() {
    let mut project = flask_project("3.12", "six\n");
    project.build_ok(&[]);
    assert_eq!(project.marker()["installer"], "uv");
    project.setting("PYTHON_INSTALLER", "pip");
    let log = project.build_ok(&[]);
    assert!(log.contains("Virtual environment was made for installer uv, deployment uses pip."), "{log}");
    assert_eq!(project.marker()["installer"], "pip");
    assert!(project.importable("six"));
}

#[test]
fn pip_reports_a_missing_package_in_the_log() {
    let mut project = flask_project("3.12", "no-such-package-slipway\n");
    project.setting("PYTHON_INSTALLER", "pip");
    let run = project.build_fails(&[]);
    assert!(run.log().contains("No matching distribution found for no-such-package-slipway"), "{}", run.log());
    assert!(!project.env_dir().exists());
}
