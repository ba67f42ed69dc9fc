//! Releases (issue 11): every deployment in a release of its own, a switch that loses no request,
//! instant rollback, consistent concurrent pushes, crash recovery, one server per data dir,
//! timeouts and cancel, deleting an app mid-build, env reuse that checks the interpreter.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::cli;
use crate::server_support::*;

fn id(d: &serde_json::Value) -> i64 {
    d["id"].as_i64().unwrap()
}

fn pid_alive(pid: u64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// A repository whose app.py answers with `version`.
fn commit_version(repo: &Repo, version: &str) {
    repo.write("app.py", &PLAIN_APP.replace("VERSION = \"v1\"", &format!("VERSION = \"{version}\"")));
    repo.commit(version);
}

#[test]
fn concurrent_sibling_pushes_only_the_accepted_one_goes_live() {
    let (server, _, url, repo) = TestServer::with_deployed_app("race", "six\n");
    let base = repo.head();
    // Four clones of the same commit, each with a sibling commit on top.
    let clones: Vec<Repo> = (0..4)
        .map(|i| {
            let clone = Repo::new();
            clone.git(&["fetch", "--quiet", &url, "main"]);
            clone.git(&["reset", "--quiet", "--hard", "FETCH_HEAD"]);
            commit_version(&clone, &format!("sibling-{i}"));
            clone
        })
        .collect();
    let results: Vec<(bool, String)> = std::thread::scope(|scope| {
        let pushes: Vec<_> = clones.iter().map(|c| scope.spawn(|| c.push(&url, &["main"]))).collect();
        pushes.into_iter().map(|p| p.join().unwrap()).collect()
    });
    let accepted: Vec<usize> = (0..4).filter(|i| results[*i].0).collect();
    assert_eq!(accepted.len(), 1, "exactly one sibling push can win: {results:#?}");
    let winner = &clones[accepted[0]];
    for (i, (ok, out)) in results.iter().enumerate() {
        if !ok {
            assert!(out.contains("moved while this push waited"), "push {i} was rejected for the right reason:\n{out}");
        }
    }
    let head = String::from_utf8(repo.git(&["ls-remote", &url, "refs/heads/main"]).stdout).unwrap();
    assert!(head.starts_with(&winner.head()), "the branch is the accepted push's commit: {head}");
    let live = server.active("race").unwrap();
    assert_eq!(live["commit"], winner.head(), "the live commit is the branch head");
    assert_ne!(live["commit"], base);
    let (_, app) = server.api("GET", "/api/apps/race", None);
    assert_eq!(app["live_is_branch_head"], true, "{app}");
    let sibling = format!("sibling-{}", accepted[0]);
    assert!(server.get_app("race", "/").1.starts_with(&sibling), "the accepted code answers");
}

#[test]
fn a_release_switch_under_load_fails_no_request() {
    let (server, _, url, repo) = TestServer::with_deployed_app("steady", "six\n");
    // The old process retires 1 s after each switch, while the load still runs: the draining,
    // the SIGTERM and the proxy's retry are all under load.
    server.set_settings("steady", json!({ "WAIT_TO_RETIRE": "1" }));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (server, stop) = (&server, &stop);
    let (sent, failures) = std::thread::scope(|scope| {
        // Half the clients POST a small form: a request that never reached a retiring process
        // is sent again to the new one, body and all.
        let clients: Vec<_> = (0..16)
            .map(|i| {
                let (method, body) = if i % 2 == 0 { ("GET", "") } else { ("POST", "name=value&more=data") };
                scope.spawn(move || {
                    let (mut sent, mut failures) = (0u32, Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        sent += 1;
                        match server.raw_request("steady", method, "/", body) {
                            Ok(200) => {}
                            other => failures.push(format!("{method}: {other:?}")),
                        }
                    }
                    (sent, failures)
                })
            })
            .collect();
        for version in ["v2", "v3"] {
            commit_version(&repo, version);
            repo.push_ok(&url, &["main"]);
            std::thread::sleep(Duration::from_millis(2500));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        clients.into_iter().map(|c| c.join().unwrap()).fold((0, Vec::new()), |(n, mut f), (sent, failed)| {
            f.extend(failed);
            (n + sent, f)
        })
    });
    assert!(sent > 100, "the clients sent requests throughout: {sent}");
    assert!(failures.is_empty(), "{} of {sent} requests failed across 2 switches: {failures:?}", failures.len());
    assert!(server.get_app("steady", "/").1.starts_with("v3"));
}

#[test]
fn rollback_switches_to_a_kept_release_without_a_build_and_keeps_user_files() {
    let (server, _, url, repo) = TestServer::with_deployed_app("back", "six\n");
    let first = id(&server.active("back").unwrap());
    let first_env = server.marker("back");
    commit_version(&repo, "v2");
    repo.push_ok(&url, &["main"]);
    let second = id(&server.active("back").unwrap());
    assert!(server.get_app("back", "/").1.starts_with("v2"));
    // A file a user (over the VFS API, as over FTP) or the app put into wwwroot: it stays across
    // rollbacks.
    assert_eq!(server.put_file("back", "notes.db", "precious\n"), 201);
    // A hot-fix of a deployed file that v1 and v2 share (the releases are hard-linked clones):
    // it changes the live release only, and the rollback runs v1 as it was built.
    let requirements = std::fs::read_to_string(server.wwwroot("back").join("requirements.txt")).unwrap();
    assert_eq!(server.put_file("back", "requirements.txt", "hot-fix\n"), 201);

    let releases = cli(&server, &["releases", "back"]).ok().stdout;
    assert!(releases.lines().nth(1).unwrap().starts_with(&format!("v{second}")), "newest first:\n{releases}");
    let deployments_before = server.deployments("back").len();
    let started = Instant::now();
    let out = cli(&server, &["rollback", "back"]).ok();
    let took = started.elapsed();
    assert!(out.stdout.contains(&format!("now runs release v{first}")), "{}", out.stdout);
    assert!(server.get_app("back", "/").1.starts_with("v1"), "the old code answers");
    assert!(took < Duration::from_secs(10), "a rollback starts a process, it builds nothing: {took:?}");
    assert_eq!(server.deployments("back").len(), deployments_before, "no build, no new deployment");
    assert_eq!(id(&server.active("back").unwrap()), first);
    assert_eq!(server.marker("back"), first_env, "the release's own env, untouched");
    assert_eq!(std::fs::read_to_string(server.wwwroot("back").join("notes.db")).unwrap(), "precious\n");
    let rolled_back = std::fs::read_to_string(server.wwwroot("back").join("requirements.txt")).unwrap();
    assert_eq!(rolled_back, requirements, "v1 is as it was built, not hot-fixed through a shared inode");
    let (_, app) = server.api("GET", "/api/apps/back", None);
    assert_eq!(app["live_is_branch_head"], false, "a rollback is not the branch head: {app}");
    let shown = cli(&server, &["apps", "show", "back"]).ok().stdout;
    assert!(shown.contains("Live:        not the head of `main` (a rollback or a redeploy)"), "{shown}");
    let listed = cli(&server, &["apps", "list"]).ok().stdout;
    assert!(listed.lines().any(|l| l.split_whitespace().take(3).eq(["back", "rolled-back", "v1"])), "{listed}");

    // Forward again by id, through the API; a deployment that has no release is refused.
    let (status, body) = server.api("POST", "/api/apps/back/rollback", Some(json!({ "deployment": second })));
    assert_eq!(status, 200, "{body}");
    assert!(server.get_app("back", "/").1.starts_with("v2"));
    let (status, body) = server.api("POST", "/api/apps/back/rollback", Some(json!({ "deployment": 99 })));
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.api("POST", "/api/apps/back/rollback", Some(json!({ "deployment": second })));
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "deployment v2 is already the live release of `back`"));
    // By number, as the CLI and dashboard name deployments.
    let (status, body) = server.api("POST", "/api/apps/back/rollback", Some(json!({ "deployment": "v99" })));
    assert_eq!((status, body["error"].as_str().unwrap()), (404, "app `back` has no deployment v99"));
    let (status, body) = server.api("POST", "/api/apps/back/rollback", Some(json!({ "deployment": "latest" })));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("invalid deployment `latest`"), "{body}");
    let out = cli(&server, &["rollback", "back", "v1"]).ok();
    assert!(out.stdout.contains("now runs release v1"), "{}", out.stdout);
    assert!(server.get_app("back", "/").1.starts_with("v1"));
}

#[test]
fn a_crashed_server_leaves_nothing_running_and_its_successor_serves_the_live_release() {
    let (server, _, url, repo) = TestServer::with_deployed_app("phoenix", "six\n");
    // The app crashes once and is restarted by the supervisor under a new pid.
    let first_pid = server.api("GET", "/api/apps/phoenix", None).1["process"]["pid"].as_u64().unwrap();
    Command::new("kill").args(["-9", &first_pid.to_string()]).status().unwrap();
    let app_pid = wait_until(Duration::from_secs(60), "the app's restart", || {
        let process = server.api("GET", "/api/apps/phoenix", None).1["process"].clone();
        (process["state"] == "running").then(|| process["pid"].as_u64()).flatten().filter(|p| *p != first_pid)
    });
    // A build that starts a grandchild and hangs.
    repo.write(".deployment", "[config]\ncommand = deploy.sh\n")
        .write("deploy.sh", "sleep 60023 &\necho started\nexec sleep 600\n");
    repo.commit("hangs");
    let pusher = repo.push_in_background(&url, "main");
    let grandchild = wait_until(Duration::from_secs(30), "the hanging build's grandchild", || {
        host_pids(&["sleep", "60023"]).first().copied()
    });
    let dir = server.kill9();
    assert!(!pusher.join().unwrap().0);

    let server = TestServer::start_in(dir);
    for pid in [app_pid, grandchild] {
        wait_until(Duration::from_secs(15), &format!("process {pid} of the killed server to be stopped"), || {
            (!pid_alive(pid)).then_some(())
        });
    }
    let interrupted = &server.deployments("phoenix")[0];
    assert_eq!(interrupted["status"], "failed");
    assert!(!server.app_home("phoenix").join(format!("site/releases/{}", id(interrupted))).exists(), "debris is gone");
    assert!(!server.app_home("phoenix").join("tmp").exists());
    let restarted = Instant::now();
    let body = wait_until(Duration::from_secs(30), "the live release to serve after the restart", || {
        let (status, body) = server.get_app("phoenix", "/");
        (status == 200).then_some(body)
    });
    assert!(body.starts_with("v1"), "{body}");
    assert!(restarted.elapsed() < Duration::from_secs(10), "within seconds: {:?}", restarted.elapsed());
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let server = TestServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["serve", "--http", "127.0.0.1:0", "--ftp", "127.0.0.1:0", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is in use by another slipway serve (pid "), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert_eq!(server.api("GET", "/api/apps", None).0, 200, "the first server is unharmed");
}

#[test]
fn a_hung_build_times_out_and_another_is_cancelled() {
    let (server, _, url, repo) = TestServer::with_deployed_app("hung", "six\n");
    server.set_settings("hung", json!({ "SCM_COMMAND_IDLE_TIMEOUT": "2" }));
    repo.write(".deployment", "[config]\ncommand = deploy.sh\n").write("deploy.sh", "echo working\nexec sleep 600\n");
    repo.commit("hangs");
    let started = Instant::now();
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok);
    assert!(out.contains("the build printed nothing for 2s (SCM_COMMAND_IDLE_TIMEOUT): stopped"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(30), "stopped promptly: {:?}", started.elapsed());
    assert!(server.get_app("hung", "/").1.starts_with("v1"), "the live release never left");

    // A build that keeps printing but runs past BUILD_TIMEOUT.
    server.set_settings("hung", json!({ "SCM_COMMAND_IDLE_TIMEOUT": "600", "BUILD_TIMEOUT": "3" }));
    repo.write("deploy.sh", "while true; do echo tick; sleep 0.5; done\n");
    repo.commit("runs forever, talkatively");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok && out.contains("the build ran longer than 3s (BUILD_TIMEOUT): stopped"), "{out}");
    assert!(server.get_app("hung", "/").1.starts_with("v1"), "the live release never left");

    // Cancelled by the operator, with another push waiting for its turn: the build's processes
    // go, and the waiting push goes next.
    server.set_settings("hung", json!({ "BUILD_TIMEOUT": "1800" }));
    repo.write("deploy.sh", "echo working\nexec sleep 607\n");
    repo.commit("hangs until cancelled");
    let waiting = Repo::new();
    waiting.git(&["fetch", "--quiet", &url, "main"]);
    waiting.git(&["reset", "--quiet", "--hard", "FETCH_HEAD"]);
    commit_version(&waiting, "v-next");
    let pusher = repo.push_in_background(&url, "main");
    let running = server.wait_for_newest("hung", "building");
    wait_until(Duration::from_secs(30), "the build's sleep", || {
        (!host_pids(&["sleep", "607"]).is_empty()).then_some(())
    });
    let next = waiting.push_in_background(&url, "main");
    wait_until(Duration::from_secs(30), "the second push to wait", || {
        server.deployments("hung").iter().any(|d| d["status"] == "pending").then_some(())
    });
    let cancelled = cli(&server, &["cancel", "hung", &format!("v{}", running["number"])]).ok();
    assert!(cancelled.stderr.contains("cancelled by the operator"), "{}", cancelled.stderr);
    let (ok, out) = pusher.join().unwrap();
    assert!(!ok && out.contains("cancelled by the operator"), "{out}");
    wait_until(Duration::from_secs(10), "the cancelled build's processes to go", || {
        host_pids(&["sleep", "607"]).is_empty().then_some(())
    });
    let (ok, out) = next.join().unwrap();
    assert!(ok, "the waiting push went next and succeeded: {out}");
    assert!(server.get_app("hung", "/").1.starts_with("v-next"), "its code is live");
    let record = server.wait_for("hung", id(&running));
    assert_eq!(
        (record["status"].as_str(), record["reason"].as_str()),
        (Some("failed"), Some("cancelled by the operator"))
    );
    let (status, body) = server.api("POST", &format!("/api/apps/hung/deployments/{}/cancel", id(&running)), None);
    assert_eq!(status, 400, "an ended deployment cannot be cancelled: {body}");
}

#[test]
fn deleting_an_app_mid_build_leaves_nothing_and_a_new_app_of_that_name_starts_clean() {
    let (server, _, url, repo) = TestServer::with_deployed_app("gone", "six\n");
    repo.write(".deployment", "[config]\ncommand = deploy.sh\n").write("deploy.sh", "echo working\nexec sleep 600\n");
    repo.commit("hangs");
    let pusher = repo.push_in_background(&url, "main");
    server.wait_for_newest("gone", "building");
    let (status, body) = server.api("DELETE", "/api/apps/gone", None);
    assert_eq!(status, 200, "{body}");
    assert!(!pusher.join().unwrap().0);
    assert!(!server.app_home("gone").exists(), "nothing is left of the app");

    let password = server.create_app("gone");
    let fresh = Repo::app("3.12", "six\n");
    let out = fresh.push_ok(&server.git_url("gone", &password), &["main"]);
    assert!(out.contains("No virtual environment at"), "a new env, not the deleted app's: {out}");
}

#[test]
fn an_env_whose_interpreter_is_gone_is_recreated() {
    let (server, _, url, repo) = TestServer::with_deployed_app("halfenv", "six\n");
    // What an interrupted `rm -r env` over FTP leaves: bin/ gone, the marker still there.
    std::fs::remove_dir_all(server.wwwroot("halfenv").join("env/bin")).unwrap();
    repo.commit("again");
    let out = repo.push_ok(&url, &["main"]);
    assert!(out.contains("remote: Deleting incompatible virtual environment."), "{out}");
    assert!(out.contains("env's interpreter env/bin/python is missing"), "{out}");
    assert!(server.get_app("halfenv", "/").1.starts_with("v1"));
}

#[test]
fn releases_share_unchanged_files_and_old_ones_go_with_their_deployments() {
    use std::os::unix::fs::MetadataExt;
    let (server, _, url, repo) = TestServer::with_deployed_app("disk", "six\n");
    server.set_settings("disk", json!({ "SCM_MAX_DEPLOYMENTS": "2" }));
    let first = id(&server.active("disk").unwrap());
    repo.write("other.py", "x = 1\n");
    repo.commit("second");
    repo.push_ok(&url, &["main"]);
    let second = id(&server.active("disk").unwrap());
    let home = server.app_home("disk");
    let inode = |release: i64, file: &str| {
        std::fs::metadata(home.join(format!("site/releases/{release}/{file}"))).unwrap().ino()
    };
    assert_eq!(inode(first, "app.py"), inode(second, "app.py"), "an unchanged file is one file on disk");
    let six = "env/lib/python3.12/site-packages/six.py";
    assert_eq!(inode(first, six), inode(second, six), "so is a reused env's package");
    assert_eq!(
        std::fs::read_link(home.join("site/wwwroot")).unwrap(),
        std::path::Path::new(&format!("releases/{second}"))
    );
    repo.commit("third");
    repo.push_ok(&url, &["main"]);
    assert!(!home.join(format!("site/releases/{first}")).exists(), "beyond SCM_MAX_DEPLOYMENTS, releases go too");
}
