//! The whole app (issue 14): the release phase, process types and scale, one-off commands, cron,
//! persistent data, health checks, settings that restart the app, and scale to zero — with real
//! Procfiles and real processes on a real server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::{cli, cli_command};
use crate::server_support::*;

/// A standard-library app: `/` says its version, its process name and the GREETING setting;
/// `/notes` lists the rows of the SQLite database in the app's data folder.
const APP: &str = r#"import os, sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1"
DATA = os.environ["SLIPWAY_APP_DATA"]

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/notes":
            rows = sqlite3.connect(os.path.join(DATA, "app.db")).execute("SELECT text FROM notes").fetchall()
            body = ",".join(r[0] for r in rows)
        elif self.path == "/broken":
            self.send_response(500)
            self.end_headers()
            return
        else:
            body = f"{VERSION} {os.environ['SLIPWAY_PROCESS']} {os.environ.get('GREETING', '-')}"
        body = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

const MIGRATE: &str = r#"import os, sqlite3
db = sqlite3.connect(os.path.join(os.environ["SLIPWAY_APP_DATA"], "app.db"))
db.execute("CREATE TABLE IF NOT EXISTS notes (text TEXT)")
db.execute("INSERT INTO notes VALUES ('migrated')")
db.commit()
print("migrated the notes table")
"#;

/// Writes the time into `heartbeat-<process>` in the data folder, five times a second.
const WORKER: &str = r#"import os, time
path = os.path.join(os.environ["SLIPWAY_APP_DATA"], "heartbeat-" + os.environ["SLIPWAY_PROCESS"])
while True:
    with open(path, "w") as f:
        f.write(str(time.time()))
    time.sleep(0.2)
"#;

fn app_repo(procfile: &str) -> Repo {
    let repo = Repo::new();
    repo.write("app.py", APP)
        .write("migrate.py", MIGRATE)
        .write("worker.py", WORKER)
        .write("runtime.txt", "python-3.12\n")
        .write("requirements.txt", "six\n")
        .write("Procfile", procfile);
    repo.commit("the app");
    repo
}

fn deploy(server: &TestServer, app: &str, repo: &Repo) -> (String, String) {
    let password = server.create_app(app);
    let url = server.git_url(app, &password);
    let out = repo.push_ok(&url, &["main"]);
    (url, out)
}

fn processes(server: &TestServer, app: &str) -> Vec<Value> {
    let (status, ps) = server.api("GET", &format!("/api/apps/{app}/ps"), None);
    assert_eq!(status, 200, "{ps}");
    ps["processes"].as_array().unwrap().clone()
}

fn heartbeat(server: &TestServer, app: &str, process: &str) -> Option<f64> {
    let path = server.app_home(app).join("data").join(format!("heartbeat-{process}"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn the_release_command_runs_before_the_switch_and_a_failing_one_keeps_the_old_release() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\nrelease: python migrate.py\n");
    let (url, out) = deploy(&server, "blog", &repo);
    assert!(out.contains("remote: --> release"), "{out}");
    assert!(
        out.contains("remote: Release command: `python migrate.py` (from the `release:` line of the Procfile)"),
        "{out}"
    );
    assert!(out.contains("remote:     migrated the notes table"), "its output streams into the push: {out}");
    assert!(out.contains("remote:   release "), "timed like every step: {out}");
    assert_eq!(server.get_app("blog", "/notes"), (200, "migrated".to_string()), "the new code reads what it made");

    repo.write("app.py", &APP.replace("VERSION = \"v1\"", "VERSION = \"v2\""));
    repo.write(
        "Procfile",
        "web: python app.py\nrelease: python -c 'import sys; print(\"no database\"); sys.exit(3)'\n",
    );
    repo.commit("a failing migration");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("remote:     no database"), "{out}");
    assert!(out.contains("failed (exit status: 3)"), "{out}");
    assert!(out.contains("The live release (v1) was never left"), "{out}");
    assert!(server.get_app("blog", "/").1.starts_with("v1 "), "the old code keeps serving");
}

#[test]
fn workers_are_supervised_scaled_and_named() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\nworker: python worker.py\n");
    let (_, out) = deploy(&server, "jobs", &repo);
    assert!(out.contains("remote: Processes: web × 1, worker × 1."), "{out}");
    wait_until(Duration::from_secs(30), "the worker's heartbeat", || {
        heartbeat(&server, "jobs", "worker.1").filter(|t| now() - t < 2.0)
    });
    let ps = cli(&server, &["ps", "jobs"]).ok().stdout;
    assert!(ps.starts_with("NAME"), "{ps}");
    assert!(ps.lines().any(|l| l.starts_with("web.1") && l.contains("running")), "{ps}");
    assert!(ps.lines().any(|l| l.starts_with("worker.1") && l.contains("running") && l.contains(" MB")), "{ps}");

    let worker = processes(&server, "jobs").into_iter().find(|p| p["name"] == "worker.1").unwrap();
    std::process::Command::new("kill").args(["-9", &worker["pid"].to_string()]).status().unwrap();
    wait_until(Duration::from_secs(30), "the worker to be restarted", || {
        let again = processes(&server, "jobs").into_iter().find(|p| p["name"] == "worker.1")?;
        (again["state"] == "running" && again["pid"] != worker["pid"] && again["restarts"] == 1).then_some(())
    });

    cli(&server, &["ps", "scale", "jobs", "worker=2", "web=2"]).ok();
    wait_until(Duration::from_secs(30), "a second worker's heartbeat", || {
        heartbeat(&server, "jobs", "worker.2").filter(|t| now() - t < 2.0)
    });
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..20 {
        answered.insert(server.get_app("jobs", "/").1.split_whitespace().nth(1).unwrap_or("").to_string());
    }
    assert_eq!(answered, ["web.1".to_string(), "web.2".into()].into(), "the proxy balances the web processes");

    cli(&server, &["ps", "scale", "jobs", "worker=0"]).ok();
    let names: Vec<Value> = processes(&server, "jobs").iter().map(|p| p["name"].clone()).collect();
    assert_eq!(names, [json!("web.1"), json!("web.2")]);
    let line = cli(&server, &["ps", "scale", "jobs", "clock=1"]).stderr;
    assert!(line.contains("the live release has no process type `clock`; it has: web, worker"), "{line}");
    let malformed = cli(&server, &["ps", "scale", "jobs", "web=x"]);
    assert_eq!(malformed.code, Some(2), "a malformed count is a usage error: {}", malformed.stderr);
    assert!(malformed.stderr.contains("expected TYPE=COUNT"), "{}", malformed.stderr);
}

#[test]
fn one_off_commands_stream_their_output_and_exit_code() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\n");
    deploy(&server, "oneoff", &repo);
    server.set_settings("oneoff", json!({ "GREETING": "hello" }));
    let out = cli(
        &server,
        &["run", "oneoff", "--", "python", "-c", "import os, sys; print(os.environ['GREETING']); sys.exit(4)"],
    );
    assert_eq!(out.code, Some(4), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "hello\n");
    assert!(out.stderr.contains("failed (exit status: 4)"), "{}", out.stderr);
    let out = cli(&server, &["run", "oneoff", "--", "sh", "-c", "echo $SLIPWAY_APP_DATA; ls"]).ok();
    assert!(out.stdout.contains("/data\n") && out.stdout.contains("app.py"), "in the live release: {}", out.stdout);

    let (_, runs) = server.api("GET", "/api/apps/oneoff/runs", None);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!((runs[1]["exit_code"].as_i64(), runs[1]["trigger"].as_str()), (Some(4), Some("run")));
    let (_, run) = server.api("GET", &format!("/api/apps/oneoff/runs/{}", runs[1]["id"]), None);
    assert_eq!(run["output"], "hello\n");
}

#[test]
fn cron_jobs_run_on_schedule_and_on_demand() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\n");
    let tick = "python -c \"import os, time; open(os.path.join(os.environ['SLIPWAY_APP_DATA'], 'ticks'), 'a').write('tick\\\\n')\"";
    repo.write(
        "app.json",
        &json!({ "cron": [{ "command": tick, "schedule": "* * * * *", "concurrency_policy": "forbid" }] }).to_string(),
    );
    repo.commit("a cron job");
    let (url, _) = deploy(&server, "ticker", &repo);
    let listed = cli(&server, &["cron", "ticker"]).ok().stdout;
    assert!(listed.starts_with("#") && listed.contains("* * * * *") && listed.contains("forbid"), "{listed}");

    let started = cli(&server, &["cron", "ticker", "run", "1"]).ok().stdout;
    assert!(started.contains("Cron job 1 of `ticker` started as run"), "{started}");
    let ticks = |server: &TestServer| {
        std::fs::read_to_string(server.app_home("ticker").join("data/ticks")).unwrap_or_default().lines().count()
    };
    wait_until(Duration::from_secs(20), "the run-now tick", || (ticks(&server) >= 1).then_some(()));
    // The schedule runs it again at the next minute.
    wait_until(Duration::from_secs(75), "a scheduled tick", || (ticks(&server) >= 2).then_some(()));
    // The tick is written a moment before the run is recorded as ended.
    let jobs = wait_until(Duration::from_secs(10), "the scheduled run to end", || {
        let (_, jobs) = server.api("GET", "/api/apps/ticker/cron", None);
        (!jobs[0]["last_run"]["exit_code"].is_null()).then_some(jobs)
    });
    assert_eq!(jobs[0]["last_run"]["exit_code"], 0, "{jobs}");
    assert!(jobs[0]["next_run"].as_str().unwrap().ends_with(":00Z"), "{jobs}");

    repo.write("app.json", r#"{"cron": [{"command": "true", "schedule": "every minute"}]}"#);
    repo.commit("a bad schedule");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok && out.contains("app.json cron[0].schedule: `every minute` is not a cron schedule"), "{out}");
}

#[test]
fn data_survives_redeploys_clean_env_and_rollback_and_a_commit_cannot_overwrite_the_apps_files() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\nrelease: python migrate.py\n");
    let (url, _) = deploy(&server, "keeper", &repo);
    let (status, listing) = server.api("GET", "/api/apps/keeper/vfs/data/", None);
    assert_eq!(status, 200, "the data folder is reachable like the site: {listing}");
    assert!(listing.to_string().contains("app.db"), "{listing}");

    repo.write("app.py", &APP.replace("VERSION = \"v1\"", "VERSION = \"v2\""));
    repo.commit("v2");
    repo.push_ok(&url, &["main"]);
    assert_eq!(server.get_app("keeper", "/notes").1, "migrated,migrated", "the database survives a deployment");
    cli(&server, &["redeploy", "keeper", "--clean-env"]).ok();
    cli(&server, &["rollback", "keeper"]).ok();
    assert!(server.get_app("keeper", "/").1.starts_with("v2 "), "rolled back to the clean-env build of v2");
    assert_eq!(server.get_app("keeper", "/notes").1, "migrated,migrated,migrated");

    // A file the app made in wwwroot is not overwritten by a commit that brings one of that name.
    cli(&server, &["run", "keeper", "--", "sh", "-c", "echo mine > notes.txt"]).ok();
    repo.write("notes.txt", "from the repository\n");
    repo.commit("a file of the same name");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "the commit would overwrite files that the app or a user made in wwwroot (not a deployment): `notes.txt`"
        ),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(server.wwwroot("keeper").join("notes.txt")).unwrap(), "mine\n");
    server.set_settings("keeper", json!({ "SCM_OVERWRITE_RUNTIME_FILES": "true" }));
    let out = repo.push_ok(&url, &["main"]);
    assert!(out.contains("warning: overwriting files that the app or a user made in wwwroot"), "{out}");
}

#[test]
fn health_checks_and_start_commands_that_cannot_work() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\n");
    let (url, _) = deploy(&server, "healthy", &repo);
    server.set_settings("healthy", json!({ "HEALTHCHECK_PATH": "/broken" }));
    repo.write("app.py", &APP.replace("VERSION = \"v1\"", "VERSION = \"v2\""));
    repo.commit("v2");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "web.1 did not start: it answers /broken with 500, which HEALTHCHECK_STATUSES (200-499) does not accept"
        ),
        "{out}"
    );
    server.set_settings("healthy", json!({ "HEALTHCHECK_STATUSES": "200-599" }));
    repo.push_ok(&url, &["main"]);
    assert!(server.get_app("healthy", "/").1.starts_with("v2 "));

    // A Flask app without gunicorn: the fix, in one line.
    let flask = Repo::new();
    flask.write("app.py", "from flask import Flask\napp = Flask(__name__)\n").write("requirements.txt", "flask\n");
    flask.write("runtime.txt", "python-3.12\n");
    flask.commit("flask without gunicorn");
    let password = server.create_app("flasky");
    let (ok, out) = flask.push(&server.git_url("flasky", &password), &["main"]);
    assert!(!ok);
    assert!(
        out.contains(
            "`app:app` is a WSGI app, but gunicorn is not installed in env: add `gunicorn` to the app's dependencies"
        ),
        "{out}"
    );

    // A detected gunicorn gets WEB_CONCURRENCY from the cores and MEMORY_LIMIT.
    server.set_settings("flasky", json!({ "MEMORY_LIMIT": "512M", "CPU_LIMIT": "1" }));
    flask.write("requirements.txt", "flask\ngunicorn\n");
    flask.commit("with gunicorn");
    let out = flask.push_ok(&server.git_url("flasky", &password), &["main"]);
    assert!(out.contains("remote: WEB_CONCURRENCY=2: MEMORY_LIMIT allows 2 at 256 MB each"), "{out}");
}

#[test]
fn changing_settings_restarts_the_app_with_no_failed_request() {
    let server = TestServer::start();
    deploy(&server, "tuned", &app_repo("web: python app.py\n"));
    let stop = AtomicBool::new(false);
    let (done, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                match server.raw_get("tuned", "/") {
                    Ok(200) => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
        let out = cli(&server, &["config", "set", "tuned", "GREETING=hi"]).ok().stdout;
        assert!(out.contains("the app was restarted with them"), "{out}");
        assert!(server.get_app("tuned", "/").1.ends_with(" hi"), "the new setting is live");
        let out = cli(&server, &["config", "set", "tuned", "GREETING=later", "--no-restart"]).ok().stdout;
        assert!(out.contains("not restarted"), "{out}");
        assert!(server.get_app("tuned", "/").1.ends_with(" hi"), "deferred");
        let out = cli(&server, &["config", "unset", "tuned", "GREETING"]).ok().stdout;
        assert!(out.contains("the app was restarted with them"), "unset restarts too: {out}");
        assert!(server.get_app("tuned", "/").1.ends_with(" -"), "the setting is gone from the live process");
        stop.store(true, Ordering::Relaxed);
    });
    assert!(done.load(Ordering::Relaxed) > 20, "the load ran");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed across the restart");
}

#[test]
fn a_setting_changed_and_a_file_uploaded_during_a_build_reach_the_release_it_builds() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\n");
    let (url, _) = deploy(&server, "midway", &repo);
    // The release command says it runs, then holds the deployment until the setting has been
    // changed: both through the app's data folder, which it and the test see.
    let data = server.data_dir().join("apps/midway/data");
    let release = "release: python -c \"import os,time; d=os.environ['SLIPWAY_APP_DATA']; open(d+'/started','w').close(); [time.sleep(0.1) for _ in iter(lambda: os.path.exists(d+'/set'), True)]\"";
    repo.write("Procfile", &format!("web: python app.py\n{release}\n"));
    repo.write("app.py", &APP.replace("VERSION = \"v1\"", "VERSION = \"v2\""));
    repo.commit("a release phase that waits");
    std::thread::scope(|scope| {
        let push = scope.spawn(|| repo.push_ok(&url, &["main"]));
        wait_until(Duration::from_secs(90), "the release phase", || data.join("started").exists().then_some(()));
        let out = cli(&server, &["config", "set", "midway", "GREETING=midway"]).ok().stdout;
        assert!(out.contains("the app was restarted with them"), "the live v1 restarts at once: {out}");
        assert!(server.get_app("midway", "/").1.starts_with("v1 web.1 midway"), "v1 has it");
        // A file uploaded into the live release while v2 builds goes live with v2.
        assert_eq!(server.put_file("midway", "uploaded-midway.txt", "made during the build\n"), 201);
        std::fs::write(data.join("set"), "").unwrap();
        push.join().unwrap();
    });
    assert!(server.get_app("midway", "/").1.starts_with("v2 web.1 midway"), "and so does v2, which was building");
    let carried = std::fs::read_to_string(server.wwwroot("midway").join("uploaded-midway.txt"));
    assert_eq!(carried.unwrap(), "made during the build\n", "the upload made during the build is in the new release");
}

#[test]
fn an_idle_app_stops_and_the_next_request_wakes_it() {
    let server = TestServer::start();
    let repo = app_repo("web: python app.py\n");
    let password = server.create_app("sleepy");
    server.set_settings("sleepy", json!({ "IDLE_TIMEOUT": "10s" }));
    repo.push_ok(&server.git_url("sleepy", &password), &["main"]);
    wait_until(Duration::from_secs(40), "the app to go idle", || {
        (server.api("GET", "/api/apps/sleepy", None).1["process"]["state"] == "idle").then_some(())
    });
    assert!(processes(&server, "sleepy").is_empty(), "no process runs");
    let started = std::time::Instant::now();
    assert!(server.get_app("sleepy", "/").1.starts_with("v1 web.1"), "the request that wakes it is served");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(server.api("GET", "/api/apps/sleepy", None).1["process"]["state"], "running");

    // Scaled while asleep, it stays asleep; the request that wakes it starts the new count.
    wait_until(Duration::from_secs(40), "the app to go idle again", || {
        (server.api("GET", "/api/apps/sleepy", None).1["process"]["state"] == "idle").then_some(())
    });
    cli(&server, &["ps", "scale", "sleepy", "web=2"]).ok();
    assert!(processes(&server, "sleepy").is_empty(), "scaling does not wake it");
    assert_eq!(server.api("GET", "/api/apps/sleepy", None).1["process"]["state"], "idle");
    assert!(server.get_app("sleepy", "/").1.starts_with("v1 web."), "a request wakes it");
    assert_eq!(processes(&server, "sleepy").len(), 2, "as many as it is scaled to");
}

#[test]
fn the_app_log_merges_processes_router_and_release_and_the_proxy_counts_requests() {
    let server = TestServer::start();
    let procfile = "web: python app.py\nworker: echo worker up && python worker.py\nrelease: python migrate.py\n";
    deploy(&server, "watched", &app_repo(procfile));
    for _ in 0..5 {
        assert_eq!(server.get_app("watched", "/").0, 200);
    }
    assert_eq!(server.get_app("watched", "/broken").0, 500);
    // A router line is written when the response has been sent.
    let routed = || cli(&server, &["logs", "watched", "--source", "router"]).ok().stdout;
    wait_until(Duration::from_secs(10), "the router's lines", || (routed().lines().count() == 6).then_some(()));

    let log = cli(&server, &["logs", "watched"]).ok().stdout;
    let has = |needle: &str| log.lines().any(|l| l.contains(needle));
    assert!(has(" v1 release: migrated the notes table"), "the release phase, as `release`:\n{log}");
    assert!(has(" v1 worker.1: worker up"), "each process's output, prefixed:\n{log}");
    assert!(has(" v1 web.1: [slipway] started web"), "{log}");
    assert!(
        log.lines().any(|l| l.contains(r#" v1 router: method=GET path="/broken" host=watched.localhost request_id="#)
            && l.contains(r#" fwd="127.0.0.1" status=500 duration="#)),
        "a router line per request:\n{log}"
    );
    assert!(has(" status=200 ") && has("bytes=10"), "with the bytes sent:\n{log}");
    // The proxy names each request: the app gets X-Request-Id, the client too, and the log says it.
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let headers = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", &format!("http://watched.localhost:{port}/named")])
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout).to_ascii_lowercase();
    let id =
        headers.lines().find_map(|l| l.strip_prefix("x-request-id: ")).expect("an X-Request-Id").trim().to_string();
    assert_eq!(id.len(), 32, "{headers}");
    wait_until(Duration::from_secs(10), "the named request's line", || {
        let log = cli(&server, &["logs", "watched", "--source", "router"]).ok().stdout;
        log.contains(&format!(r#"path="/named" host=watched.localhost request_id={id} "#)).then_some(())
    });
    let first = log.lines().next().unwrap();
    assert!(first.len() > 24 && first.as_bytes()[10] == b'T', "each line starts with its time: {first}");
    assert!(routed().lines().all(|l| l.contains(" router: ")), "--source keeps one source");
    let last = cli(&server, &["logs", "watched", "-n", "2", "--source", "router"]).ok().stdout;
    assert_eq!(last.lines().count(), 2, "{last}");
    assert!(last.lines().last().unwrap().contains("/named"), "the newest last: {last}");

    // -f prints what comes next, until interrupted.
    let mut follow = cli_command(&server, &["logs", "watched", "-f", "-n", "0", "--source", "router"]);
    let mut follow = follow.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(server.get_app("watched", "/followed").0, 200);
    let line = lines.recv_timeout(Duration::from_secs(15)).expect("a followed line");
    follow.kill().unwrap();
    let _ = follow.wait();
    assert!(line.contains(r#"path="/followed""#), "{line}");

    // Metrics: ps, apps show and /metrics.
    let ps = cli(&server, &["ps", "watched"]).ok().stdout;
    assert!(ps.contains("Requests: 8 since the server started (2xx 7, 5xx 1); latency p50 "), "{ps}");
    let cpu_seconds = |token: &str| {
        token.strip_suffix('s').and_then(|n| n.split_once('.')).is_some_and(|(whole, tenth)| {
            !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && tenth.len() == 1
        })
    };
    let web = ps.lines().find(|l| l.starts_with("web.1")).unwrap_or_else(|| panic!("no web.1 row: {ps}"));
    assert!(web.contains(" MB") && web.split_whitespace().any(cpu_seconds), "memory and CPU seconds: {web}");
    let shown = cli(&server, &["apps", "show", "watched"]).ok().stdout;
    assert!(shown.contains("Requests:    8 since the server started"), "{shown}");
    let (status, _) = server.request("GET", "/metrics", None, None);
    assert_eq!(status, 401, "the metrics want the admin token");
    let (status, metrics) = server.api("GET", "/metrics", None);
    assert_eq!(status, 200);
    let metrics = metrics["text"].as_str().unwrap_or_default().to_string();
    for needle in [
        r#"slipway_http_requests_total{app="watched",status="2xx"} 7"#,
        r#"slipway_http_requests_total{app="watched",status="5xx"} 1"#,
        r#"slipway_http_request_duration_seconds_count{app="watched"} 8"#,
        r#"slipway_process_up{app="watched",process="worker.1"} 1"#,
        r#"slipway_process_resident_memory_bytes{app="watched",process="web.1"} "#,
        r#"slipway_process_cpu_seconds{app="watched",process="web.1"} "#,
    ] {
        assert!(metrics.contains(needle), "{needle} in:\n{metrics}");
    }
}
