//! FTP/FTPS into an app home, with real clients: Python's ftplib and lftp (installed by
//! `scripts/setup.sh`). The seed's option 1: log in with the app's deployment credentials and
//! delete `/site/wwwroot/env`; the next deployment creates a fresh env.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::server_support::*;

/// Helpers every ftplib script starts with. A script fills `out`, printed as JSON at the end.
const PRELUDE: &str = r#"
import ftplib, io, json, os, socket, ssl, sys
HOST, PORT = "127.0.0.1", int(os.environ["FTP_PORT"])

def connect(user, password, source=None, tls=None):
    ftp = ftplib.FTP_TLS(context=tls, timeout=20) if tls else ftplib.FTP(timeout=20, source_address=(source, 0) if source else None)
    ftp.connect(HOST, PORT)
    ftp.login(user, password)
    return ftp

def attempt(fn):
    try:
        return {"ok": fn()}
    except ftplib.all_errors as e:
        return {"error": str(e)}

def get(ftp, path):
    buf = io.BytesIO()
    ftp.retrbinary("RETR " + path, buf.write)
    return buf.getvalue().decode()

def put(ftp, path, text):
    return ftp.storbinary("STOR " + path, io.BytesIO(text.encode()))

def lines(ftp, command):
    got = []
    ftp.retrlines(command, got.append)
    return got

out = {}
"#;

/// Runs an ftplib script against the server's FTP port; returns its `out`.
fn ftplib(server: &TestServer, script: &str, env: &[(&str, &str)]) -> Value {
    let output = Command::new("python3")
        .arg("-c")
        .arg(format!("{PRELUDE}\n{script}\nprint(json.dumps(out))"))
        .env("FTP_PORT", server.ftp_port().to_string())
        .envs(env.iter().copied())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ftplib script failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.server_log()
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `lftp -c "open …; <commands>"` as `user`; lftp exits with the last command's status.
pub(crate) fn lftp(server: &TestServer, user: &str, password: &str, settings: &str, commands: &str) -> Output {
    let script = format!(
        "set net:max-retries 1; set net:reconnect-interval-base 1; set net:timeout 20; set cmd:fail-exit yes; {settings}; open -u {user},{password} -p {} 127.0.0.1; {commands}",
        server.ftp_port()
    );
    Command::new("lftp").arg("-c").arg(script).output().expect("run lftp (scripts/setup.sh installs it)")
}

pub(crate) fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn err(value: &Value) -> String {
    value["error"].as_str().unwrap_or_else(|| panic!("expected an FTP error, got {value}")).to_string()
}

#[test]
fn ftp_logs_in_only_with_the_apps_own_credentials() {
    let server = TestServer::start();
    let alpha = server.create_app("alpha");
    let beta = server.create_app("beta");
    let (status, app) = server.api("GET", "/api/apps/alpha", None);
    assert_eq!(status, 200);
    assert_eq!(app["ftp_host"], format!("ftp://{}", server.ftp_addr), "the API shows the port really bound, not :0");
    assert_eq!(app["ftp_user"], "alpha");

    let out = ftplib(
        &server,
        r#"
ftp = connect("alpha", os.environ["ALPHA"])
out["welcome"] = ftp.getwelcome()
out["pwd"] = ftp.pwd()
out["root"] = sorted(ftp.nlst())
ftp.quit()
out["wrong"] = attempt(lambda: connect("alpha", "not-the-password").quit())
out["other_app"] = attempt(lambda: connect("alpha", os.environ["BETA"]).quit())
out["unknown_app"] = attempt(lambda: connect("gamma", os.environ["ALPHA"]).quit())
out["bad_name"] = attempt(lambda: connect("../beta", os.environ["BETA"]).quit())
out["anonymous"] = attempt(lambda: connect("anonymous", "guest@example.com").quit())
"#,
        &[("ALPHA", &alpha), ("BETA", &beta)],
    );
    assert!(out["welcome"].as_str().unwrap().starts_with("220"), "{out}");
    assert_eq!(out["pwd"], "/");
    for dir in ["site", "repository"] {
        assert!(out["root"].as_array().unwrap().iter().any(|e| e == dir), "the root is the app home: {out}");
    }
    for case in ["wrong", "other_app", "unknown_app", "bad_name", "anonymous"] {
        assert!(err(&out[case]).starts_with("530"), "{case}: {out}");
    }
    let log = server.server_log();
    assert!(log.contains("FTP: alpha logged in"), "{log}");
    assert!(log.contains("FTP: failed login for alpha"), "{log}");
    for secret in [alpha.as_str(), beta.as_str(), "not-the-password"] {
        assert!(!log.contains(secret), "a password was logged:\n{log}");
    }
}

#[test]
fn ftp_lists_downloads_uploads_overwrites_renames_and_deletes() {
    let server = TestServer::start();
    let password = server.create_app("files");
    let wwwroot = server.wwwroot("files");
    std::fs::write(wwwroot.join("app.py"), PLAIN_APP).unwrap();

    let out = ftplib(
        &server,
        r#"
ftp = connect("files", os.environ["PW"])
out["nlst"] = sorted(ftp.nlst("/site/wwwroot"))
out["list"] = lines(ftp, "LIST /site/wwwroot")
out["mlsd"] = {name: facts.get("type") for name, facts in ftp.mlsd("/site")}
ftp.cwd("/site/wwwroot")
out["app"] = get(ftp, "app.py")
out["stor"] = put(ftp, "notes.txt", "a first, longer version\n")
out["size1"] = ftp.size("notes.txt")
out["overwrite"] = put(ftp, "notes.txt", "second\n")
out["size2"] = ftp.size("/site/wwwroot/notes.txt")
out["mdtm"] = ftp.sendcmd("MDTM notes.txt")
out["mkd"] = ftp.mkd("static")
put(ftp, "static/style.css", "body {}\n")
out["rmd_not_empty"] = attempt(lambda: ftp.rmd("static"))
out["rename"] = ftp.rename("notes.txt", "static/notes.txt")
out["dele"] = ftp.delete("static/style.css")
out["dele_missing"] = attempt(lambda: ftp.delete("static/style.css"))
# EPSV: ftplib uses it for IPv6 only; claim IPv6 for one listing.
ftp.af = socket.AF_INET6
out["epsv_list"] = ftp.nlst("static")
ftp.af = socket.AF_INET
pasv = ftp.sendcmd("PASV")
nums = pasv[pasv.index("(") + 1 : pasv.index(")")].split(",")
out["pasv_port"] = int(nums[4]) * 256 + int(nums[5])
ftp.quit()
"#,
        &[("PW", &password)],
    );
    let nlst: Vec<&str> = out["nlst"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(nlst.iter().any(|n| n.ends_with("app.py")), "{out}");
    assert!(out["list"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().ends_with(" app.py")), "{out}");
    assert_eq!(out["mlsd"]["wwwroot"], "dir", "{out}");
    assert_eq!(out["app"], PLAIN_APP, "RETR returns the file as it is on disk");
    assert!(out["stor"].as_str().unwrap().starts_with("226"), "{out}");
    assert_eq!(out["size1"], 24);
    assert_eq!(out["size2"], 7, "STOR over an existing file replaces it: {out}");
    assert!(out["mdtm"].as_str().unwrap().starts_with("213 20"), "{out}");
    assert!(err(&out["rmd_not_empty"]).starts_with("55"), "{out}");
    assert!(err(&out["dele_missing"]).starts_with("550"), "{out}");
    assert_eq!(out["epsv_list"].as_array().unwrap().len(), 1, "{out}");
    assert!((50000..=50100).contains(&out["pasv_port"].as_u64().unwrap()), "default --ftp-passive range: {out}");

    // What the client did is what is on disk, owned by the user the service runs as.
    let notes = wwwroot.join("static/notes.txt");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "second\n");
    assert!(!wwwroot.join("notes.txt").exists() && !wwwroot.join("static/style.css").exists());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&notes).unwrap().uid(), std::fs::metadata(&wwwroot).unwrap().uid());
}

#[test]
fn ftp_paths_stay_inside_the_app_home() {
    let server = TestServer::start();
    let alpha = server.create_app("alpha");
    server.create_app("beta");
    std::fs::write(server.wwwroot("beta").join("secret.txt"), "beta's secret\n").unwrap();
    let links = server.wwwroot("alpha");
    std::os::unix::fs::symlink(server.app_home("beta"), links.join("to-beta")).unwrap();
    std::os::unix::fs::symlink("/etc", links.join("to-etc")).unwrap();
    // wwwroot is site/releases/0: these lead to the apps' folder and to site/deployments.
    std::os::unix::fs::symlink("../../../..", links.join("up")).unwrap();
    std::os::unix::fs::symlink("../../deployments", links.join("to-deployments")).unwrap();
    std::fs::write(links.join("app.py"), PLAIN_APP).unwrap();

    let out = ftplib(
        &server,
        r#"
ftp = connect("alpha", os.environ["PW"])
out["cwd_up_at_root"] = attempt(lambda: ftp.sendcmd("CWD .."))
out["pwd_after"] = ftp.pwd()
out["cdup_at_root"] = attempt(lambda: ftp.sendcmd("CDUP"))
out["pwd_after_cdup"] = ftp.pwd()
out["root_listing"] = sorted(ftp.nlst())
out["cwd_abs_up"] = attempt(lambda: ftp.cwd("/../beta"))
ftp.cwd("/site")
out["cwd_site_up"] = attempt(lambda: ftp.sendcmd("CWD .."))
ftp.cwd("/site/wwwroot")
out["cwd_symlink_inside"] = attempt(lambda: ftp.cwd("to-deployments"))
ftp.cwd("/site/wwwroot")
out["cwd_symlink_out"] = attempt(lambda: ftp.cwd("to-etc"))
out["cwd_file"] = attempt(lambda: ftp.cwd("app.py"))
out["pwd_after_refusals"] = ftp.pwd()
tries = {
  "retr_rel": "../../../beta/site/wwwroot/secret.txt",
  "retr_abs": "/../beta/site/wwwroot/secret.txt",
  "retr_mixed": "/site/../../beta/site/wwwroot/secret.txt",
  "retr_symlink_dir": "to-beta/site/wwwroot/secret.txt",
  "retr_symlink_etc": "to-etc/passwd",
  "retr_relative_symlink": "up/beta/site/wwwroot/secret.txt",
  "retr_system": "/etc/passwd",
}
for key, path in tries.items():
    out[key] = attempt(lambda: get(ftp, path))
out["list_symlink_etc"] = attempt(lambda: lines(ftp, "LIST to-etc/"))
out["stor_up"] = attempt(lambda: put(ftp, "../../../beta/planted.txt", "x"))
out["stor_symlink"] = attempt(lambda: put(ftp, "to-beta/planted.txt", "x"))
out["mkd_up"] = attempt(lambda: ftp.mkd("/../../made-by-alpha"))
out["dele_other"] = attempt(lambda: ftp.delete("/../beta/site/wwwroot/secret.txt"))
out["dele_symlinked"] = attempt(lambda: ftp.delete("to-beta/site/wwwroot/secret.txt"))
out["rename_out"] = attempt(lambda: ftp.rename("/site/wwwroot/to-etc", "/../../stolen"))
out["rmd_home"] = attempt(lambda: ftp.rmd("/"))
# The rest of the home is slipway's: git runs as root, and the server writes the logs.
out["stor_hook"] = attempt(lambda: put(ftp, "/repository/hooks/pre-receive", "id"))
out["stor_config"] = attempt(lambda: put(ftp, "/repository/config", "[core]\n"))
out["stor_log"] = attempt(lambda: put(ftp, "/LogFiles/app.log", "x"))
out["stor_through_link"] = attempt(lambda: put(ftp, "/site/wwwroot/to-deployments/planted.txt", "x"))
out["rmd_wwwroot_link"] = attempt(lambda: ftp.rmd("/site/wwwroot"))
out["mkd_repository"] = attempt(lambda: ftp.mkd("/repository/hooks/more"))
out["rmd_a_release"] = attempt(lambda: ftp.rmd("/site/releases/0"))
out["stor_data"] = attempt(lambda: put(ftp, "/data/notes.txt", "fine"))
ftp.quit()
"#,
        &[("PW", &alpha)],
    );
    assert!(err(&out["cwd_up_at_root"]).starts_with("550"), "{out}");
    assert_eq!(out["pwd_after"], "/", "{out}");
    assert_eq!(out["pwd_after_cdup"], "/", "{out}");
    assert!(out["root_listing"].as_array().unwrap().iter().all(|n| n != "alpha" && n != "beta"), "{out}");
    assert!(out["cwd_site_up"]["ok"].is_string(), "`..` inside the home works: {out}");
    assert!(out["cwd_symlink_inside"]["ok"].is_string(), "a link to a folder inside the home can be entered: {out}");
    assert_eq!(out["pwd_after_refusals"], "/site/wwwroot", "{out}");
    for key in [
        "cwd_abs_up",
        "cwd_symlink_out",
        "cwd_file",
        "retr_rel",
        "retr_abs",
        "retr_mixed",
        "retr_symlink_dir",
        "retr_symlink_etc",
        "retr_relative_symlink",
        "retr_system",
        "stor_up",
        "stor_symlink",
        "mkd_up",
        "dele_other",
        "dele_symlinked",
        "rename_out",
        "rmd_home",
        "stor_hook",
        "stor_config",
        "stor_log",
        "stor_through_link",
        "rmd_wwwroot_link",
        "mkd_repository",
        "rmd_a_release",
    ] {
        assert!(err(&out[key]).starts_with('5'), "{key} must be refused: {out}");
    }
    assert!(!out.to_string().contains("beta's secret") && !out.to_string().contains("root:x:0:0"), "{out}");
    assert!(out["list_symlink_etc"].get("ok").is_none_or(|l| !l.to_string().contains("passwd")), "{out}");
    assert_eq!(std::fs::read_to_string(server.wwwroot("beta").join("secret.txt")).unwrap(), "beta's secret\n");
    let apps = server.data_dir().join("apps");
    assert!(!apps.join("beta/planted.txt").exists() && !server.data_dir().join("made-by-alpha").exists());
    assert!(!server.dir.path().join("made-by-alpha").exists() && !apps.join("made-by-alpha").exists());
    assert!(server.app_home("alpha").is_dir());
    assert!(out["stor_data"]["ok"].is_string(), "the data folder is the app's: {out}");
    assert!(!server.app_home("alpha").join("site/deployments/planted.txt").exists());
}

/// A hook in an app's repository (however it got there) is never run: git runs slipway's own,
/// from outside the app homes.
#[test]
fn a_hook_in_the_apps_repository_is_never_run() {
    let server = TestServer::start();
    let password = server.create_app("hooked");
    let marker = server.dir.path().join("hook-ran");
    let hook = server.app_home("hooked").join("repository/hooks/pre-receive");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repo = Repo::app("3.12", "six\n");
    let out = repo.push_ok(&server.git_url("hooked", &password), &["main"]);
    assert!(out.contains("remote: Deployment v1 succeeded"), "slipway's hook ran: {out}");
    assert!(!marker.exists(), "the repository's own hook did not");
}

#[test]
fn deleting_env_over_ftp_with_lftp_then_pushing_creates_a_fresh_env() {
    let (server, password, url, repo) = TestServer::with_deployed_app("shop", "flask\n");
    let env = server.wwwroot("shop").join("env");
    let first = server.marker("shop");
    let files_before = walkdir::WalkDir::new(&env).into_iter().count();
    assert!(files_before > 100, "a real env: {files_before} entries");

    // The seed's option 1, as a user does it: look, download, upload, then `rm -r env`.
    let out = ftplib(
        &server,
        r#"
ftp = connect("shop", os.environ["PW"])
out["wwwroot"] = sorted(ftp.nlst("/site/wwwroot"))
out["app"] = get(ftp, "/site/wwwroot/app.py")
put(ftp, "/site/wwwroot/uploaded.txt", "put there over FTP\n")
ftp.quit()
"#,
        &[("PW", &password)],
    );
    let listed = out["wwwroot"].to_string();
    assert!(listed.contains("app.py") && listed.contains("env") && listed.contains("requirements.txt"), "{out}");
    assert_eq!(out["app"], std::fs::read_to_string(repo.path().join("app.py")).unwrap());

    let removed =
        lftp(&server, "shop", &password, "set ftp:ssl-allow no", "rm -r /site/wwwroot/env; cls -1 /site/wwwroot/");
    assert!(removed.status.success(), "lftp rm -r env: {}", text(&removed));
    assert!(!env.exists(), "env is gone: {}", text(&removed));
    let listing = String::from_utf8_lossy(&removed.stdout);
    let names: Vec<&str> = listing.lines().filter_map(|l| l.trim_end_matches('/').rsplit('/').next()).collect();
    assert!(names.contains(&"app.py") && !names.contains(&"env"), "lftp lists wwwroot without env: {listing}");

    repo.write("app.py", &format!("{PLAIN_APP}# after env was deleted over FTP\n"));
    repo.commit("redeploy after deleting env");
    repo.push_ok(&url, &["main"]);
    let second = server.marker("shop");
    assert_ne!(first["created_at"], second["created_at"], "a fresh env was created");
    let import = Command::new(env.join("bin/python"))
        .args(["-c", "import flask; print(flask.Flask.__name__)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&import.stdout).trim(), "Flask", "{}", String::from_utf8_lossy(&import.stderr));
    assert_eq!(
        std::fs::read_to_string(server.wwwroot("shop").join("uploaded.txt")).unwrap(),
        "put there over FTP\n",
        "a file uploaded over FTP survives the deployment's sync"
    );
    assert_eq!(server.active("shop").unwrap()["status"], "success");
}

const TLS_SCRIPT: &str = r#"
ctx = ssl.create_default_context(cafile=os.environ["CERT"])
ftp = connect("tls-app", os.environ["PW"], tls=ctx)
out["cipher"] = ftp.sock.version()
ftp.prot_p()
out["listing"] = sorted(ftp.nlst("/site"))
out["back"] = attempt(lambda: get(ftp, "/site/wwwroot/secure.txt"))
ftp.quit()
out["plain"] = attempt(lambda: connect("tls-app", os.environ["PW"]).quit())
"#;

/// Uploads `secure.txt` with lftp over TLS (ftplib's `storbinary` over TLS expects the server's
/// close_notify after an upload, which libunftp does not send: see the module docs of `ftp.rs`).
fn lftp_tls_upload(server: &TestServer, password: &str, cert: &str, dir: &Path) -> Output {
    let local = dir.join("secure.txt");
    std::fs::write(&local, "over TLS\n").unwrap();
    let settings = format!("set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file {cert}");
    lftp(
        server,
        "tls-app",
        password,
        &settings,
        &format!("put {} -o /site/wwwroot/secure.txt; cls -1 /site/wwwroot/", local.display()),
    )
}

#[test]
fn ftps_with_a_self_signed_certificate_and_required_tls() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(certs.path());

    // The app is created on a plain start (with --tls-cert the HTTP side speaks HTTPS too, which
    // this harness's client does not); the data dir is then restarted with TLS.
    let server = TestServer::start();
    let password = server.create_app("tls-app");
    let (dir, _) = server.terminate();

    // TLS offered: AUTH TLS works (the client verifies the certificate), plain FTP still allowed.
    let server = TestServer::start_in_with(dir, &["--tls-cert", &cert, "--tls-key", &key]);
    let uploaded = lftp_tls_upload(&server, &password, &cert, certs.path());
    assert!(
        uploaded.status.success() && String::from_utf8_lossy(&uploaded.stdout).contains("secure.txt"),
        "lftp over TLS: {}",
        text(&uploaded)
    );
    assert_eq!(std::fs::read_to_string(server.wwwroot("tls-app").join("secure.txt")).unwrap(), "over TLS\n");
    let out = ftplib(&server, TLS_SCRIPT, &[("PW", &password), ("CERT", &cert)]);
    assert!(out["cipher"].as_str().unwrap().starts_with("TLSv1."), "{out}");
    assert!(out["listing"].to_string().contains("wwwroot"), "{out}");
    assert_eq!(out["back"]["ok"], "over TLS\n", "{out}");
    assert!(out["plain"].get("error").is_none(), "plain FTP is allowed unless TLS is required: {out}");
    let (dir, _) = server.terminate();

    // TLS required: a plain login is refused, TLS works.
    std::fs::remove_file(dir.path().join("data/apps/tls-app/site/wwwroot/secure.txt")).unwrap();
    let server = TestServer::start_in_with(dir, &["--tls-cert", &cert, "--tls-key", &key, "--ftp-require-tls"]);
    let uploaded = lftp_tls_upload(&server, &password, &cert, certs.path());
    assert!(uploaded.status.success(), "lftp over TLS: {}", text(&uploaded));
    let out = ftplib(&server, TLS_SCRIPT, &[("PW", &password), ("CERT", &cert)]);
    assert_eq!(out["back"]["ok"], "over TLS\n", "{out}");
    assert!(err(&out["plain"]).starts_with('5'), "plain FTP refused when TLS is required: {out}");
    let plain_lftp = lftp(&server, "tls-app", &password, "set ftp:ssl-allow no", "cls -1 /site/wwwroot/");
    assert!(
        !plain_lftp.status.success() && text(&plain_lftp).contains("534"),
        "lftp without TLS is refused: {}",
        text(&plain_lftp)
    );

    // Unreadable TLS files stop the server at start, naming the flags.
    let data = tempfile::tempdir().unwrap();
    let failed = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--ftp",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            &key,
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success() && stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}

#[test]
fn failed_ftp_logins_are_rate_limited_per_address_and_app() {
    let server = TestServer::start();
    let password = server.create_app("guarded");
    let other = server.create_app("neighbour");
    let out = ftplib(
        &server,
        r#"
out["failures"] = [attempt(lambda: connect("guarded", "wrong-%d" % i).quit()) for i in range(5)]
out["right_password_now"] = attempt(lambda: connect("guarded", os.environ["PW"]).quit())
out["from_other_ip"] = attempt(lambda: connect("guarded", os.environ["PW"], source="127.0.0.2").quit())
out["other_app_same_ip"] = attempt(lambda: connect("neighbour", os.environ["OTHER"]).quit())
"#,
        &[("PW", &password), ("OTHER", &other)],
    );
    for failure in out["failures"].as_array().unwrap() {
        assert!(err(failure).starts_with("530"), "{out}");
    }
    assert!(
        err(&out["right_password_now"]).starts_with("530"),
        "a blocked IP is refused even with the right password: {out}"
    );
    assert!(out["from_other_ip"].get("error").is_none(), "another IP is not blocked: {out}");
    assert!(out["other_app_same_ip"].get("error").is_none(), "another app from the same IP is not blocked: {out}");
    let log = server.server_log();
    assert!(log.contains("refused for 300s") && log.contains("login for guarded refused from 127.0.0.1"), "{log}");
    assert!(!log.contains("wrong-"), "passwords are never logged:\n{log}");
}
