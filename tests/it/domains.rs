//! Domains and HTTPS (issue 15): custom domains and the base domain routed by the proxy, only the
//! admin hosts showing slipway's own pages, certificates from a real ACME server (Debian's
//! `pebble`, validating HTTP-01 against slipway through `pebble-challtestsrv`'s DNS), renewal,
//! `FORCE_HTTPS`, WebSockets, and half-sent requests dropped.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::cli;
use crate::server_support::*;

/// An app that answers plain GETs with the scheme and client address it was told, and echoes
/// WebSocket text messages.
const WS_APP: &str = r#"import base64, hashlib, os, struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        # A streamed body (chunked) or a sized one: its length and digest come back.
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = f"posted {len(data)} {hashlib.sha256(data).hexdigest()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/host":
            body = f"host {self.headers.get('X-Forwarded-Host')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.headers.get("Upgrade", "").lower() != "websocket":
            spoofable = "".join(f" {h}={self.headers[h]}" for h in ("Forwarded", "X-Real-IP", "X-Forwarded-Port") if h in self.headers)
            body = f"app {self.path} {self.headers.get('X-Forwarded-Proto')} {self.headers.get('X-Forwarded-For')}{spoofable}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        key = self.headers["Sec-WebSocket-Key"] + GUID
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            length = head[1] & 0x7F
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if head[0] & 0x0F == 8:
                return
            reply = b"echo: " + data
            self.wfile.write(bytes([0x81, len(reply)]) + reply)
            self.wfile.flush()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

/// Connects (over TLS to `name` with `cafile`, or plain), upgrades to a WebSocket, sends one
/// message and prints the answer.
const WS_CLIENT: &str = r#"import os, socket, ssl, sys
host, port, name, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sock = socket.create_connection((host, port), timeout=10)
if cafile != "-":
    sock = ssl.create_default_context(cafile=cafile).wrap_socket(sock, server_hostname=name)
sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {name}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(1)
print(head.split(b"\r\n")[0].decode())
mask, data = os.urandom(4), b"hello"
sock.sendall(bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
frame = sock.recv(2)
print(sock.recv(frame[1] & 0x7F).decode())
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real ACME server on loopback: pebble, validating HTTP-01 challenges on `http_port` of
/// 127.0.0.1 for every name (pebble-challtestsrv answers every DNS query with 127.0.0.1).
struct Pebble {
    processes: Vec<Child>,
    /// For `--acme-directory`.
    directory: String,
    /// pebble's own HTTPS certificate, for `--acme-ca-cert`.
    ca_cert: String,
    /// The root pebble issues from, for clients checking slipway's certificates.
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Pebble {
    fn start(http_port: u16) -> Self {
        let dir = tempfile::Builder::new().prefix("slipway-pebble-").tempdir().unwrap();
        let (ca, cert, key) = leaf_certificate(dir.path(), "IP:127.0.0.1,DNS:localhost");
        let (acme, management, dns) = (free_port(), free_port(), free_port());
        let config = json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert, "privateKey": key,
            "httpPort": http_port, "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        let config_file = dir.path().join("pebble.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let quiet = || Stdio::from(std::fs::File::create(dir.path().join(format!("log-{}", free_port()))).unwrap());
        let dns_server = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}"), "-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args([
                "-management",
                &format!("127.0.0.1:{}", free_port()),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ])
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .expect("start pebble-challtestsrv");
        let pebble = Command::new("pebble")
            .args(["-config"])
            .arg(&config_file)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}"), "-strict=false"])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .expect("start pebble");
        let root = dir.path().join("root.pem");
        wait_until(Duration::from_secs(30), "pebble to serve its root", || {
            let out = Command::new("curl")
                .args(["-sfk", &format!("https://127.0.0.1:{management}/roots/0"), "-o"])
                .arg(&root)
                .output()
                .ok()?;
            out.status.success().then_some(())
        });
        Pebble {
            processes: vec![dns_server, pebble],
            directory: format!("https://127.0.0.1:{acme}/dir"),
            ca_cert: ca,
            root,
            _dir: dir,
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A CA and a certificate it signed for `san` (rustls refuses a self-signed CA certificate as a
/// server's): `(ca.pem, cert.pem, key.pem)`.
fn leaf_certificate(dir: &Path, san: &str) -> (String, String, String) {
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (ca, ca_key, cert, key, csr, ext) = (
        file("ca.pem"),
        file("ca-key.pem"),
        file("leaf.pem"),
        file("leaf-key.pem"),
        file("leaf.csr"),
        file("leaf.ext"),
    );
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", &key, "-out", &csr]);
    std::fs::write(&ext, format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n")).unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (ca, cert, key)
}

/// `curl` as a browser would reach `name` on the HTTPS listener, trusting `root`: `(status, body)`.
fn https_get(server: &TestServer, name: &str, path: &str, root: &Path) -> (u16, String) {
    let port = server.https.as_ref().unwrap().rsplit(':').next().unwrap().to_string();
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "--resolve", &format!("{name}:{port}:127.0.0.1"), "--cacert"])
        .arg(root)
        .args(["-w", "\n%{http_code}", &format!("https://{name}:{port}{path}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

/// The issuer slipway presents for `name` (by SNI), as openssl prints it.
fn presented_issuer(server: &TestServer, name: &str) -> String {
    let address = server.https.as_ref().unwrap().trim_start_matches("https://").to_string();
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &address, "-servername", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = child.wait();
    out.lines().find(|l| l.trim_start().starts_with("issuer=") || l.contains(" i:")).unwrap_or("").to_string()
}

/// `GET path` on the HTTP port with `Host: host` (curl): `(status, body, Location)`.
fn http_get(server: &TestServer, host: &str, path: &str) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-H", &format!("Host: {host}"), "-H", "X-Forwarded-For: 6.6.6.6"])
        .args(["-H", "Forwarded: for=6.6.6.6", "-H", "X-Real-IP: 6.6.6.6", "-H", "X-Forwarded-Port: 1"])
        .args(["-w", "\n%{http_code} %{redirect_url}", &format!("{}{path}", server.base)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let (code, location) = tail.split_once(' ').unwrap_or((tail, ""));
    (code.parse().unwrap_or(0), body.to_string(), location.to_string())
}

fn domains(server: &TestServer, app: &str) -> Vec<Value> {
    let (status, list) = server.api("GET", &format!("/api/apps/{app}/domains"), None);
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

fn certificate(server: &TestServer, app: &str, domain: &str) -> Value {
    domains(server, app).into_iter().find(|d| d["domain"] == domain).unwrap()["certificate"].clone()
}

fn wait_for_issued(server: &TestServer, app: &str, domain: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let cert = certificate(server, app, domain);
        assert_ne!(cert["state"], "failed", "{cert}\n{}", server.server_log());
        if cert["state"] == "issued" && cert["issuer"].as_str().unwrap_or("").contains("Pebble") {
            return cert;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no certificate for {domain} after 90 s: {cert}\n{}",
            server.server_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve_args(http_port: u16, pebble: &Pebble) -> Vec<String> {
    [
        "--http",
        &format!("127.0.0.1:{http_port}"),
        "--https",
        "127.0.0.1:0",
        "--domain",
        "apps.test",
        "--admin-host",
        "admin.test",
        "--acme-directory",
        &pebble.directory,
        "--acme-ca-cert",
        &pebble.ca_cert,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
#[cfg_attr(no_pebble, ignore = "pebble is not installed (./scripts/setup.sh installs it)")]
fn custom_domains_get_certificates_from_acme_and_renew_them() {
    let http_port = free_port();
    let pebble = Pebble::start(http_port);
    let args = serve_args(http_port, &pebble);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dir = tempfile::Builder::new().prefix("slipway-srv-").tempdir().unwrap();
    let server = TestServer::start_in_with(dir, &args);

    let password = server.create_app("shop");
    let repo = Repo::new();
    repo.write("app.py", WS_APP).write("runtime.txt", "python-3.12\n").write("requirements.txt", "six\n");
    repo.commit("a websocket app");
    repo.push_ok(&server.git_url("shop", &password), &["main"]);

    // The base domain: every app is `<app>.apps.test`, with a certificate obtained at creation.
    wait_for_issued(&server, "shop", "shop.apps.test");
    assert!(https_get(&server, "shop.apps.test", "/", &pebble.root).1.starts_with("app / https 127.0.0.1"));

    // A custom domain: routed at once, its certificate issued by pebble after an HTTP-01 check.
    let added = cli(&server, &["domains", "add", "shop", "shop.test"]).ok().stdout;
    assert!(added.contains("`shop` answers on https://shop.test:"), "{added}");
    let cert = wait_for_issued(&server, "shop", "shop.test");
    assert_eq!(cert["source"], "acme");
    assert_eq!(https_get(&server, "shop.test", "/", &pebble.root), (200, "app / https 127.0.0.1".into()));
    assert!(presented_issuer(&server, "shop.test").contains("Pebble"), "SNI picks the domain's own certificate");
    let listed = cli(&server, &["domains", "list", "shop"]).ok().stdout;
    assert!(
        listed.lines().any(|l| l.starts_with("shop.test") && l.contains("issued") && l.contains("Pebble")),
        "{listed}"
    );

    // The proxy: X-Forwarded-* are slipway's, the app's domain never shows the dashboard, an
    // unknown host gets a 404, and the admin host shows slipway.
    assert_eq!(
        http_get(&server, "shop.test", "/").1,
        "app / http 127.0.0.1",
        "a client's X-Forwarded-For, Forwarded, X-Real-IP and X-Forwarded-Port are not trusted"
    );
    assert_eq!(http_get(&server, "shop.test", "/login").1, "app /login http 127.0.0.1");
    let (status, page, _) = http_get(&server, "nobody.test", "/");
    assert_eq!(status, 404);
    assert!(page.contains("No app here") && !page.contains("login"), "{page}");
    let (status, _, location) = http_get(&server, "admin.test", "/");
    assert!(status == 303 && location.ends_with("/login"), "the admin host shows slipway: {status} {location}");
    // The admin host has a certificate of its own: the dashboard, the API and git over HTTPS.
    wait_until(Duration::from_secs(60), "the admin host's certificate", || {
        (https_get(&server, "admin.test", "/", &pebble.root).0 == 303).then_some(())
    });
    assert!(presented_issuer(&server, "admin.test").contains("Pebble"));
    let refused = cli(&server, &["domains", "add", "shop", "admin.test"]);
    assert!(refused.stderr.contains("admin host names (--admin-host)"), "{}", refused.stderr);
    // Certificates and keys are the server's alone.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &str| std::fs::metadata(server.data_dir().join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("certs/shop.test/key.pem"), mode("certs/shop.test/cert.pem")), (0o600, 0o600));

    // HTTP/2 on the HTTPS port; X-Forwarded-Host is the name the client used; request bodies
    // (sized and chunked, larger than the proxy buffers) reach the app whole.
    let port = server.https.as_ref().unwrap().rsplit(':').next().unwrap().to_string();
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-m", "20", "--resolve", &format!("shop.test:{port}:127.0.0.1"), "--cacert"])
            .arg(&pebble.root)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let h2 = curl(&["--http2", "-o", "/dev/null", "-w", "%{http_version}", &format!("https://shop.test:{port}/")]);
    assert_eq!(h2, "2", "HTTP/2 through ALPN");
    assert_eq!(curl(&[&format!("https://shop.test:{port}/host")]), format!("host shop.test:{port}"));
    let payload = tempfile::NamedTempFile::new().unwrap();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(payload.path(), &bytes).unwrap();
    let digest = Command::new("sha256sum").arg(payload.path()).output().unwrap();
    let digest = String::from_utf8_lossy(&digest.stdout).split_whitespace().next().unwrap().to_string();
    let file = format!("@{}", payload.path().display());
    let url = format!("https://shop.test:{port}/upload");
    assert_eq!(curl(&["--http1.1", "--data-binary", &file, &url]), format!("posted 300000 {digest}"));
    let chunked = curl(&["--http1.1", "-H", "Transfer-Encoding: chunked", "--data-binary", &file, &url]);
    assert_eq!(chunked, format!("posted 300000 {digest}"), "a chunked body streams through");

    // A WebSocket through the proxy, over HTTPS.
    let ws = Command::new("python3")
        .args(["-c", WS_CLIENT, "127.0.0.1", &port, "shop.test"])
        .arg(&pebble.root)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ws.stdout),
        "HTTP/1.1 101 Switching Protocols\necho: hello\n",
        "{}",
        String::from_utf8_lossy(&ws.stderr)
    );

    // FORCE_HTTPS redirects plain HTTP.
    let settings = server.api("PUT", "/api/apps/shop/settings", Some(json!({ "FORCE_HTTPS": "true" })));
    assert_eq!(settings.0, 200);
    let (status, _, location) = http_get(&server, "shop.test", "/cart?x=1");
    assert_eq!((status, location.as_str()), (308, format!("https://shop.test:{port}/cart?x=1").as_str()));

    // One app per domain; names are checked.
    server.create_app("rival");
    let taken = cli(&server, &["domains", "add", "rival", "SHOP.test"]);
    assert!(taken.stderr.contains("shop.test already belongs to app `shop`"), "{}", taken.stderr);
    let bad = cli(&server, &["domains", "add", "rival", "bad_name.test"]);
    assert!(bad.stderr.contains("is not a domain name"), "{}", bad.stderr);
    let under = cli(&server, &["domains", "add", "rival", "x.apps.test"]);
    assert!(under.stderr.contains("under --domain apps.test"), "{}", under.stderr);

    // Renewal: a certificate close to expiry is replaced at the next start.
    let (dir, _) = server.terminate();
    let stored = dir.path().join("data/certs/shop.test");
    let scratch = tempfile::tempdir().unwrap();
    let (near_cert, near_key) = certificate_for(scratch.path(), "shop.test", "DNS:shop.test", 1);
    std::fs::copy(&near_cert, stored.join("cert.pem")).unwrap();
    std::fs::copy(&near_key, stored.join("key.pem")).unwrap();
    let server = TestServer::start_in_with(dir, &args);
    let renewed = wait_for_issued(&server, "shop", "shop.test");
    assert_ne!(renewed["not_after"], cert["not_after"], "a new certificate: {renewed}");
    assert_eq!(https_get(&server, "shop.test", "/", &pebble.root).0, 200, "served with the renewed certificate");
    assert!(presented_issuer(&server, "shop.test").contains("Pebble"), "pebble's, not the near-expiry one");

    // Removed: the domain leads nowhere, its certificate is gone.
    cli(&server, &["domains", "remove", "shop", "shop.test"]).ok();
    assert_eq!(http_get(&server, "shop.test", "/").0, 404);
    assert!(!server.data_dir().join("certs/shop.test").exists());
}

#[test]
fn an_operators_certificate_serves_a_domain_without_acme() {
    let dir = tempfile::Builder::new().prefix("slipway-srv-").tempdir().unwrap();
    let server =
        TestServer::start_in_with(dir, &["--https", "127.0.0.1:0", "--acme-directory", "https://127.0.0.1:9/none"]);
    let password = server.create_app("blog");
    let repo = Repo::app("3.12", "six\n");
    repo.push_ok(&server.git_url("blog", &password), &["main"]);
    cli(&server, &["domains", "add", "blog", "blog.test"]).ok();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate_for(certs.path(), "blog.test", "DNS:blog.test", 30);
    let out = cli(&server, &["domains", "cert", "blog", "blog.test", "--cert", &cert, "--key", &key]).ok().stdout;
    assert!(out.contains("blog.test is served with your certificate (issuer blog.test"), "{out}");
    let (status, body) = https_get(&server, "blog.test", "/", Path::new(&cert));
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("v1 "), "{body}");
    assert_eq!(certificate(&server, "blog", "blog.test")["source"], "manual");

    let other = tempfile::tempdir().unwrap();
    let (other_cert, other_key) = certificate_for(other.path(), "else.test", "DNS:else.test", 30);
    let wrong = cli(&server, &["domains", "cert", "blog", "blog.test", "--cert", &other_cert, "--key", &other_key]);
    assert!(wrong.stderr.contains("the certificate is for else.test, not blog.test"), "{}", wrong.stderr);
}

#[test]
fn half_sent_requests_are_dropped() {
    let server = TestServer::start();
    let address = server.base.trim_start_matches("http://").to_string();
    // Half of them send half a request head, the others nothing at all.
    let mut stalled: Vec<std::net::TcpStream> = (0..50)
        .map(|i| {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            if i % 2 == 0 {
                stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            }
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_secs(12));
    for stream in &mut stalled {
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buffer = [0u8; 512];
        let closed = match stream.read(&mut buffer) {
            Ok(_) => true, // 0 bytes (closed) or the server's timeout answer before closing
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
        };
        assert!(closed, "a half-sent (or unsent) request is still held open after 12 s");
    }
    assert_eq!(server.api("GET", "/api/runtimes", None).0, 200, "the server still answers");
}
