//! Bad input: each gets a one-line error naming the file or value and what was expected, and an
//! env that was there before is left exactly as it was.

use crate::support::*;

/// A project deployed once successfully; returns it with the marker of its env.
fn deployed() -> (Project, serde_json::Value) {
    let project = flask_project("3.12", "flask\n");
    project.build_ok(&[]);
    let marker = project.marker();
    (project, marker)
}

fn assert_env_untouched(project: &Project, marker: &serde_json::Value) {
    assert_eq!(&project.marker(), marker, "env's marker changed");
    assert!(project.importable("flask"), "env still works");
}

#[test]
fn malformed_runtime_txt_variants() {
    let (project, marker) = deployed();
    let cases: &[(&[u8], &str)] = &[
        (b"pyhton-3.12\n", "error: runtime.txt line 1: `pyhton-3.12` is not a Python version; expected `python-3.X` or `python-3.X.Y` (e.g. `python-3.12`)"),
        (b"", "error: runtime.txt: the file is empty; expected `python-3.X` or `python-3.X.Y`"),
        (b"\xEF\xBB\xBFpython-3.12\n", "error: runtime.txt line 1: starts with a UTF-8 byte-order mark"),
        (b"python-3.12\npython-3.11\n", "error: runtime.txt line 2: a second version `python-3.11` (line 1 has `python-3.12`); expected exactly one version"),
        (b"\xFF\xFEp\x00y\x00t\x00h\x00o\x00n\x00", "error: runtime.txt: the file is UTF-16 encoded; expected UTF-8 text"),
    ];
    for (content, expected) in cases {
        project.write("runtime.txt", content);
        let run = project.build_fails(&[]);
        assert!(run.error_line().starts_with(expected), "got {}\nexpected {expected}", run.error_line());
        assert_env_untouched(&project, &marker);
    }
}

#[test]
fn malformed_python_version_file() {
    let project = Project::new();
    project.write("app.py", "").write(".python-version", "3.12\n3.11\n");
    let run = project.build_fails(&[]);
    assert!(
        run.error_line().starts_with("error: .python-version line 2: a second version `3.11`"),
        "{}",
        run.error_line()
    );
    project.write(".python-version", "python3.12\n");
    assert!(project
        .build_fails(&[])
        .error_line()
        .contains(".python-version line 1: `python3.12` is not a Python version; expected `3.X` or `3.X.Y`"));
}

#[test]
fn a_version_no_runtime_provides_lists_the_ones_that_exist() {
    let (project, marker) = deployed();
    project.write("runtime.txt", "python-3.99\n");
    let line = project.build_fails(&[]).error_line();
    assert!(line.starts_with("error: Python 3.99 (from runtime.txt) is not available; runtimes found: "), "{line}");
    for minor in ["3.11.", "3.12.", "3.13."] {
        assert!(line.contains(minor), "{line}");
    }
    assert_env_untouched(&project, &marker);
}

#[test]
fn a_bad_python_version_setting_is_named() {
    let (mut project, marker) = deployed();
    project.setting("PYTHON_VERSION", "3.twelve");
    let line = project.build_fails(&[]).error_line();
    assert_eq!(
        line,
        "error: setting PYTHON_VERSION: `3.twelve` is not a Python version; expected `3.X` or `3.X.Y` (e.g. `3.12`)"
    );
    assert_env_untouched(&project, &marker);
}

#[test]
fn unreadable_requirements_txt() {
    let (project, marker) = deployed();
    project.write("requirements.txt", b"\xFF\xFEf\x00l\x00a\x00s\x00k\x00");
    let line = project.build_fails(&[]).error_line();
    assert!(line.starts_with("error: requirements.txt: the file is not UTF-8 text"), "{line}");
    assert_env_untouched(&project, &marker);

    project.remove("requirements.txt");
    std::fs::create_dir(project.src().join("requirements.txt")).unwrap();
    let line = project.build_fails(&[]).error_line();
    assert!(line.contains("`requirements.txt` is not a file"), "{line}");
    assert_env_untouched(&project, &marker);
}

#[test]
fn a_missing_include_names_file_and_line() {
    let (project, marker) = deployed();
    project.write("requirements.txt", "flask\n-r base.txt\n");
    let line = project.build_fails(&[]).error_line();
    assert!(line.starts_with("error: requirements.txt line 2: cannot read `base.txt`"), "{line}");
    assert_env_untouched(&project, &marker);
}

#[test]
fn a_package_that_does_not_exist_fails_before_env_changes() {
    let (project, marker) = deployed();
    project.write("requirements.txt", "flask\nno-such-package-slipway\n");
    let run = project.build_fails(&["--clean-env"]);
    let log = run.log();
    assert!(log.contains("no-such-package-slipway was not found"), "uv's own message is in the log:\n{log}");
    assert!(
        run.error_line().starts_with("error: resolving requirements.txt (uv pip compile) failed"),
        "{}",
        run.error_line()
    );
    assert!(!log.contains("--> sync"), "wwwroot was not touched:\n{log}");
    assert_env_untouched(&project, &marker);
}

/// A local package with an in-tree build backend (no build requirements to fetch) that fails.
fn write_unbuildable_package(project: &Project, static_metadata: bool) {
    let project_table = if static_metadata { "[project]\nname = \"broken\"\nversion = \"1.0\"\n" } else { "" };
    project.write(
        "broken/pyproject.toml",
        format!("{project_table}[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n"),
    );
    project.write(
        "broken/backend.py",
        "def _fail(*args, **kwargs):\n    raise SystemExit('this package cannot be built')\nget_requires_for_build_wheel = prepare_metadata_for_build_wheel = build_wheel = _fail\n",
    );
    project.write("requirements.txt", "flask\n./broken\n");
}

#[test]
fn a_package_that_does_not_build_fails_at_resolution_when_its_metadata_needs_a_build() {
    let (project, marker) = deployed();
    write_unbuildable_package(&project, false);
    let run = project.build_fails(&[]);
    assert!(run.log().contains("this package cannot be built"), "the build's own message:\n{}", run.log());
    assert!(!run.log().contains("--> sync"), "{}", run.log());
    assert_env_untouched(&project, &marker);
}

#[test]
fn a_package_that_does_not_build_at_install_leaves_packages_and_forces_a_retry() {
    let (project, marker) = deployed();
    write_unbuildable_package(&project, true);
    let run = project.build_fails(&[]);
    assert!(run.log().contains("this package cannot be built"), "the build's own message:\n{}", run.log());
    assert!(run.error_line().starts_with("error: installing requirements (uv) failed"), "{}", run.error_line());
    assert!(project.importable("flask"), "uv builds everything before it installs anything");
    let after = project.marker();
    assert_eq!(after["created_at"], marker["created_at"], "env was not recreated");
    assert!(after["requirements_sha256"].is_null(), "the next build runs the installer again");

    project.write("requirements.txt", "flask\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("Resolving requirements.txt"), "{log}");
}

#[test]
fn deployment_file_without_config_or_with_a_missing_command() {
    let (project, marker) = deployed();
    project.write(".deployment", "command = deploy.sh\n");
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: .deployment: no `[config]` section; expected a `[config]` section with `command = deploy.sh` or `project = path/to/app`"
    );
    project.write(".deployment", "[config]\ncommand = does-not-exist.sh\n");
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: .deployment: `command = does-not-exist.sh`: `does-not-exist.sh` is neither a file in the repository nor a program on PATH"
    );
    assert_env_untouched(&project, &marker);
}

#[test]
fn a_source_that_does_not_exist() {
    let project = Project::new();
    let missing = project.dir.path().join("nope");
    let target = project.target();
    let run = project.run(&["build", "--source", missing.to_str().unwrap(), "--target", target.to_str().unwrap()]);
    assert!(!run.success());
    assert!(
        run.error_line().starts_with(&format!("error: source directory `{}` cannot be read", missing.display())),
        "{}",
        run.error_line()
    );
    assert!(!target.exists(), "nothing created");
}

#[test]
fn a_target_inside_the_source() {
    let project = flask_project("3.12", "flask\n");
    let src = project.src();
    let inside = src.join("deploy/here");
    let run = project.run(&["build", "--source", src.to_str().unwrap(), "--target", inside.to_str().unwrap()]);
    assert!(!run.success());
    assert!(run.error_line().contains("is inside source"), "{}", run.error_line());
    assert!(!inside.exists());
}

#[test]
fn an_unknown_installer_setting() {
    let (mut project, marker) = deployed();
    project.setting("PYTHON_INSTALLER", "conda");
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: setting PYTHON_INSTALLER: `conda` is not an installer; expected `uv` or `pip`"
    );
    assert_env_untouched(&project, &marker);
}

#[test]
fn a_checkout_without_python_says_what_it_expected() {
    let project = Project::new();
    project.write("index.html", "<h1>static</h1>").write("README.md", "docs");
    let line = project.build_fails(&[]).error_line();
    assert!(line.starts_with("error: the repository has no Python files"), "{line}");
    assert!(line.contains(".skipPythonDeployment"), "{line}");
}
