//! Isolation and hardening (issue 12): an app's password is not root on the host. The spies run
//! as a real attacker's code would — an app and a `.deployment` script, pushed with git — and
//! report, over HTTP and in the push, what they could reach.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server_support::*;

/// A web app that tries, on `GET /`, everything an app must not be able to do, and answers JSON:
/// for each attempt `ok` (it worked: a leak) or the error it got.
const SPY_APP: &str = r#"import json, os, signal, socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def attempt(action):
    try:
        action()
        return "ok"
    except Exception as e:
        return type(e).__name__

def read(path):
    with open(path, "rb") as f:
        f.read(1)

def write(path):
    with open(path, "w") as f:
        f.write("planted by spy")

def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        e = os.environ
        report = {
            "uid": os.getuid(),
            "admin_token": attempt(lambda: read(e["SPY_DATA"] + "/admin-token")),
            "database": attempt(lambda: read(e["SPY_DATA"] + "/slipway.db")),
            "other_app_code": attempt(lambda: read(e["SPY_VICTIM"] + "/site/wwwroot/app.py")),
            "other_app_repository": attempt(lambda: read(e["SPY_VICTIM"] + "/repository/config")),
            "shadow": attempt(lambda: read("/etc/shadow")),
            "write_other_app": attempt(lambda: write(e["SPY_VICTIM"] + "/site/wwwroot/planted.txt")),
            "server_environ": attempt(lambda: read("/proc/%s/environ" % e["SPY_SERVER_PID"])),
            "signal_server": attempt(lambda: os.kill(int(e["SPY_SERVER_PID"]), 0)),
            "hook_socket": attempt(lambda: connect(e["SPY_DATA"] + "/run/hook.sock")),
            "server_env_var": "CARGO" in e or "RUST_BACKTRACE" in e,
            "own_home_writable": attempt(lambda: write(e["HOME"] + "/mine.txt")),
        }
        body = json.dumps(report).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

/// What the spies were told: where the server's secrets and the other app are.
fn spy_settings(server: &TestServer) -> Value {
    json!({
        "SPY_DATA": server.data_dir().to_str().unwrap(),
        "SPY_VICTIM": server.app_home("victim").to_str().unwrap(),
        "SPY_SERVER_PID": server.pid().to_string(),
    })
}

#[test]
#[cfg_attr(not_root, ignore = "needs root: apps run as their own users only when slipway runs as root")]
fn an_app_and_its_deployment_script_cannot_reach_the_server_or_another_app() {
    let server = TestServer::start();
    let victim = server.create_app("victim");
    Repo::app("3.12", "six\n").push_ok(&server.git_url("victim", &victim), &["main"]);
    let spy = server.create_app("spy");
    server.set_settings("spy", spy_settings(&server));
    let token = server.token();

    // The deployment script tries the same, and prints what it read into the push.
    let repo = Repo::app("3.12", "six\n");
    repo.write("app.py", SPY_APP).write(".deployment", "[config]\ncommand = deploy.sh\n").write(
        "deploy.sh",
        r#"cp app.py "$DEPLOYMENT_TARGET/"
for f in "$SPY_DATA/admin-token" "$SPY_DATA/slipway.db" "$SPY_VICTIM/site/wwwroot/app.py" /etc/shadow; do
  if cat "$f" 2>/dev/null; then echo "LEAKED $f"; else echo "denied $f"; fi
done
echo planted > "$SPY_VICTIM/site/wwwroot/planted-by-build.txt" 2>/dev/null && echo "LEAKED write" || echo "denied write"
kill -0 "$SPY_SERVER_PID" 2>/dev/null && echo "LEAKED signal" || echo "denied signal"
echo "build uid $(id -u)"
"#,
    );
    repo.commit("spy");
    let out = repo.push_ok(&server.git_url("spy", &spy), &["main"]);
    assert!(!out.contains(&token), "the admin token reached the push");
    assert!(!out.contains("LEAKED"), "{out}");
    assert_eq!(out.matches("remote:     denied").count(), 6, "{out}");
    let build_uid: u32 = out.split("build uid ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert_ne!(build_uid, 0, "the build ran as root");

    let (status, body) = server.get_app("spy", "/");
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    for reach in [
        "admin_token",
        "database",
        "other_app_code",
        "other_app_repository",
        "shadow",
        "write_other_app",
        "server_environ",
        "signal_server",
        "hook_socket",
    ] {
        assert_ne!(report[reach], "ok", "the app could {reach}: {report}");
    }
    assert_eq!(report["server_env_var"], false, "the app got the server's environment: {report}");
    assert_eq!(report["own_home_writable"], "ok", "its own HOME is its own: {report}");
    let app_uid = report["uid"].as_u64().unwrap();
    assert_ne!(app_uid, 0);
    assert_eq!(app_uid, u64::from(build_uid), "the app and its builds are the same user");
    assert!(!server.wwwroot("victim").join("planted.txt").exists());
    assert!(!server.wwwroot("victim").join("planted-by-build.txt").exists());

    // Another app is another user.
    let other = server.create_app("other");
    server.set_settings("other", spy_settings(&server));
    let other_repo = Repo::app("3.12", "six\n");
    other_repo.write("app.py", SPY_APP).commit("spy too");
    other_repo.push_ok(&server.git_url("other", &other), &["main"]);
    let other_uid = serde_json::from_str::<Value>(&server.get_app("other", "/").1).unwrap()["uid"].as_u64().unwrap();
    assert_ne!(other_uid, app_uid, "each app has a user of its own");

    use std::os::unix::fs::PermissionsExt;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(server.data_dir()), 0o700);
    if server.database.is_none() {
        assert_eq!(mode(server.data_dir().join("slipway.db")), 0o600);
    }
    assert_eq!(mode(server.app_home("spy")), 0o700);
}

#[test]
#[cfg_attr(not_root, ignore = "needs root: cgroups (or rlimits) are set for apps only when slipway runs as root")]
fn an_app_over_its_memory_limit_is_killed_and_reported() {
    let (server, _, url, repo) = TestServer::with_deployed_app("hog", "six\n");
    server.set_settings("hog", json!({ "MEMORY_LIMIT": "64M" }));
    repo.write(
        "app.py",
        &PLAIN_APP.replace(
            "    def do_GET(self):\n",
            "    def do_GET(self):\n        if self.path == '/hog':\n            hog = bytearray(300 * 1024 * 1024)\n",
        ),
    );
    repo.commit("hungry");
    repo.push_ok(&url, &["main"]);
    assert_eq!(server.get_app("hog", "/").0, 200);
    let (status, _) = server.get_app("hog", "/hog");
    assert_ne!(status, 200, "300 MB under a 64 MB limit");
    let exit = wait_until(Duration::from_secs(30), "the app's death to be reported", || {
        server.api("GET", "/api/apps/hog", None).1["process"]["last_exit"].as_str().map(String::from)
    });
    assert!(exit.contains("more memory than it may (MEMORY_LIMIT=64M)"), "{exit}");
    let app_log = std::fs::read_to_string(server.app_home("hog").join("LogFiles/app.log")).unwrap();
    assert!(app_log.contains("MEMORY_LIMIT=64M"), "{app_log}");
    let shown = crate::cli::cli(&server, &["apps", "show", "hog"]).ok().stdout;
    assert!(shown.contains("MEMORY_LIMIT=64M"), "apps show says so:\n{shown}");
    wait_until(Duration::from_secs(30), "the app's restart", || (server.get_app("hog", "/").0 == 200).then_some(()));
}

#[test]
fn build_files_that_lead_outside_the_repository_are_refused_without_quoting_them() {
    let (server, _, url, repo) = TestServer::with_deployed_app("leaky", "six\n");
    let token = server.token();
    let admin_token = server.data_dir().join("admin-token");
    for (file, expected) in [("runtime.txt", "runtime.txt"), (".python-version", ".python-version")] {
        let fresh = Repo::new();
        fresh.git(&["fetch", "--quiet", &url, "main"]);
        fresh.git(&["reset", "--quiet", "--hard", "FETCH_HEAD"]);
        let _ = std::fs::remove_file(fresh.path().join("runtime.txt"));
        std::os::unix::fs::symlink(&admin_token, fresh.path().join(file)).unwrap();
        fresh.commit(&format!("{file} leads to the admin token"));
        let (ok, out) = fresh.push(&url, &["main"]);
        assert!(!ok, "{out}");
        assert!(!out.contains(&token), "the token leaked through {file}");
        assert!(out.contains(&format!("`{expected}` leads outside the repository")), "{out}");
    }
    repo.write("requirements.txt", &format!("six\n-r {}\n-r /etc/hostname\n", admin_token.display()));
    repo.commit("includes from outside");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok && !out.contains(&token), "{out}");
    assert!(out.contains("requirements.txt line 2") && out.contains("leads outside the repository"), "{out}");

    // A custom script that names a program outside the repository.
    repo.write("requirements.txt", "six\n").write(".deployment", "[config]\ncommand = ../../../../bin/true\n");
    repo.commit("a command from outside");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("`command = ../../../../bin/true`") && out.contains("outside the repository"), "{out}");

    // A link that is harmless by itself, and a chain through it that leaves: not deployed.
    let links = Repo::app("3.12", "six\n");
    std::fs::create_dir_all(links.path().join("d/e/f")).unwrap();
    std::os::unix::fs::symlink("../../..", links.path().join("d/e/f/up")).unwrap();
    std::os::unix::fs::symlink("d/e/f/up/../../../..", links.path().join("chain")).unwrap();
    links.commit("a chain of links");
    let out = links.push_ok(&url, &["--force", "main"]);
    assert!(out.contains("not copying symlink `chain`"), "{out}");
    assert!(std::fs::symlink_metadata(server.wwwroot("leaky").join("chain")).is_err());
    assert!(std::fs::symlink_metadata(server.wwwroot("leaky").join("d/e/f/up")).is_ok());
}

#[test]
fn a_wrong_hash_fails_the_build_with_either_installer_naming_the_package() {
    let (server, _, url, repo) = TestServer::with_deployed_app("hashed", "six\n");
    let zeros = "0".repeat(64);
    repo.write("requirements.txt", &format!("six==1.17.0 --hash=sha256:{zeros}\n"));
    repo.commit("a wrong hash");
    for installer in ["uv", "pip"] {
        server.set_settings("hashed", json!({ "PYTHON_INSTALLER": installer }));
        let (ok, out) = repo.push(&url, &["main"]);
        assert!(!ok, "{installer}: a wrong hash installed:\n{out}");
        // A line of the installer's own (not one that echoes the requirement) names the package
        // and the hash.
        let names_it = out
            .lines()
            .map(str::to_lowercase)
            .any(|l| l.contains("six") && l.contains("hash") && !l.contains(&zeros) && !l.contains("a wrong hash"));
        assert!(names_it, "{installer}: the failure names the package:\n{out}");
    }
}

#[test]
fn start_commands_run_in_a_shell_as_written() {
    let server = TestServer::start();
    for (name, command, path) in [
        ("chained", "echo migrated > \"$HOME/migrated.txt\" && python app.py", None),
        ("assigned", "GREETING=hello python app.py", None),
        ("subdir", "cd sub && python app.py", Some("sub/app.py")),
    ] {
        let password = server.create_app(name);
        server.set_settings(name, json!({ "STARTUP_COMMAND": command }));
        let repo = Repo::app("3.12", "six\n");
        if let Some(path) = path {
            repo.write(path, PLAIN_APP);
            repo.commit("in a folder");
        }
        let out = repo.push_ok(&server.git_url(name, &password), &["main"]);
        assert!(out.contains(&format!("Start command: `{command}`")), "{out}");
        assert_eq!(server.get_app(name, "/").0, 200, "{name}: {command}");
    }
    assert!(server.app_home("chained").join("cache/migrated.txt").is_file(), "the first command ran too");
}

#[test]
fn a_flood_of_wrong_passwords_does_not_grow_the_server_and_locks_out_per_address_and_app() {
    let server = TestServer::start();
    let password = server.create_app("target");
    let neighbour = server.create_app("neighbour");
    let url =
        |app: &str, password: &str| format!("{}/info/refs?service=git-upload-pack", server.git_url(app, password));
    let status = |url: &str| -> u16 {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).parse().unwrap()
    };
    // Warm up once, then two waves of 64 concurrent wrong passwords, each for another name: each
    // costs an argon2 check (whether the app exists is not told), but only a few run at once
    // and the rest wait or get 429.
    assert_eq!(status(&url("target", &password)), 200);
    let before = server.rss_kib();
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..2 {
        std::thread::scope(|scope| {
            let waves: Vec<_> =
                (0..64).map(|i| scope.spawn(move || status(&url(&format!("ghost-{i}"), "wrong")))).collect();
            codes.extend(waves.into_iter().map(|wave| wave.join().unwrap()));
        });
    }
    assert!(codes.iter().all(|c| *c == 401 || *c == 429), "{codes:?}");
    assert!(codes.contains(&401), "the password checks ran: {codes:?}");
    assert!(codes.contains(&429), "and were bounded: the excess was turned away: {codes:?}");
    let after = server.rss_kib();
    assert!(after < before + 60 * 1024, "RSS grew from {before} KiB to {after} KiB in {:?}", started.elapsed());

    // Five wrong passwords for `target` from this address: then even the right one is refused,
    // while `neighbour`, from the same address, still gets in.
    for _ in 0..5 {
        assert_eq!(status(&url("target", "wrong")), 401);
    }
    assert_eq!(status(&url("target", &password)), 429, "locked out");
    assert_eq!(status(&url("neighbour", &neighbour)), 200, "another app from the same address is not");
    let log = server.server_log();
    assert!(log.contains("git: failed login for target from 127.0.0.1") && log.contains("refused for 300s"), "{log}");
    assert!(!log.contains("wrong"), "passwords are never logged");
}

#[test]
fn errors_are_json_and_unsafe_settings_are_refused() {
    let server = TestServer::start();
    let password = server.create_app("plain");
    let auth = format!("Bearer {}", server.token());
    let (status, body) = server.request("PATCH", "/api/apps/plain", None, Some(&auth));
    assert_eq!(status, 405, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = server.request("GET", "/api/apps/plain/logs?offset=soon", None, Some(&auth));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("offset"), "{body}");
    let traversal = "/git/plain.git/..%2F..%2Fother%2Frepository/info/refs";
    let basic = format!("Basic {}", base64_credentials("plain", &password));
    let (status, body) = server.request("GET", traversal, None, Some(&basic));
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].is_string(), "{body}");
    // Paths no route matches, under /api and /git: JSON too.
    for path in ["/api/", "/api/no-such-thing", "/git/plain.git", "/git/x"] {
        let (status, body) = server.request("GET", path, None, Some(&auth));
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }

    let (status, body) = server.api("PUT", "/api/apps/plain/settings", Some(json!({ "PYTHONHOME": "/usr" })));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("setting PYTHONHOME: cannot be set"), "{body}");
    let (status, _) = server.api("PUT", "/api/apps/plain/settings", Some(json!({ "MEMORY_LIMIT": "lots" })));
    assert_eq!(status, 400);
}

fn base64_credentials(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A build that prints a 12 MB line and then 12 MB of lines: the line is cut at 64 KiB, the log
/// stops at its cap with a note and still ends with the outcome, and the server's memory does
/// not follow the output.
#[test]
fn a_flood_of_build_output_is_cut_and_capped() {
    let server = TestServer::start();
    let password = server.create_app("chatty");
    let repo = Repo::app("3.12", "six\n");
    let script = "head -c 12000000 /dev/zero | tr '\\0' x; echo; yes 'a line of output' | head -c 12000000; exit 3\n";
    repo.write(".deployment", "[config]\ncommand = deploy.sh\n").write("deploy.sh", script);
    repo.commit("talks too much");
    let before = server.rss_kib();
    let (ok, _) = repo.push(&server.git_url("chatty", &password), &["main"]);
    assert!(!ok);
    let grown = server.rss_kib().saturating_sub(before);
    assert!(grown < 40 * 1024, "the server grew by {grown} KiB");
    let id = server.deployments("chatty")[0]["id"].as_i64().unwrap();
    let path = server.app_home("chatty").join(format!("site/deployments/{id}/log.txt"));
    let log = std::fs::read_to_string(path).unwrap();
    assert!(log.contains("[slipway: line cut, 12000000 bytes]"), "{}", &log[..log.len().min(300)]);
    assert!(log.contains("this log passed 10 MB: the rest of the build's output is dropped"));
    assert!(log.len() < 11 << 20, "{} bytes", log.len());
    assert!(log.contains("failed (exit code 3)"), "the outcome is kept: {}", &log[log.len().saturating_sub(600)..]);
}

/// The groups an app's processes ran in go with the app, and the server's go when it stops.
#[test]
#[cfg_attr(not_root, ignore = "needs root: cgroups are made for apps only when slipway runs as root")]
fn a_deleted_app_and_a_stopped_server_leave_no_cgroups() {
    let server = TestServer::start();
    let password = server.create_app("grouped");
    Repo::app("3.12", "six\n").push_ok(&server.git_url("grouped", &password), &["main"]);
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", server.pid())).unwrap();
    let (base, own) = match own.lines().find_map(|l| l.split_once(":memory:")) {
        Some((_, path)) => (std::path::PathBuf::from("/sys/fs/cgroup/memory"), path.to_string()),
        None => (
            std::path::PathBuf::from("/sys/fs/cgroup"),
            own.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_string(),
        ),
    };
    let parent = base.join(own.trim_start_matches('/'));
    // v2 with delegation: the server sits in `<its group>/server`.
    let parent =
        if parent.ends_with("server") { parent.parent().unwrap().parent().unwrap().to_path_buf() } else { parent };
    let Some(root) = std::fs::read_dir(&parent).unwrap().flatten().map(|e| e.path()).find(|p| {
        p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("slipway-")) && p.join("grouped").is_dir()
    }) else {
        eprintln!("no writable cgroups here (rlimits only): nothing to leave behind");
        return;
    };
    let (status, body) = server.api("DELETE", "/api/apps/grouped", None);
    assert_eq!(status, 200, "{body}");
    wait_until(Duration::from_secs(10), "the app's groups to go with it", || {
        (!root.join("grouped").exists()).then_some(())
    });
    server.terminate();
    assert!(!root.exists(), "the server's group went when it stopped: {}", root.display());
}
