//! `.deployment` custom scripts and `slipway deployment-script`.

use crate::support::*;

#[test]
fn custom_script_runs_from_the_checkout_with_every_variable() {
    let mut project = flask_project("3.12", "six\n");
    project.setting("PIP_NO_INDEX", "1");
    project.write(".deployment", "[config]\ncommand = deploy.sh\n");
    project.write(
        "deploy.sh",
        "set -eu\necho \"custom script running in $PWD\"\nmkdir -p \"$DEPLOYMENT_TARGET\"\nenv | grep -E '^(DEPLOYMENT_|PREVIOUS_MANIFEST_PATH|NEXT_MANIFEST_PATH|PYTHON|SLIPWAY_|PIP_NO_INDEX)' | sort > \"$DEPLOYMENT_TARGET/vars.txt\"\n",
    );
    let log = project.build_ok(&[]);
    assert!(log.contains("Running custom deployment script `deploy.sh` (from .deployment)"), "{log}");
    let src = project.src().canonicalize().unwrap();
    assert!(log.contains(&format!("custom script running in {}", src.display())), "{log}");
    let vars = project.target_file("vars.txt").expect("script wrote its variables");
    let target = project.target();
    for expected in [
        format!("DEPLOYMENT_SOURCE={}", src.display()),
        format!("DEPLOYMENT_TARGET={}", target.display()),
        format!("SLIPWAY_ENV={}", target.join("env").display()),
        "SLIPWAY_CLEAN_ENV=0".to_string(),
        "PYTHON_VERSION=3.12.".to_string(),
        "PYTHON=/".to_string(),
        "PIP_NO_INDEX=1".to_string(),
    ] {
        assert!(vars.contains(&expected), "missing {expected} in\n{vars}");
    }
    for name in ["DEPLOYMENT_TEMP=", "PREVIOUS_MANIFEST_PATH=", "NEXT_MANIFEST_PATH="] {
        assert!(vars.contains(name), "missing {name} in\n{vars}");
    }
    assert!(!project.env_dir().exists(), "the custom script replaces the default build");

    let log = project.build_ok(&["--clean-env"]);
    assert!(project.target_file("vars.txt").unwrap().contains("SLIPWAY_CLEAN_ENV=1"), "{log}");
}

#[test]
fn the_printed_default_script_deploys_like_the_default_build() {
    let project = flask_project("3.12", "flask\nrequests\n");
    let script = project.run(&["deployment-script"]);
    assert!(script.success());
    project.write("deploy.sh", script.stdout()).write(".deployment", "[config]\ncommand = deploy.sh\n");

    let log = project.build_ok(&[]);
    assert!(log.contains("--> sync") && log.contains("--> env") && log.contains("--> install"), "{log}");
    assert!(project.importable("flask") && project.importable("requests"));
    assert!(!project.target().join("deploy.sh").exists(), "the custom script is not deployed");
    assert!(!project.target().join(".deployment").exists());

    let log = project.build_ok(&[]);
    assert!(log.contains("Found compatible virtual environment."), "{log}");
    assert!(log.contains("--> install: skipped"), "{log}");

    project.write("requirements.txt", "flask\n").remove("runtime.txt").write("runtime.txt", "python-3.11\n");
    let log = project.build_ok(&[]);
    assert!(log.contains("Deleting incompatible virtual environment."), "{log}");
    assert!(project.importable("flask") && !project.importable("requests"));
}

#[test]
fn a_custom_script_can_force_a_fresh_env() {
    // The seed's option 3: change the deployment script to delete env.
    let project = flask_project("3.12", "six\n");
    let script =
        project.run(&["deployment-script"]).stdout().replace("# rm -rf \"$SLIPWAY_ENV\"", "rm -rf \"$SLIPWAY_ENV\"");
    project.write("deploy.sh", script).write(".deployment", "[config]\ncommand = deploy.sh\n");
    project.build_ok(&[]);
    let created = project.marker()["created_at"].clone();
    let log = project.build_ok(&[]);
    assert!(log.contains("No virtual environment at"), "{log}");
    assert_ne!(project.marker()["created_at"], created);
    assert!(project.importable("six"));
}

#[test]
fn a_failing_custom_script_fails_the_build() {
    let project = flask_project("3.12", "six\n");
    project.write(".deployment", "[config]\ncommand = deploy.sh\n").write("deploy.sh", "echo about to fail\nexit 7\n");
    let run = project.build_fails(&[]);
    assert!(run.log().contains("about to fail"));
    assert_eq!(
        run.error_line(),
        "error: custom deployment script `deploy.sh` failed (exit code 7); its output is in the log above"
    );
}
