//! The env lifecycle and the install, end to end.

use crate::support::*;

#[test]
fn first_build_creates_env_and_installs_requirements() {
    let project = flask_project("3.12", "flask\ngunicorn\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("Python 3.12 requested by runtime.txt: using CPython 3.12."), "{log}");
    assert!(log.contains("creating one"), "{log}");
    assert_eq!(project.target_file("app.py").as_deref(), Some(FLASK_APP));
    assert!(project.importable("flask") && project.importable("gunicorn"));
    let marker = project.marker();
    assert!(marker["python_version"].as_str().unwrap().starts_with("3.12."));
    assert_eq!(marker["installer"], "uv");
    assert_eq!(marker["implementation"], "CPython");
    assert_eq!(marker["requirements_sha256"].as_str().unwrap().len(), 64);
    assert!(project.env_python("import sys; print(sys.version_info[:2])").unwrap().contains("3, 12"));
    // The log ends with the per-step timings.
    let tail: Vec<&str> = log.lines().rev().take(8).collect();
    assert!(tail[0].trim_start().starts_with("total"), "{log}");
    for step in ["runtime", "resolve", "sync", "env", "install", "collectstatic"] {
        assert!(tail.iter().any(|l| l.trim_start().starts_with(step)), "no timing for {step}:\n{log}");
    }
}

#[test]
fn rebuild_reuses_env_and_skips_the_installer() {
    let project = flask_project("3.12", "flask\n");
    project.build_ok(&[]);
    let created = project.marker()["created_at"].clone();
    project.write("app.py", format!("{FLASK_APP}# v2\n"));
    let log = project.build_ok(&[]);
    assert!(log.contains("Found compatible virtual environment."), "{log}");
    assert!(log.contains("Found compatible virtual environment (Python 3.12."), "{log}");
    assert!(log.contains("--> install: skipped (requirements unchanged since the last install)"), "{log}");
    assert!(!log.contains("Resolving requirements.txt"), "{log}");
    assert_eq!(project.marker()["created_at"], created);
    assert!(project.target_file("app.py").unwrap().ends_with("# v2\n"));
}

#[test]
fn toggling_the_runtime_recreates_env_each_time() {
    let project = flask_project("3.11", "flask\n");
    project.build_ok(&[]);
    let mut seen = vec![project.marker()["created_at"].clone()];
    for (python, from) in [("3.12", "3.11"), ("3.11", "3.12")] {
        project.write("runtime.txt", format!("python-{python}\n"));
        let log = project.build_ok(&[]);
        assert!(log.contains("Deleting incompatible virtual environment."), "{log}");
        assert!(
            log.contains(&format!("Virtual environment is for Python {from}."))
                && log.contains(&format!("deployment needs Python {python}.")),
            "{log}"
        );
        let marker = project.marker();
        assert!(marker["python_version"].as_str().unwrap().starts_with(&format!("{python}.")));
        assert_ne!(marker["created_at"], *seen.last().unwrap(), "env was recreated");
        seen.push(marker["created_at"].clone());
        let version = project.env_python("import sys; print('%d.%d' % sys.version_info[:2])").unwrap();
        assert_eq!(version, python);
        assert!(project.importable("flask"), "packages reinstalled for {python}");
    }
}

#[test]
fn the_python_version_setting_overrides_runtime_txt_and_says_so() {
    let mut project = flask_project("3.12", "flask\n");
    project.setting("PYTHON_VERSION", "3.13");
    let log = project.build_ok(&[]);
    assert!(log.contains("app setting PYTHON_VERSION (3.13) overrides runtime.txt (3.12)"), "{log}");
    assert!(project.marker()["python_version"].as_str().unwrap().starts_with("3.13."));
}

#[test]
fn env_deleted_by_hand_is_recreated() {
    let project = flask_project("3.12", "flask\n");
    project.build_ok(&[]);
    std::fs::remove_dir_all(project.env_dir()).unwrap();
    let log = project.build_ok(&[]);
    assert!(log.contains("No virtual environment at"), "{log}");
    assert!(project.importable("flask"));
}

#[test]
fn half_built_env_without_marker_is_recreated() {
    let project = flask_project("3.12", "flask\n");
    project.build_ok(&[]);
    std::fs::remove_file(project.env_dir().join("slipway-env.json")).unwrap();
    std::fs::write(project.env_dir().join("leftover.txt"), "from a crashed build").unwrap();
    let log = project.build_ok(&[]);
    assert!(log.contains("Deleting incompatible virtual environment."), "{log}");
    assert!(log.contains("env has no marker (slipway-env.json)"), "{log}");
    assert!(!project.env_dir().join("leftover.txt").exists());
    assert!(project.importable("flask"));
}

#[test]
fn interrupted_install_is_run_again() {
    // A build that died during install leaves a marker without an install fingerprint.
    let project = flask_project("3.12", "flask\n");
    project.build_ok(&[]);
    let mut marker = project.marker();
    marker["requirements_sha256"] = serde_json::Value::Null;
    std::fs::write(project.env_dir().join("slipway-env.json"), marker.to_string()).unwrap();
    let log = project.build_ok(&[]);
    assert!(log.contains("Found compatible virtual environment."), "{log}");
    assert!(log.contains("Resolving requirements.txt"), "{log}");
}

#[test]
fn clean_env_flag_recreates_a_compatible_env() {
    let project = flask_project("3.12", "flask\n");
    project.build_ok(&[]);
    let created = project.marker()["created_at"].clone();
    let log = project.build_ok(&["--clean-env"]);
    assert!(log.contains("A clean build was requested."), "{log}");
    assert_ne!(project.marker()["created_at"], created);
    assert!(project.importable("flask"));
}

#[test]
fn dropped_package_is_uninstalled_and_named() {
    let project = flask_project("3.12", "flask\nrequests\n");
    project.build_ok(&[]);
    assert!(project.importable("requests"));
    project.write("requirements.txt", "flask\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("Uninstalling packages that requirements.txt no longer needs:"), "{log}");
    for gone in ["requests", "urllib3", "idna", "certifi", "charset-normalizer"] {
        assert!(log.contains(gone), "{gone} not named:\n{log}");
    }
    assert!(!project.importable("requests"));
    assert!(project.importable("flask"), "what is still needed stays");
}

#[test]
fn packages_installed_by_hand_are_left_alone() {
    let project = flask_project("3.12", "flask\n");
    project.build_ok(&[]);
    let status = std::process::Command::new(uv())
        .args(["pip", "install", "--no-index", "--find-links"])
        .arg(wheelhouse())
        .arg("--python")
        .arg(project.env_dir().join("bin/python"))
        .arg("six")
        .output()
        .unwrap();
    assert!(status.status.success());
    project.write("requirements.txt", "flask\ngunicorn\n");
    project.build_ok(&[]);
    assert!(project.importable("six") && project.importable("gunicorn"));
}

#[test]
fn a_change_in_an_included_file_triggers_install() {
    let project = flask_project("3.12", "flask\n-r requirements/base.txt\n");
    project.write("requirements/base.txt", "six\n");
    project.build_ok(&[]);
    let log = project.build_ok(&[]);
    assert!(log.contains("--> install: skipped"), "{log}");
    project.write("requirements/base.txt", "six\nrequests\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("Resolving requirements.txt"), "{log}");
    assert!(project.importable("requests"));
}

#[test]
fn no_requirements_txt_skips_install_and_uninstalls_what_was_brought() {
    let project = flask_project("3.12", "six\n");
    project.build_ok(&[]);
    project.remove("requirements.txt");
    let log = project.build_ok(&[]);
    assert!(log.contains("No dependency file (requirements.txt, uv.lock, poetry.lock, Pipfile.lock or pyproject.toml dependencies): nothing to install."), "{log}");
    assert!(log.contains("Uninstalling packages that the app no longer needs: six"), "{log}");
    assert!(!project.importable("six"));
}

#[test]
fn failed_install_after_env_was_replaced_puts_the_old_env_back() {
    // A Django project whose collectstatic fails: the step after env was recreated.
    let project = flask_project("3.12", "django\n");
    project.write("manage.py", "import sys\nprint('collectstatic is broken')\nsys.exit(3)\n");
    let mut project = project;
    project.setting("DISABLE_COLLECTSTATIC", "true");
    project.build_ok(&[]);
    let before = project.marker();
    project.setting("DISABLE_COLLECTSTATIC", "false");
    let run = project.build_fails(&["--clean-env"]);
    let log = run.log();
    assert!(log.contains("collectstatic is broken"), "the script's output is in the log:\n{log}");
    assert!(log.contains("Restored the previous virtual environment."), "{log}");
    assert!(run.error_line().contains("manage.py collectstatic"), "{log}");
    assert_eq!(project.marker(), before, "env is the one from before the failed build");
    assert!(project.importable("django"));
}

#[test]
fn django_collectstatic_runs_unless_disabled() {
    let mut project = flask_project("3.12", "django\n");
    project.write(
        "manage.py",
        "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\nfrom django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
    );
    project.write("mysite/__init__.py", "");
    project.write(
        "mysite/settings.py",
        "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\nSECRET_KEY = 'x'\nINSTALLED_APPS = ['django.contrib.staticfiles']\nSTATIC_URL = 'static/'\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\nSTATICFILES_DIRS = [BASE_DIR / 'assets']\n",
    );
    project.write("assets/site.css", "body { color: red }\n");
    project.setting("DISABLE_COLLECTSTATIC", "true");
    let log = project.build_ok(&[]);
    assert!(log.contains("--> collectstatic: skipped (DISABLE_COLLECTSTATIC is true)"), "{log}");
    assert!(!project.target().join("staticfiles").exists());
    project.setting("DISABLE_COLLECTSTATIC", "false");
    let log = project.build_ok(&[]);
    assert!(log.contains("Running manage.py collectstatic --noinput"), "{log}");
    assert!(project.target().join("staticfiles/site.css").is_file(), "{log}");
}

#[test]
fn skip_python_deployment_copies_files_only() {
    let project = flask_project("3.12", "flask\n");
    project.write(".skipPythonDeployment", "");
    let log = project.build_ok(&[]);
    assert!(log.contains("Found .skipPythonDeployment: copying files only."), "{log}");
    assert!(project.target().join("app.py").is_file());
    assert!(!project.env_dir().exists());
    for step in ["runtime", "env", "install"] {
        assert!(log.contains(&format!("--> {step}: skipped")), "{log}");
    }
}

#[test]
fn scm_do_build_false_copies_files_only() {
    let mut project = flask_project("3.12", "flask\n");
    project.setting("SCM_DO_BUILD_DURING_DEPLOYMENT", "false");
    let log = project.build_ok(&[]);
    assert!(log.contains("SCM_DO_BUILD_DURING_DEPLOYMENT is false: copying files only."), "{log}");
    assert!(!project.env_dir().exists());
}

#[test]
fn default_python_is_the_newest_runtime_or_the_servers_default() {
    let project = Project::new();
    project.write("app.py", "print('hi')\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("No Python version requested"), "{log}");
    let newest = project.marker()["python_version"].as_str().unwrap().to_string();
    assert!(newest.starts_with("3.13."), "newest pyenv runtime is 3.13: {newest}");
    let log = project.build_ok(&["--default-python", "3.11"]);
    assert!(log.contains("from the server's default (--default-python)"), "{log}");
    assert!(project.marker()["python_version"].as_str().unwrap().starts_with("3.11."));
}
