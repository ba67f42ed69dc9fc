//! `slipway serve` with real `git push` deployments.

use std::time::Duration;

use serde_json::json;

use crate::server_support::*;

fn deployment_id(d: &serde_json::Value) -> i64 {
    d["id"].as_i64().unwrap()
}

#[test]
fn push_deploys_streams_remote_lines_and_records_the_deployment() {
    let server = TestServer::start();
    let password = server.create_app("hello");
    let repo = Repo::app("3.12", "flask\n");
    let out = repo.push_ok(&server.git_url("hello", &password), &["main"]);
    for expected in [
        "remote: --> runtime",
        "remote: --> install",
        "remote:     Installed",
        "remote: Step timings:",
        "remote: Deployment v1 succeeded.",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    let active = server.active("hello").expect("an active deployment");
    assert_eq!(active["status"], "success");
    assert_eq!(active["commit"], repo.head());
    assert_eq!(active["author"], "Ada Tester <ada@example.com>");
    assert_eq!(active["message"], "first commit");
    assert_eq!(active["trigger"], "push");
    assert!(active["ended_at"].is_string());
    let log = server.deployment_log("hello", deployment_id(&active));
    assert!(log.contains("--> install") && log.contains("Step timings:"), "{log}");
    assert!(server.app_home("hello").join("site/deployments/1/log.txt").is_file());
    assert!(server.wwwroot("hello").join("app.py").is_file());

    // Second push of a code change reuses env.
    repo.write("app.py", &format!("{}# v2\n", PLAIN_APP));
    repo.commit("code only");
    let out = repo.push_ok(&server.git_url("hello", &password), &["main"]);
    assert!(out.contains("remote: Found compatible virtual environment."), "{out}");
    assert!(out.contains("remote: --> install: skipped"), "{out}");
    assert_eq!(server.deployments("hello").len(), 2);

    // The repository can be cloned back with the same credentials.
    let clone = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git")
        .args(["clone", "--quiet", &server.git_url("hello", &password)])
        .arg(clone.path().join("copy"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read_to_string(clone.path().join("copy/app.py")).unwrap().ends_with("# v2\n"));
}

#[test]
fn python_version_setting_toggles_recreate_env() {
    let server = TestServer::start();
    let password = server.create_app("toggle");
    let repo = Repo::app("3.12", "flask\n");
    let url = server.git_url("toggle", &password);
    repo.push_ok(&url, &["main"]);
    for version in ["3.11", "3.12"] {
        server.set_settings("toggle", json!({ "PYTHON_VERSION": version }));
        repo.commit(&format!("deploy on {version}"));
        let out = repo.push_ok(&url, &["main"]);
        assert!(out.contains("remote: Deleting incompatible virtual environment."), "{out}");
        if version == "3.11" {
            assert!(out.contains("app setting PYTHON_VERSION (3.11) overrides runtime.txt (3.12)"), "{out}");
        } else {
            // runtime.txt asks for the same version: nothing is overridden, the setting decides.
            assert!(out.contains("Python 3.12 requested by app setting PYTHON_VERSION"), "{out}");
            assert!(!out.contains("overrides"), "{out}");
        }
        assert!(server.marker("toggle")["python_version"].as_str().unwrap().starts_with(&format!("{version}.")));
    }
}

#[test]
fn failed_build_rejects_the_push_and_keeps_the_previous_deployment() {
    let (server, _, url, repo) = TestServer::with_deployed_app("keep", "flask\n");
    let good = repo.head();
    let marker = server.marker("keep");

    // Fails while resolving: nothing live changes.
    repo.write("requirements.txt", "flask\nno-such-package-slipway\n");
    repo.commit("bad requirement");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("pre-receive hook declined"), "{out}");
    assert!(out.contains("remote: Deployment v2 failed"), "{out}");
    let remote_head = String::from_utf8(repo.git(&["ls-remote", &url, "refs/heads/main"]).stdout).unwrap();
    assert!(remote_head.starts_with(&good), "the branch did not move: {remote_head}");
    assert_eq!(server.active("keep").unwrap()["commit"], good);
    assert_eq!(server.marker("keep"), marker);
    let failed = &server.deployments("keep")[0];
    assert_eq!(failed["status"], "failed");
    assert!(failed["reason"].as_str().unwrap().contains("resolving requirements.txt"), "{failed}");

    // Fails after sync (collectstatic): the failed release is discarded, the live one never left.
    repo.write("requirements.txt", "flask\n");
    repo.write("app.py", "# broken release\n");
    repo.write("manage.py", "import sys\nsys.exit('collectstatic exploded')\n");
    repo.write("requirements.txt", "flask\ndjango\n");
    repo.commit("broken release");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("collectstatic exploded"), "{out}");
    assert!(out.contains("remote: The live release (v1) was never left: it keeps serving."), "{out}");
    assert!(!server.app_home("keep").join("site/releases/3").exists(), "the failed release is removed");
    assert_eq!(std::fs::read_to_string(server.wwwroot("keep").join("app.py")).unwrap(), PLAIN_APP);
    assert!(!server.wwwroot("keep").join("manage.py").exists(), "files of the failed release are gone");
    assert_eq!(server.active("keep").unwrap()["commit"], good);
}

#[test]
fn push_option_clean_env_env_reset_and_redeploy() {
    let (server, _, url, repo) = TestServer::with_deployed_app("fresh", "six\n");
    let first = server.marker("fresh")["created_at"].clone();

    repo.commit("again, clean");
    let out = repo.push_ok(&url, &["-o", "clean-env", "main"]);
    assert!(out.contains("remote:   - A clean build was requested."), "{out}");
    let second = server.marker("fresh")["created_at"].clone();
    assert_ne!(first, second);
    assert_eq!(server.deployments("fresh")[0]["clean_env"], true);

    let (status, body) = server.api("POST", "/api/apps/fresh/env/reset", None);
    assert_eq!(status, 202, "{body}");
    let reset = server.wait_for("fresh", deployment_id(&body["deployment"]));
    assert_eq!(
        (reset["status"].as_str(), reset["trigger"].as_str(), reset["clean_env"].as_bool()),
        (Some("success"), Some("env-reset"), Some(true))
    );
    assert_ne!(server.marker("fresh")["created_at"], second);

    let (status, body) = server.api("POST", "/api/apps/fresh/deployments/1/redeploy", Some(json!({})));
    assert_eq!(status, 202, "{body}");
    let redeployed = server.wait_for("fresh", deployment_id(&body));
    assert_eq!(redeployed["status"], "success");
    assert_eq!(redeployed["trigger"], "redeploy");
    assert_eq!(redeployed["commit"], server.deployments("fresh").last().unwrap()["commit"]);
    assert!(server
        .deployment_log("fresh", deployment_id(&redeployed))
        .contains("Found compatible virtual environment."));

    let (status, env) = server.api("GET", "/api/apps/fresh/env", None);
    assert_eq!(status, 200);
    assert!(env["size_bytes"].as_u64().unwrap() > 0);
    assert!(env["packages"].as_array().unwrap().iter().any(|p| p["name"] == "six"), "{env}");
    assert!(env["marker"]["python_version"].as_str().unwrap().starts_with("3.12."));
}

/// A custom script that takes a while, so that deployments overlap in time.
fn slow_repo(seconds: u32) -> Repo {
    let repo = Repo::new();
    repo.write("app.py", PLAIN_APP)
        .write(".deployment", "[config]\ncommand = deploy.sh\n")
        .write(
            "deploy.sh",
            &format!("cp app.py \"$DEPLOYMENT_TARGET/\"\necho \"start $(date +%s.%N)\" >> \"$HOME/times.txt\"\nsleep {seconds}\necho \"end $(date +%s.%N)\" >> \"$HOME/times.txt\"\n"),
        );
    repo.commit("slow");
    repo
}

fn intervals(server: &TestServer, app: &str) -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(server.app_home(app).join("cache/times.txt")).unwrap();
    let values: Vec<(String, f64)> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    values
        .chunks(2)
        .map(|pair| {
            assert_eq!((pair[0].0.as_str(), pair[1].0.as_str()), ("start", "end"));
            (pair[0].1, pair[1].1)
        })
        .collect()
}

#[test]
fn deployments_of_one_app_wait_for_each_other_and_two_apps_build_in_parallel() {
    let server = TestServer::start();
    let a = server.create_app("app-a");
    let b = server.create_app("app-b");
    let repo = slow_repo(2);
    std::thread::scope(|scope| {
        let pa = scope.spawn(|| repo.push(&server.git_url("app-a", &a), &["main"]));
        let pb = scope.spawn(|| repo.push(&server.git_url("app-b", &b), &["main"]));
        let (a, b) = (pa.join().unwrap(), pb.join().unwrap());
        assert!(a.0 && b.0, "both pushes deploy:\n{}\n{}", a.1, b.1);
    });
    let (ia, ib) = (intervals(&server, "app-a")[0], intervals(&server, "app-b")[0]);
    assert!(ia.0 < ib.1 && ib.0 < ia.1, "two apps' builds overlap: {ia:?} {ib:?}");

    // One app: a redeploy is running when a push arrives; the push waits, says so, and succeeds.
    let first = deployment_id(&server.deployments("app-a")[0]);
    let (status, body) = server.api("POST", &format!("/api/apps/app-a/deployments/{first}/redeploy"), None);
    assert_eq!(status, 202, "{body}");
    server.wait_for_newest("app-a", "building");
    repo.commit("second");
    let out = repo.push_ok(&server.git_url("app-a", &a), &["main"]);
    assert!(out.contains("Another deployment of app-a is running: waiting for it to finish"), "{out}");
    assert_eq!(server.wait_for("app-a", deployment_id(&body))["status"], "success");
    let runs = intervals(&server, "app-a");
    assert_eq!(runs.len(), 3);
    assert!(runs[1].1 <= runs[2].0, "one after the other: {runs:?}");
}

#[test]
fn restart_after_kill_9_marks_the_build_failed_and_serves_the_live_release() {
    let server = TestServer::start();
    let password = server.create_app("crashy");
    let repo = Repo::app("3.12", "six\n");
    repo.push_ok(&server.git_url("crashy", &password), &["main"]);
    let before = server.marker("crashy")["created_at"].clone();

    repo.write(".deployment", "[config]\ncommand = deploy.sh\n").write("deploy.sh", "exec sleep 60017\n");
    repo.commit("hangs");
    let url = server.git_url("crashy", &password);
    let pusher = repo.push_in_background(&url, "main");
    // The custom script becomes `sleep 60017`: the build is under way.
    let build_pid =
        wait_until(Duration::from_secs(30), "the hanging build", || host_pids(&["sleep", "60017"]).first().copied());
    assert_eq!(server.deployments("crashy")[0]["status"], "building");
    let dir = server.kill9();
    let pushed = pusher.join().unwrap();
    assert!(!pushed.0, "the push cannot succeed when the server dies");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{build_pid}")).exists() {
        assert!(std::time::Instant::now() < deadline, "the build's process {build_pid} outlived the server");
        std::thread::sleep(Duration::from_millis(50));
    }

    let server = TestServer::start_in(dir);
    let interrupted = &server.deployments("crashy")[0];
    assert_eq!(interrupted["status"], "failed");
    assert_eq!(interrupted["reason"], "slipway stopped while this deployment was running");

    // The hanging commit never reached the branch; build on what did.
    let url = server.git_url("crashy", &password);
    let repo2 = Repo::new();
    repo2.git(&["fetch", "--quiet", &url, "main"]);
    repo2.git(&["reset", "--quiet", "--hard", "FETCH_HEAD"]);
    repo2.commit("after the crash");
    // The interrupted build had a release of its own: the live env was never touched and is reused.
    let out = repo2.push_ok(&url, &["main"]);
    assert!(out.contains("Found compatible virtual environment"), "{out}");
    assert_eq!(server.marker("crashy")["created_at"], before);
}

#[test]
fn sigterm_lets_a_running_deployment_finish() {
    let server = TestServer::start();
    let password = server.create_app("graceful");
    let repo = slow_repo(2);
    let url = server.git_url("graceful", &password);
    let pusher = repo.push_in_background(&url, "main");
    server.wait_for_newest("graceful", "building");
    let (dir, status) = server.terminate();
    assert!(status.success(), "clean exit");
    assert!(pusher.join().unwrap().0, "the push completed");
    let server = TestServer::start_in(dir);
    assert_eq!(server.deployments("graceful")[0]["status"], "success");
}

#[test]
fn history_keeps_the_last_scm_max_deployments_and_always_the_active_one() {
    let server = TestServer::start();
    let password = server.create_app("history");
    let repo = Repo::app("3.12", "six\n");
    repo.push_ok(&server.git_url("history", &password), &["main"]);
    server.set_settings("history", json!({ "SCM_MAX_DEPLOYMENTS": "2" }));
    let first = deployment_id(&server.deployments("history")[0]);
    let redeploy_active = || {
        let active = deployment_id(&server.active("history").unwrap());
        let (status, body) = server.api("POST", &format!("/api/apps/history/deployments/{active}/redeploy"), None);
        assert_eq!(status, 202, "{body}");
        server.wait_for("history", deployment_id(&body))
    };
    for _ in 0..3 {
        assert_eq!(redeploy_active()["status"], "success");
    }
    // A failed one, so the active deployment is not the newest.
    server.set_settings("history", json!({ "STARTUP_COMMAND": "false" }));
    let body = redeploy_active();
    assert_eq!(body["status"], "failed");

    let kept: Vec<i64> = server.deployments("history").iter().map(deployment_id).collect();
    let active = deployment_id(&server.active("history").unwrap());
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&active), "the active one is kept: {kept:?}");
    assert!(!server.app_home("history").join(format!("site/deployments/{first}")).exists(), "purged logs are deleted");
    assert!(server.app_home("history").join(format!("site/deployments/{active}/log.txt")).is_file());
    assert_eq!(server.api("GET", &format!("/api/apps/history/deployments/{first}"), None).0, 404);
}
