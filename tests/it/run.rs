//! The running app: start commands, the health gate, supervision and the `<app>.localhost` proxy,
//! with real apps from the wheelhouse and curl as the client.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::server_support::*;

/// `curl http://<app>.localhost:<port><path>`: (status, body). curl resolves `*.localhost` itself.
fn get(server: &TestServer, app: &str, path: &str) -> (u16, String) {
    server.get_app(app, path)
}

fn deploy(server: &TestServer, app: &str, repo: &Repo) -> String {
    let password = server.create_app(app);
    repo.push_ok(&server.git_url(app, &password), &["main"])
}

fn process(server: &TestServer, app: &str) -> serde_json::Value {
    server.api("GET", &format!("/api/apps/{app}"), None).1["process"].clone()
}

#[test]
fn flask_example_under_gunicorn() {
    let server = TestServer::start();
    let out = deploy(&server, "flasky", &Repo::from_example("flask-hello"));
    assert!(out.contains("remote: Start command: `gunicorn --bind 127.0.0.1:$PORT --access-logfile - app:app` (chosen by gunicorn is installed and `app:app` is a WSGI app)"), "{out}");
    assert!(out.contains("remote: Processes: web × 1."), "{out}");
    assert!(out.contains("remote: web.1 answers on port"), "{out}");
    assert!(out.contains("remote:   start "), "the start step is in the timings: {out}");
    assert_eq!(get(&server, "flasky", "/"), (200, "Hello from Flask on slipway!\n".to_string()));
    assert_eq!(server.active("flasky").unwrap()["status"], "success");
    assert_eq!(process(&server, "flasky")["state"], "running");
}

#[test]
fn fastapi_example_under_uvicorn() {
    let server = TestServer::start();
    let out = deploy(&server, "fast", &Repo::from_example("fastapi-hello"));
    assert!(out.contains("Python 3.12 requested by .python-version"), "{out}");
    assert!(out.contains("`uvicorn --host 127.0.0.1 --port $PORT main:app`"), "{out}");
    assert_eq!(get(&server, "fast", "/"), (200, r#"{"message":"Hello from FastAPI on slipway!"}"#.to_string()));
}

#[test]
fn django_example_under_gunicorn() {
    let server = TestServer::start();
    let out = deploy(&server, "djangoapp", &Repo::from_example("django-hello"));
    assert!(out.contains("Running manage.py collectstatic"), "{out}");
    assert!(out.contains("hello.wsgi:application"), "{out}");
    assert_eq!(get(&server, "djangoapp", "/"), (200, "Hello from Django on slipway!\n".to_string()));
}

#[test]
fn plain_python_app_redeploys_and_a_broken_release_keeps_the_old_one_answering() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    let out = deploy(&server, "plain", &repo);
    assert!(out.contains("Start command: `python app.py`"), "{out}");
    let (status, body) = get(&server, "plain", "/");
    assert_eq!(status, 200);
    assert!(body.starts_with("v1 python 3.12 host plain.localhost:"), "X-Forwarded-Host reaches the app: {body}");

    let password =
        server.api("POST", "/api/apps/plain/credentials/reset", None).1["password"].as_str().unwrap().to_string();
    let url = server.git_url("plain", &password);
    let v1_pid = process(&server, "plain")["pid"].as_u64().unwrap();
    repo.write("app.py", &PLAIN_APP.replace("VERSION = \"v1\"", "VERSION = \"v2\""));
    repo.commit("v2");
    repo.push_ok(&url, &["main"]);
    // The previous process finishes what it has for WAIT_TO_RETIRE (5 s by default), then stops.
    wait_until(Duration::from_secs(30), "the previous release's process to stop", || {
        (!std::path::Path::new(&format!("/proc/{v1_pid}")).exists()).then_some(())
    });
    let (_, body) = get(&server, "plain", "/");
    assert!(body.starts_with("v2 "), "the new code answers: {body}");

    repo.write("app.py", "import sys\nprint('broken release: missing configuration')\nsys.exit(3)\n");
    repo.commit("broken");
    let (ok, out) = repo.push(&url, &["main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("web.1 did not start: it exited"), "{out}");
    assert!(out.contains("broken release: missing configuration"), "the app's output is in the push: {out}");
    assert!(out.contains("The live release (v2) was never left"), "{out}");
    assert!(get(&server, "plain", "/").1.starts_with("v2 "), "the previous release still answers");
    assert!(std::fs::read_to_string(server.wwwroot("plain").join("app.py")).unwrap().contains("VERSION = \"v2\""));
}

#[test]
fn procfile_app_and_startup_problems() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    std::fs::rename(repo.path().join("app.py"), repo.path().join("server.py")).unwrap();
    repo.write("Procfile", "web: python server.py\n");
    repo.commit("procfile");
    let out = deploy(&server, "procs", &repo);
    assert!(out.contains("Start command: `python server.py` (chosen by the `web:` line of the Procfile)"), "{out}");
    assert_eq!(get(&server, "procs", "/").0, 200);

    let password =
        server.api("POST", "/api/apps/procs/credentials/reset", None).1["password"].as_str().unwrap().to_string();
    let url = server.git_url("procs", &password);
    let cases = [
        ("web: python server.py\nweb: python other.py\n", None, "Procfile line 2: a second `web:` line"),
        ("web: python server.py\n", Some(json!({ "STARTUP_COMMAND": "no-such-command --serve" })), "no-such-command"),
        (
            "web: sleep 30\n",
            Some(json!({ "STARTUP_COMMAND": "", "STARTUP_TIMEOUT": "2" })),
            "nothing answered HTTP on 127.0.0.1:",
        ),
        ("web: python -m http.server 1 --bind 127.0.0.1\n", None, "web.1 did not start"),
    ];
    for (index, (procfile, settings, expected)) in cases.into_iter().enumerate() {
        if let Some(settings) = settings {
            server.set_settings("procs", settings);
        }
        repo.write("Procfile", procfile);
        repo.commit(&format!("bad {index}"));
        let (ok, out) = repo.push(&url, &["main"]);
        assert!(!ok, "case {index} should fail:\n{out}");
        assert!(out.contains(expected), "case {index}: no {expected:?} in\n{out}");
        assert_eq!(get(&server, "procs", "/").0, 200, "case {index}: the previous release keeps answering");
    }
}

#[test]
fn crashes_are_restarted_and_a_server_restart_brings_apps_back() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    deploy(&server, "phoenix", &repo);
    let pid = process(&server, "phoenix")["pid"].as_u64().unwrap();
    Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    wait_until(Duration::from_secs(60), "a restart", || {
        let p = process(&server, "phoenix");
        (p["state"] == "running" && p["pid"].as_u64() != Some(pid)).then_some(())
    });
    assert_eq!(process(&server, "phoenix")["restarts"], 1);
    assert_eq!(get(&server, "phoenix", "/").0, 200);
    let app_log = std::fs::read_to_string(server.app_home("phoenix").join("LogFiles/app.log")).unwrap();
    assert!(app_log.contains("[slipway] web exited"), "{app_log}");

    let running = process(&server, "phoenix")["pid"].as_u64().unwrap();
    let (dir, _) = server.terminate();
    assert!(!std::path::Path::new(&format!("/proc/{running}")).exists(), "stopping the server stops its apps");
    let server = TestServer::start_in(dir);
    wait_until(Duration::from_secs(60), "the app to come back", || {
        (get(&server, "phoenix", "/").0 == 200).then_some(())
    });

    assert_eq!(server.api("POST", "/api/apps/phoenix/stop", None).0, 200);
    assert_eq!(process(&server, "phoenix")["state"], "stopped");
    let (status, page) = get(&server, "phoenix", "/");
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("not answering right now"), "{page}");
    assert_eq!(server.api("POST", "/api/apps/phoenix/start", None).0, 200);
    assert_eq!(get(&server, "phoenix", "/").0, 200);
    let (status, log) = server.api("GET", "/api/apps/phoenix/logs", None);
    assert_eq!(status, 200);
    assert!(log["text"].as_str().unwrap().contains("[slipway] started"), "{log}");
}

#[test]
fn unknown_apps_and_odd_hosts_do_not_reach_any_app() {
    let server = TestServer::start();
    let (status, page) = get(&server, "ghost", "/");
    assert_eq!(status, 404);
    assert!(page.contains("There is no app named ghost"), "{page}");
    for host in ["bad_name.localhost", "a..b.localhost", "<script>.localhost", "%00.localhost"] {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                &format!("Host: {host}"),
                &format!("{}/", server.base),
            ])
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(code == "404" || code == "400", "{host}: {code}");
    }
    assert_eq!(server.api("GET", "/api/apps", None).0, 200, "the server is still up");
}

/// A WebSocket echo server and client in plain Python (no extra packages in the wheelhouse).
const WS_APP: &str = r#"import base64, hashlib, os, socket, struct, threading
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

def handle(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head = data.decode()
    if "upgrade: websocket" not in head.lower():
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        conn.close()
        return
    key = [l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("sec-websocket-key")][0]
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    while True:
        header = conn.recv(2)
        if len(header) < 2:
            return
        length = header[1] & 0x7F
        mask = conn.recv(4)
        payload = bytearray(conn.recv(length))
        for i in range(length):
            payload[i] ^= mask[i % 4]
        reply = b"echo: " + bytes(payload)
        conn.sendall(bytes([0x81, len(reply)]) + reply)

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(os.environ["PORT"])))
server.listen()
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"#;

const WS_CLIENT: &str = r#"import base64, os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, port, key)).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
assert head.startswith(b"HTTP/1.1 101"), head
msg = b"hello through the proxy"
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
frame = s.recv(2)
print(s.recv(frame[1]).decode())
"#;

#[test]
fn websocket_echo_through_the_proxy() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    repo.write("app.py", WS_APP);
    repo.commit("websocket");
    deploy(&server, "sockets", &repo);
    let port = server.base.rsplit(':').next().unwrap();
    let client = server.dir.path().join("ws_client.py");
    std::fs::write(&client, WS_CLIENT).unwrap();
    let out = Command::new("python3").arg(&client).args(["sockets.localhost", port]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "echo: hello through the proxy");
}

#[test]
fn the_cli_restarts_stops_and_starts_the_app_and_shows_its_output() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    repo.write(
        "app.py",
        &PLAIN_APP.replace("VERSION = \"v1\"", "print('booting the plain app', flush=True)\nVERSION = \"v1\""),
    );
    repo.commit("chatty");
    deploy(&server, "cli-run", &repo);
    let slipway = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .args(["--server", &server.base, "--data-dir", server.data_dir().to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let before = process(&server, "cli-run")["pid"].clone();
    let (ok, out, err) = slipway(&["apps", "restart", "cli-run"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("cli-run is running (pid "), "{out}");
    assert_ne!(process(&server, "cli-run")["pid"], before, "a new process");
    assert_eq!(get(&server, "cli-run", "/").0, 200);

    let (ok, out, _) = slipway(&["apps", "stop", "cli-run"]);
    assert!(ok && out.trim() == "cli-run is stopped", "{out}");
    assert_eq!(get(&server, "cli-run", "/").0, 502);
    let (ok, out, _) = slipway(&["apps", "start", "cli-run"]);
    assert!(ok && out.contains("is running"), "{out}");
    assert_eq!(get(&server, "cli-run", "/").0, 200);

    let (ok, out, err) = slipway(&["logs", "cli-run"]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("booting the plain app").count(), 3, "three starts in the app's output:\n{out}");
    let (ok, _, err) = slipway(&["apps", "restart", "ghost"]);
    assert!(!ok && err.trim() == "error: no app `ghost`", "{err}");
}
