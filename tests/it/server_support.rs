//! A real `slipway serve` on port 0 in a temporary data dir, the real `git` client, and a small
//! JSON client for the API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{uv, wheelhouse};

/// A standard-library web app: answers every GET with its version line and Python version.
pub const PLAIN_APP: &str = r#"import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1"

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{VERSION} python {sys.version_info[0]}.{sys.version_info[1]} host {self.headers.get('X-Forwarded-Host')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.do_GET()

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub base: String,
    /// `127.0.0.1:PORT` of the FTP listener, from `<data-dir>/run/server.json`.
    pub ftp_addr: String,
    /// `https://127.0.0.1:PORT` of the HTTPS listener, with `--https`.
    pub https: Option<String>,
    /// The PostgreSQL database the store is in, when not the data dir's SQLite file.
    pub database: Option<String>,
    /// `<dir>/data`, or the data dir several instances share.
    data: PathBuf,
    child: Option<Child>,
    stderr_log: PathBuf,
}

impl TestServer {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("slipway-srv-").tempdir().unwrap();
        Self::start_in(dir)
    }

    /// Starts a server on an existing data dir (a restart).
    pub fn start_in(dir: tempfile::TempDir) -> Self {
        Self::start_in_with(dir, &[])
    }

    /// Starts a server on its embedded SQLite store, whatever `SLIPWAY_TEST_STORE` says.
    pub fn start_on_sqlite() -> Self {
        let dir = tempfile::Builder::new().prefix("slipway-srv-").tempdir().unwrap();
        Self::launch(dir, &[], None)
    }

    /// Starts a server on an existing data dir with extra `slipway serve` arguments.
    pub fn start_in_with(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let database = if extra.contains(&"--database") { None } else { database_of(dir.path()) };
        Self::launch(dir, extra, database)
    }

    /// One of several instances sharing `data_dir` and the PostgreSQL `database` (`serve
    /// --instance NAME`); its own temp dir keeps its log.
    pub fn start_instance(data_dir: &Path, name: &str, database: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("slipway-instance-").tempdir().unwrap();
        Self::launch_on(dir, &["--instance", name], Some(database.to_string()), data_dir)
    }

    /// Starts `slipway serve` with its store in `database` (a URL) or else in the data dir.
    fn launch(dir: tempfile::TempDir, extra: &[&str], database: Option<String>) -> Self {
        let data_dir = dir.path().join("data");
        Self::launch_on(dir, extra, database, &data_dir)
    }

    fn launch_on(dir: tempfile::TempDir, extra: &[&str], database: Option<String>, data_dir: &Path) -> Self {
        let stderr_log = dir.path().join("server-stderr.log");
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&stderr_log).unwrap();
        let run_dir = match extra.iter().position(|a| *a == "--instance") {
            Some(i) => data_dir.join("run/instances").join(extra[i + 1]),
            None => data_dir.join("run"),
        };
        let info_file = run_dir.join("server.json");
        // A restart on the same data dir: the old file is the killed server's.
        let _ = std::fs::remove_file(&info_file);
        let http: &[&str] = if extra.contains(&"--http") { &[] } else { &["--http", "127.0.0.1:0"] };
        let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
        match &database {
            Some(url) => command.env("SLIPWAY_DATABASE", url),
            None => command.env_remove("SLIPWAY_DATABASE"),
        };
        let mut child = command
            .arg("serve")
            .args(http)
            .args(["--ftp", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("SLIPWAY_UV", uv())
            .env_remove("PIP_FIND_LINKS")
            .env_remove("PIP_NO_INDEX")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start slipway serve");
        // The server writes its addresses once it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(60);
        let info: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&info_file) {
                let info: Value = serde_json::from_str(&text).expect("server.json is JSON");
                if info["pid"] == child.id() {
                    break info;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "slipway serve exited ({status}):\n{}",
                    std::fs::read_to_string(&stderr_log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "slipway serve did not write {} within 60 s", info_file.display());
            std::thread::sleep(Duration::from_millis(20));
        };
        let base = info["url"].as_str().unwrap().to_string();
        let ftp_addr = info["ftp"].as_str().unwrap().to_string();
        let https = info["https"].as_str().map(String::from);
        let data = data_dir.to_path_buf();
        TestServer { dir, base, ftp_addr, https, database, data, child: Some(child), stderr_log }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The server's resident memory in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    }

    pub fn ftp_port(&self) -> u16 {
        self.ftp_addr.rsplit(':').next().unwrap().parse().expect("the server printed its FTP address")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("admin-token")).unwrap().trim().to_string()
    }

    pub fn app_home(&self, app: &str) -> PathBuf {
        self.data_dir().join("apps").join(app)
    }

    pub fn wwwroot(&self, app: &str) -> PathBuf {
        self.app_home(app).join("site/wwwroot")
    }

    /// Everything the store holds, as text: the SQLite file's bytes, or `pg_dump`'s output.
    pub fn store_contents(&self) -> String {
        match &self.database {
            None => String::from_utf8_lossy(&std::fs::read(self.data_dir().join("slipway.db")).unwrap()).into_owned(),
            Some(url) => {
                let dump = Command::new("pg_dump").args(["--data-only", url]).output().unwrap();
                assert!(dump.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
                String::from_utf8(dump.stdout).unwrap()
            }
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL and gives back its data dir.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Sends SIGTERM and waits for the server to exit.
    pub fn terminate(mut self) -> (tempfile::TempDir, std::process::ExitStatus) {
        let mut child = self.child.take().unwrap();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let status = child.wait().unwrap();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (dir, status)
    }

    /// An API call with the admin token; returns status and JSON (or `{"text": …}`).
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.request(method, path, body.map(|b| b.to_string()), Some(&format!("Bearer {}", self.token())))
    }

    /// Writes a file into the app's live release through the VFS API, as a user would; its status.
    pub fn put_file(&self, app: &str, rel: &str, content: &str) -> u16 {
        let path = format!("/api/apps/{app}/vfs/site/wwwroot/{rel}");
        let (status, body) =
            self.request("PUT", &path, Some(content.into()), Some(&format!("Bearer {}", self.token())));
        assert!(status == 201 || status >= 400, "{body}");
        status
    }

    pub fn request(&self, method: &str, path: &str, body: Option<String>, authorization: Option<&str>) -> (u16, Value) {
        if self.base.starts_with("https://") {
            return self.request_with_curl(method, path, body, authorization);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(auth) = authorization {
            request = request.header("Authorization", auth);
        }
        let response = match body {
            Some(body) => agent.run(request.header("Content-Type", "application/json").body(body).unwrap()),
            None => agent.run(request.body(()).unwrap()),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
        (status, value)
    }

    /// The same request over HTTPS with curl, trusting the test's self-signed certificate.
    fn request_with_curl(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        authorization: Option<&str>,
    ) -> (u16, Value) {
        let mut command = Command::new("curl");
        command.args(["-s", "-k", "-X", method, "-w", "\n%{http_code}", &format!("{}{path}", self.base)]);
        if let Some(auth) = authorization {
            command.args(["-H", &format!("Authorization: {auth}")]);
        }
        if let Some(body) = body {
            command.args(["-H", "Content-Type: application/json", "--data-binary", &body]);
        }
        let out = command.output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let value = serde_json::from_str(body).unwrap_or_else(|_| json!({ "text": body }));
        (code.parse().unwrap_or(0), value)
    }

    /// Creates an app that installs from the wheelhouse; returns its password.
    pub fn create_app(&self, name: &str) -> String {
        let (status, app) = self.api("POST", "/api/apps", Some(json!({ "name": name })));
        assert_eq!(status, 201, "{app}");
        let wheels = wheelhouse().canonicalize().unwrap();
        self.set_settings(name, json!({ "PIP_FIND_LINKS": wheels.to_str().unwrap(), "PIP_NO_INDEX": "1" }));
        app["password"].as_str().unwrap().to_string()
    }

    /// A server with one app whose first commit, `Repo::app("3.12", requirements)`, is deployed:
    /// `(server, password, git URL, repo)`.
    pub fn with_deployed_app(app: &str, requirements: &str) -> (Self, String, String, Repo) {
        let server = TestServer::start();
        let password = server.create_app(app);
        let url = server.git_url(app, &password);
        let repo = Repo::app("3.12", requirements);
        repo.push_ok(&url, &["main"]);
        (server, password, url, repo)
    }

    /// Stores settings without restarting the app (as `config set --no-restart`): they apply at
    /// the next deployment.
    pub fn set_settings(&self, app: &str, settings: Value) {
        let (status, body) = self.api("PUT", &format!("/api/apps/{app}/settings?restart=false"), Some(settings));
        assert_eq!(status, 200, "{body}");
    }

    pub fn git_url(&self, app: &str, password: &str) -> String {
        let (scheme, address) = self.base.split_once("://").unwrap();
        format!("{scheme}://{app}:{password}@{address}/git/{app}.git")
    }

    pub fn deployments(&self, app: &str) -> Vec<Value> {
        let (status, list) = self.api("GET", &format!("/api/apps/{app}/deployments"), None);
        assert_eq!(status, 200, "{list}");
        list.as_array().unwrap().clone()
    }

    pub fn active(&self, app: &str) -> Option<Value> {
        self.deployments(app).into_iter().find(|d| d["active"] == true)
    }

    /// Polls until the deployment has finished; returns its record.
    /// Waits for a deployment, named by id (`17`) or number (`"v3"`), to finish.
    pub fn wait_for(&self, app: &str, id: impl std::fmt::Display) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, d) = self.api("GET", &format!("/api/apps/{app}/deployments/{id}"), None);
            if d["status"] == "success" || d["status"] == "failed" {
                return d;
            }
            assert!(Instant::now() < deadline, "deployment {id} did not finish: {d}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET http://<app>.localhost:<port><path>` with curl (as a user would): `(status, body)`.
    pub fn get_app(&self, app: &str, path: &str) -> (u16, String) {
        let port = self.base.rsplit(':').next().unwrap();
        let out = Command::new("curl")
            .args(["-s", "-m", "10", "-w", "\n%{http_code}", &format!("http://{app}.localhost:{port}{path}")])
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.parse().unwrap_or(0), body.to_string())
    }

    /// The same request on a plain socket (no process per request), for many requests in a row:
    /// the status, or why there was none.
    pub fn raw_get(&self, app: &str, path: &str) -> Result<u16, String> {
        self.raw_request(app, "GET", path, "")
    }

    /// A request through the proxy on a connection of its own; its status, or what went wrong.
    pub fn raw_request(&self, app: &str, method: &str, path: &str, body: &str) -> Result<u16, String> {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let length = body.len();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {app}.localhost\r\nConnection: close\r\nContent-Length: {length}\r\n\r\n{body}"
        );
        stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map_err(|e| format!("read: {e}"))?;
        let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
        head.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no status line: {head:?}"))
    }

    /// Waits (up to a minute) until the app's newest deployment has `status`; returns it.
    pub fn wait_for_newest(&self, app: &str, status: &str) -> Value {
        wait_until(Duration::from_secs(60), &format!("a deployment of {app} to be {status}"), || {
            self.deployments(app).into_iter().next().filter(|d| d["status"] == status)
        })
    }

    pub fn deployment_log(&self, app: &str, id: impl std::fmt::Display) -> String {
        let (status, body) = self.api("GET", &format!("/api/apps/{app}/deployments/{id}/log"), None);
        assert_eq!(status, 200);
        body["text"].as_str().map(String::from).unwrap_or_else(|| body.to_string())
    }

    pub fn marker(&self, app: &str) -> Value {
        let text = std::fs::read_to_string(self.wwwroot(app).join("env/slipway-env.json")).expect("env has a marker");
        serde_json::from_str(&text).unwrap()
    }
}

/// With `SLIPWAY_TEST_STORE=postgres`, the test server's database: made at its first start and
/// remembered beside its data dir for restarts.
fn database_of(dir: &Path) -> Option<String> {
    if !crate::postgres::servers_use_postgres() {
        return None;
    }
    let remembered = dir.join("database-url");
    let url = std::fs::read_to_string(&remembered).unwrap_or_else(|_| {
        let url = crate::postgres::scratch_database();
        std::fs::write(&remembered, &url).unwrap();
        url
    });
    Some(url)
}

impl Drop for TestServer {
    /// SIGTERM, so the server stops the apps it runs; SIGKILL if it takes too long.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A local git repository, pushed with the real `git` client.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("slipway-repo-").tempdir().unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    /// A web app on Python `python` with `requirements`, started as `python app.py`: it needs
    /// nothing from its requirements, so tests can install whatever they like.
    pub fn app(python: &str, requirements: &str) -> Self {
        let repo = Repo::new();
        repo.write("app.py", PLAIN_APP)
            .write("runtime.txt", &format!("python-{python}\n"))
            .write("requirements.txt", requirements);
        repo.commit("first commit");
        repo
    }

    /// A copy of `examples/<name>`, committed: what the README's walkthrough pushes.
    pub fn from_example(name: &str) -> Self {
        let repo = Repo::new();
        let example = crate::support::repo_root().join("examples").join(name);
        for entry in walkdir::WalkDir::new(&example).into_iter().flatten().filter(|e| e.file_type().is_file()) {
            let rel = entry.path().strip_prefix(&example).unwrap();
            repo.write(rel.to_str().unwrap(), &std::fs::read_to_string(entry.path()).unwrap());
        }
        repo.commit(&format!("the {name} example"));
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn git(&self, args: &[&str]) -> Output {
        let output = self.git_command(args).output().unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    pub fn git_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(self.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "Ada Tester")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada Tester")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .env_remove("GIT_DIR");
        command
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        String::from_utf8(self.git(&["rev-parse", "HEAD"]).stdout).unwrap().trim().to_string()
    }

    /// `git push URL <args>`; returns (success, combined output).
    pub fn push(&self, url: &str, args: &[&str]) -> (bool, String) {
        let mut full = vec!["push", url];
        full.extend_from_slice(args);
        push_outcome(self.git_command(&full).output().unwrap())
    }

    /// `git push URL BRANCH` in a thread of its own: `(succeeded, output)` when joined.
    pub fn push_in_background(&self, url: &str, branch: &str) -> std::thread::JoinHandle<(bool, String)> {
        let mut command = self.git_command(&["push", url, branch]);
        std::thread::spawn(move || push_outcome(command.output().unwrap()))
    }

    pub fn push_ok(&self, url: &str, args: &[&str]) -> String {
        let (ok, out) = self.push(url, args);
        assert!(ok, "push failed:\n{out}");
        out
    }
}

/// Whether a push succeeded, and everything git printed.
fn push_outcome(output: Output) -> (bool, String) {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// A self-signed certificate for 127.0.0.1, made with openssl: `(cert.pem, key.pem)`.
pub fn self_signed_cert(dir: &Path) -> (String, String) {
    certificate_for(dir, "127.0.0.1", "IP:127.0.0.1", 2)
}

/// A self-signed certificate (`CN=cn`, subject alternative names `san`, valid `days`) in `dir`:
/// `(cert.pem, key.pem)`.
pub fn certificate_for(dir: &Path, cn: &str, san: &str, days: u32) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", &days.to_string()])
        .args(["-subj", &format!("/CN={cn}"), "-addext", &format!("subjectAltName={san}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (cert.to_str().unwrap().to_string(), key.to_str().unwrap().to_string())
}

/// Polls `check` every 50 ms until it gives a value; fails the test after `limit`, naming `what`
/// it waited for.
pub fn wait_until<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {}s for {what}", limit.as_secs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The host pids of processes whose command line is exactly `argv` (a process in an app's
/// sandbox has another pid inside it, so a test finds it by a unique command line).
pub fn host_pids(argv: &[&str]) -> Vec<u64> {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()))
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}
