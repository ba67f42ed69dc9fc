//! Package managers (issue 13): requirements.txt, uv.lock, poetry.lock, Pipfile.lock and an
//! unlocked pyproject.toml, each installed exactly, with lock files made by the real tools.

use serde_json::json;

use crate::lockfiles::*;
use crate::server_support::{Repo, TestServer};
use crate::support::*;

fn uv_project(dependencies: &[&str]) -> Project {
    let project = Project::new();
    project
        .write("app.py", FLASK_APP)
        .write(".python-version", "3.12\n")
        .write("pyproject.toml", pyproject(dependencies, "\n[dependency-groups]\ndev = [\"requests\"]\n"));
    uv_lock(&project.src());
    project
}

fn relock_uv(project: &Project, dependencies: &[&str]) {
    project.write("pyproject.toml", pyproject(dependencies, "\n[dependency-groups]\ndev = [\"requests\"]\n"));
    uv_lock(&project.src());
}

#[test]
fn uv_lock_is_installed_exactly_without_dev_groups_and_a_noop_redeploy_skips_it() {
    let project = uv_project(&["flask", "six"]);
    let log = project.build_ok(&[]);
    assert!(log.contains("Dependencies: uv.lock (uv)"), "{log}");
    assert!(log.contains("uv lock --check") && log.contains("uv sync --locked"), "{log}");
    assert!(project.importable("flask") && project.importable("six"));
    assert!(!project.importable("requests"), "the dev group is not installed");

    let log = project.build_ok(&[]);
    assert!(
        log.contains("--> install: skipped (pyproject.toml and uv.lock unchanged since the last install)"),
        "{log}"
    );

    relock_uv(&project, &["flask"]);
    let log = project.build_ok(&[]);
    assert!(!project.importable("six"), "a package dropped from the lock is removed:\n{log}");
    assert!(project.importable("flask"));
    let packages = project.marker()["packages"].clone();
    assert!(packages.as_array().unwrap().iter().any(|p| p == "flask"), "{packages}");
    assert!(!packages.as_array().unwrap().iter().any(|p| p == "six"), "{packages}");
}

#[test]
fn an_out_of_date_uv_lock_fails_before_env_changes() {
    let project = uv_project(&["flask"]);
    project.build_ok(&[]);
    let marker = project.marker();
    project.write("pyproject.toml", pyproject(&["flask", "six"], ""));
    let run = project.build_fails(&[]);
    assert!(run.log().contains("needs to be updated"), "uv's reason is in the log:\n{}", run.log());
    assert_eq!(
        run.error_line(),
        "error: checking uv.lock (uv lock --check) failed (exit code 1); its output is in the log above"
    );
    assert_eq!(project.marker(), marker, "env is untouched");
    assert!(!project.importable("six"));
}

#[test]
fn switching_from_requirements_txt_to_uv_lock_and_back_keeps_the_packages_right() {
    let project = flask_project("3.12", "flask\nsix\n");
    project.build_ok(&[]);
    assert!(project.importable("six"));

    project.remove("requirements.txt").remove("runtime.txt");
    project.write(".python-version", "3.12\n").write("pyproject.toml", pyproject(&["flask", "requests"], ""));
    uv_lock(&project.src());
    let log = project.build_ok(&[]);
    assert!(project.importable("flask") && project.importable("requests"), "{log}");
    assert!(!project.importable("six"), "what uv.lock does not name is removed:\n{log}");

    project.remove("pyproject.toml").remove("uv.lock").write("requirements.txt", "flask\n");
    let log = project.build_ok(&[]);
    assert!(
        log.contains("Uninstalling packages that requirements.txt no longer needs:") && log.contains("requests"),
        "{log}"
    );
    assert!(project.importable("flask") && !project.importable("requests"));
}

#[test]
fn poetry_lock_from_a_private_index_is_installed_exactly_by_a_pinned_poetry_outside_env() {
    let index = WheelIndex::private("deployer", "hunter2-index-secret");
    let credentials = [
        ("POETRY_HTTP_BASIC_PRIVATE_USERNAME", "deployer"),
        ("POETRY_HTTP_BASIC_PRIVATE_PASSWORD", "hunter2-index-secret"),
    ];
    let mut project = Project::new();
    let write = |project: &Project, deps: &[&str]| {
        project.write("pyproject.toml", poetry_pyproject(deps, &["requests"], "private", &index.url));
        poetry_lock(&project.src(), &credentials);
    };
    project.write("app.py", FLASK_APP).write(".python-version", "3.12\n");
    write(&project, &["flask", "six"]);
    for (key, value) in credentials {
        project.setting(key, value);
    }

    let log = project.build_ok(&[]);
    assert!(log.contains("Dependencies: poetry.lock (poetry)"), "{log}");
    assert!(log.contains("poetry 2.5.1") && log.contains("poetry sync --only main"), "{log}");
    assert!(!log.contains("hunter2-index-secret"), "the index password is never logged:\n{log}");
    assert!(project.importable("flask") && project.importable("six"));
    assert!(!project.importable("requests"), "the dev group is not installed");
    assert!(!project.importable("poetry"), "Poetry is not in env");

    let log = project.build_ok(&[]);
    assert!(
        log.contains("install: skipped (pyproject.toml and poetry.lock unchanged since the last install)"),
        "{log}"
    );

    write(&project, &["flask"]);
    let log = project.build_ok(&[]);
    assert!(log.contains("Using poetry 2.5.1"), "the tool environment is reused:\n{log}");
    assert!(!project.importable("six"), "a package dropped from the lock is removed");

    let marker = project.marker();
    project.write("pyproject.toml", poetry_pyproject(&["flask", "six"], &["requests"], "private", &index.url));
    let run = project.build_fails(&[]);
    assert!(
        run.log().contains("pyproject.toml changed significantly since poetry.lock was last generated"),
        "{}",
        run.log()
    );
    assert!(run.error_line().starts_with("error: checking poetry.lock (poetry check --lock) failed"));
    assert_eq!(project.marker(), marker, "env is untouched");
}

#[test]
fn pipfile_lock_default_packages_are_installed_with_their_hashes() {
    let index = WheelIndex::start();
    let project = Project::new();
    project.write("app.py", FLASK_APP).write("Pipfile", pipfile(&["six", "itsdangerous"], &["requests"], &index.url));
    pipenv_lock(&project.src());
    let log = project.build_ok(&[]);
    assert!(log.contains("Dependencies: Pipfile.lock (pipenv)") && log.contains("pipenv verify"), "{log}");
    assert!(log.contains("Pipfile.lock's default packages: 2, each with its hashes"), "{log}");
    assert!(project.importable("six") && project.importable("itsdangerous"));
    assert!(!project.importable("requests"), "dev-packages are not installed");
    assert!(!project.importable("pipenv"), "Pipenv is not in env");

    let log = project.build_ok(&[]);
    assert!(log.contains("install: skipped (Pipfile and Pipfile.lock unchanged since the last install)"), "{log}");

    project.write("Pipfile", pipfile(&["six"], &["requests"], &index.url));
    pipenv_lock(&project.src());
    let log = project.build_ok(&[]);
    assert!(!project.importable("itsdangerous"), "a package dropped from the lock is removed:\n{log}");

    let marker = project.marker();
    project.write("Pipfile", pipfile(&["six", "flask"], &[], &index.url));
    let run = project.build_fails(&[]);
    assert!(run.log().contains("out-of-date"), "{}", run.log());
    assert!(run.error_line().starts_with("error: checking Pipfile.lock (pipenv verify) failed"));
    assert_eq!(project.marker(), marker, "env is untouched");
}

#[test]
fn an_unlocked_pyproject_is_installed_with_uv_and_warned_about() {
    let project = Project::new();
    project
        .write("app.py", FLASK_APP)
        .write(".python-version", "3.12\n")
        .write("pyproject.toml", pyproject(&["six"], ""));
    let log = project.build_ok(&[]);
    assert!(log.contains("Dependencies: pyproject.toml (uv, not locked)"), "{log}");
    assert!(log.contains("warning: pyproject.toml's dependencies are not locked"), "{log}");
    assert!(project.importable("six"));
    let log = project.build_ok(&[]);
    assert!(log.contains("install: skipped (pyproject.toml unchanged since the last install)"), "{log}");
    project.write("pyproject.toml", pyproject(&["itsdangerous"], ""));
    let log = project.build_ok(&[]);
    assert!(log.contains("Uninstalling packages that pyproject.toml no longer needs: six"), "{log}");
    assert!(project.importable("itsdangerous") && !project.importable("six"));
}

#[test]
fn files_the_build_cannot_install_from_are_errors_that_say_what_to_do() {
    let project = Project::new();
    project
        .write("app.py", FLASK_APP)
        .write("requirements.txt", "flask\n")
        .write("Pipfile", "[packages]\nsix = \"*\"\n");
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: the app has files of several package managers: `requirements.txt`, `Pipfile`; keep one, or choose with the setting PYTHON_PACKAGE_MANAGER (`pip` (requirements.txt), `uv` (uv.lock), `poetry` (poetry.lock) or `pipenv` (Pipfile.lock))"
    );
    let mut project = project;
    project.setting("PYTHON_PACKAGE_MANAGER", "pip");
    project.build_ok(&[]);
    assert!(project.importable("flask"));

    let project = Project::new();
    project.write("Pipfile", "[packages]\nsix = \"*\"\n");
    let line = project.build_fails(&[]).error_line();
    assert!(line.starts_with("error: Pipfile: there is no Pipfile.lock beside it; run `pipenv lock`"), "{line}");

    let project = Project::new();
    project.write("setup.py", "from setuptools import setup\nsetup(name='a')\n").write("app.py", FLASK_APP);
    let line = project.build_fails(&[]).error_line();
    assert!(
        line.starts_with("error: setup.py: slipway installs from requirements.txt") && line.contains("`-e .`"),
        "{line}"
    );
}

#[test]
fn an_app_in_a_subfolder_is_built_from_there() {
    let mut project = Project::new();
    project
        .write("README.md", "monorepo\n")
        .write("services/api/app.py", FLASK_APP)
        .write("services/api/requirements.txt", "six\n")
        .write("services/api/.python-version", "3.12\n")
        .write("services/web/package.json", "{}\n");
    project.setting("PROJECT", "services/api");
    let log = project.build_ok(&[]);
    assert!(log.contains("The app is in the repository's folder `services/api` (PROJECT)"), "{log}");
    assert!(project.target_file("app.py").is_some() && project.target_file("README.md").is_none());
    assert!(project.importable("six"));
    assert!(project.env_python("import sys; print(sys.version)").unwrap().starts_with("3.12"));

    project.setting("PROJECT", "services/nope");
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: setting PROJECT: `services/nope` is not a folder in the repository; expected the folder the app is in, such as `services/api`"
    );

    let mut project = Project::new();
    project.write("services/api/app.py", FLASK_APP).write("services/api/requirements.txt", "six\n");
    project.write(".deployment", "[config]\nproject = services/api\n");
    project.setting("PYTHON_VERSION", "3.12");
    project.build_ok(&[]);
    assert!(project.target_file("app.py").is_some() && project.importable("six"), "Kudu's `.deployment` project");
}

#[test]
fn a_committed_virtual_environment_is_not_copied() {
    let project = flask_project("3.12", "six\n");
    project.write(".venv/pyvenv.cfg", "home = /usr/bin\n").write(".venv/bin/python", "not a python");
    let log = project.build_ok(&[]);
    assert!(log.contains("warning: the repository contains a virtual environment, `.venv/`"), "{log}");
    assert!(!project.target().join(".venv").exists());
}

#[test]
fn variables_in_requirements_work_with_uv_as_with_pip() {
    let mut project = flask_project("3.12", "six==${SIX_VERSION}\n${EXTRA}\n");
    project.setting("SIX_VERSION", "1.17.0").setting("EXTRA", "flask");
    let log = project.build_ok(&[]);
    assert!(log.contains("filled in from the app's settings"), "{log}");
    assert_eq!(project.env_python("import six; print(six.__version__)").unwrap(), "1.17.0");
    // A new value of the setting is a new install, though requirements.txt did not change.
    project.setting("EXTRA", "itsdangerous");
    let log = project.build_ok(&[]);
    assert!(!log.contains("--> install: skipped"), "{log}");
    assert!(project.importable("itsdangerous") && !project.importable("flask"), "{log}");
}

const PACKAGED: &str = "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n[tool.hatch.build.targets.wheel]\npackages = [\"src/app\"]\n";

/// A project installed as a package (src layout, a build system): a change of its code alone is
/// installed at the next deployment — uv and pip take an installed folder package as up to date.
#[test]
fn a_packaged_projects_new_code_is_installed_with_uv_lock_and_with_requirements() {
    let project = Project::new();
    project
        .write("app.py", FLASK_APP)
        .write(".python-version", "3.12\n")
        .write("src/app/__init__.py", "VALUE = 'old'\n")
        .write("pyproject.toml", pyproject(&["six"], PACKAGED));
    uv_lock(&project.src());
    project.build_ok(&[]);
    let value = || project.env_python("import app; print(app.VALUE)").unwrap();
    assert_eq!(value(), "old");
    project.write("src/app/__init__.py", "VALUE = 'new'\n");
    let log = project.build_ok(&[]);
    assert_eq!(value(), "new", "{log}");
    let log = project.build_ok(&[]);
    assert!(log.contains("--> install: skipped"), "nothing changed, nothing installed:\n{log}");

    // The same with requirements.txt naming the folder (`.`), as slipway tells setup.py apps to.
    project.remove("uv.lock").write("requirements.txt", ".\n");
    project.build_ok(&[]);
    project.write("src/app/__init__.py", "VALUE = 'newer'\n");
    let log = project.build_ok(&[]);
    assert_eq!(value(), "newer", "{log}");
}

#[test]
fn the_default_deployment_script_installs_a_uv_lock_too() {
    let project = uv_project(&["six"]);
    let script = project.run(&["deployment-script"]);
    assert!(script.success());
    project.write("deploy.sh", script.stdout()).write(".deployment", "[config]\ncommand = deploy.sh\n");
    project.write("show.sh", "echo \"manager=$SLIPWAY_PACKAGE_MANAGER\"\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("uv sync --locked"), "{log}");
    assert!(project.importable("six") && !project.importable("requests"));

    project.write(".deployment", "[config]\ncommand = show.sh\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("manager=uv"), "custom scripts are told the package manager:\n{log}");
}

#[test]
fn a_poetry_app_in_a_monorepo_folder_is_pushed_built_in_its_sandbox_and_answers() {
    let index = WheelIndex::start();
    let server = TestServer::start();
    let password = server.create_app("mono");
    server.set_settings("mono", json!({ "PROJECT": "services/api" }));
    let repo = Repo::new();
    repo.write("README.md", "two services\n")
        .write("services/web/index.html", "<p>web</p>\n")
        .write("services/api/app.py", FLASK_APP)
        .write("services/api/.python-version", "3.12\n")
        .write(
            "services/api/pyproject.toml",
            &poetry_pyproject(&["flask", "gunicorn"], &["requests"], "local", &index.url),
        );
    poetry_lock(&repo.path().join("services/api"), &[]);
    repo.commit("a Poetry app in services/api");
    let out = repo.push_ok(&server.git_url("mono", &password), &["main"]);
    assert!(out.contains("remote: Dependencies: poetry.lock (poetry)"), "{out}");
    assert!(out.contains("remote: Installing poetry 2.5.1 into a tool environment of its own"), "{out}");
    assert_eq!(server.get_app("mono", "/"), (200, "hello".to_string()));
    let wwwroot = server.wwwroot("mono");
    assert!(wwwroot.join("app.py").exists() && !wwwroot.join("README.md").exists(), "the folder is the site");

    let (status, body) = server.api("PUT", "/api/apps/mono/settings", Some(json!({ "PROJECT": "../elsewhere" })));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        "setting PROJECT: `../elsewhere` is not a folder inside the repository; expected a relative path such as `services/api`"
    );
}
