//! The REST API's contract for bad input, and who may do what.

use serde_json::json;

use crate::server_support::*;

#[test]
fn apps_settings_and_credentials_through_the_api() {
    let server = TestServer::start();
    let (status, app) = server.api("POST", "/api/apps", Some(json!({ "name": "shop" })));
    assert_eq!(status, 201, "{app}");
    assert_eq!(app["git_url"], format!("{}/git/shop.git", server.base));
    assert_eq!(app["ftp_user"], "shop");
    assert!(app["ftp_host"].as_str().unwrap().starts_with("ftp://127.0.0.1:"));
    let password = app["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 20);

    let (status, shown) = server.api("GET", "/api/apps/shop", None);
    assert_eq!(status, 200);
    assert!(shown.get("password").is_none(), "the password is shown once");
    let (_, list) = server.api("GET", "/api/apps", None);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, settings) =
        server.api("PUT", "/api/apps/shop/settings?reveal=true", Some(json!({ "A_KEY": "1", "B": 2, "C": true })));
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings, json!({ "A_KEY": "1", "B": "2", "C": "true" }));
    let (_, masked) = server.api("GET", "/api/apps/shop/settings", None);
    assert_eq!(
        masked,
        json!({ "A_KEY": "••••••••", "B": "••••••••", "C": "••••••••" }),
        "values are masked, keys shown"
    );
    let (status, settings) = server.api("DELETE", "/api/apps/shop/settings/B", None);
    assert_eq!((status, settings.get("B")), (200, None));
    assert_eq!(server.api("DELETE", "/api/apps/shop/settings/B", None).0, 404);

    let (status, reset) = server.api("POST", "/api/apps/shop/credentials/reset", None);
    assert_eq!(status, 200);
    let new_password = reset["password"].as_str().unwrap();
    assert_ne!(new_password, password);
    let repo = Repo::app("3.12", "six\n");
    let (ok, out) = repo.push(&server.git_url("shop", &password), &["main"]);
    assert!(!ok && out.contains("Authentication failed"), "the old password no longer works: {out}");

    let (status, runtimes) = server.api("GET", "/api/runtimes", None);
    assert_eq!(status, 200);
    assert!(runtimes.as_array().unwrap().iter().any(|r| r["version"].as_str().unwrap().starts_with("3.12.")));

    let (status, script) = server.api("GET", "/api/apps/shop/deployment-script", None);
    assert_eq!(status, 200);
    assert!(script["text"].as_str().unwrap().contains("slipway build sync"));

    assert_eq!(server.api("DELETE", "/api/apps/shop", None).0, 200);
    assert!(!server.app_home("shop").exists(), "deleting an app removes its home");
    assert_eq!(server.api("GET", "/api/apps/shop", None).0, 404);
}

#[test]
fn bad_input_gets_json_errors_with_fitting_statuses() {
    let server = TestServer::start();
    server.create_app("real");
    for name in ["A", "ab", "-x-", "has space", "../etc", "trailing-"] {
        let (status, body) = server.api("POST", "/api/apps", Some(json!({ "name": name })));
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with("invalid app name"), "{body}");
    }
    let (status, body) = server.api("POST", "/api/apps", Some(json!({ "name": "real" })));
    assert_eq!((status, body["error"].as_str().unwrap()), (409, "an app named `real` already exists"));
    let (status, body) = server.api("GET", "/api/apps/ghost", None);
    assert_eq!((status, body["error"].as_str().unwrap()), (404, "no app `ghost`"));
    let auth = format!("Bearer {}", server.token());
    let (status, body) = server.request("POST", "/api/apps", Some("{ not json".into()), Some(&auth));
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().starts_with("invalid JSON body"), "{body}");
    let (status, body) = server.request("POST", "/api/apps", Some(r#"{"name": 42}"#.into()), Some(&auth));
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        server.request("PUT", "/api/apps/real/settings", Some(json!({ "bad key": "x" }).to_string()), Some(&auth));
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("invalid setting name"), "{body}");
    let huge = json!({ "name": "x".repeat(100_000) }).to_string();
    let (status, body) = server.request("POST", "/api/apps", Some(huge), Some(&auth));
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].is_string());
    // The same checks as the dashboard's: a version no runtime provides is refused, naming it,
    // and none of the settings sent with it is stored.
    let refused = json!({ "PYTHON_VERSION": "3.99", "OTHER": "x" });
    let (status, body) = server.api("PUT", "/api/apps/real/settings", Some(refused));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("setting PYTHON_VERSION: no runtime on this server provides Python 3.99"));
    assert!(server.api("GET", "/api/apps/real/settings", None).1.get("OTHER").is_none());
    let (status, body) = server.api("GET", "/api/apps/real/deployments/abc", None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid deployment `abc`: expected a number such as `v3` or an id");
    assert_eq!(server.api("GET", "/api/apps/real/deployments/99", None).0, 404);
    assert_eq!(server.api("GET", "/api/nope", None).0, 404);
}

#[test]
fn the_api_wants_the_admin_token() {
    let server = TestServer::start();
    let token_file = server.data_dir().join("admin-token");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&token_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let (status, body) = server.request("GET", "/api/apps", None, None);
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("missing admin token"));
    assert_eq!(server.request("GET", "/api/apps", None, Some("Bearer wrong")).0, 401);
    assert!(!server.store_contents().contains(&server.token()), "the token is stored hashed");
}

#[test]
fn git_credentials_work_for_their_own_app_only_and_never_reach_a_log() {
    let server = TestServer::start();
    let mine = server.create_app("mine");
    let theirs = server.create_app("theirs");
    let repo = Repo::app("3.12", "six\n");
    let wrong = server.git_url("mine", "not-the-password");
    let (ok, out) = repo.push(&wrong, &["main"]);
    assert!(!ok && out.contains("Authentication failed"), "{out}");
    let other = server.git_url("mine", &theirs).replace("mine:", "theirs:");
    let (ok, out) = repo.push(&other, &["main"]);
    assert!(!ok && out.contains("Authentication failed"), "another app's credentials: {out}");
    let crossed = server.git_url("mine", &theirs);
    assert!(!repo.push(&crossed, &["main"]).0, "another app's password with this app's name");

    let out = repo.push_ok(&server.git_url("mine", &mine), &["main"]);
    assert!(out.contains("Deployment v1 succeeded"));
    // An unauthenticated request gets a challenge.
    let (status, _) = server.request("GET", "/git/mine.git/info/refs?service=git-upload-pack", None, None);
    assert_eq!(status, 401);
    // So does one for an app that does not exist: without the password, that is not told.
    assert_eq!(server.request("GET", "/git/ghost.git/info/refs?service=git-upload-pack", None, None).0, 401);

    let mut logs = server.server_log();
    for entry in walkdir::WalkDir::new(server.data_dir().join("apps")).into_iter().flatten() {
        if entry.file_name() == "log.txt" {
            logs.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    for secret in [&mine, &theirs, &server.token()] {
        assert!(!logs.contains(secret.as_str()), "a secret reached a log");
    }
    assert!(!server.store_contents().contains(&mine), "passwords are stored hashed");
}

#[test]
fn pushes_of_other_branches_are_stored_and_deleting_the_deployment_branch_is_refused() {
    let (server, _, url, repo) = TestServer::with_deployed_app("branches", "six\n");
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.commit("feature work");
    let out = repo.push_ok(&url, &["feature"]);
    assert!(out.contains("`feature` stored, not deployed: only `main` is deployed"), "{out}");
    assert_eq!(server.deployments("branches").len(), 1);

    let (ok, out) = repo.push(&url, &[":main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("refusing to delete `main`"), "{out}");

    // DEPLOYMENT_BRANCH moves deployments to another branch.
    server.set_settings("branches", json!({ "DEPLOYMENT_BRANCH": "feature" }));
    repo.commit("deploy me");
    let out = repo.push_ok(&url, &["feature"]);
    assert!(out.contains("Deployment v2 succeeded"), "{out}");
}

#[test]
fn a_repository_without_python_fails_with_what_was_expected() {
    let server = TestServer::start();
    let password = server.create_app("static-site");
    let repo = Repo::new();
    repo.write("index.html", "<h1>hi</h1>");
    repo.commit("static");
    let (ok, out) = repo.push(&server.git_url("static-site", &password), &["main"]);
    assert!(!ok);
    assert!(out.contains("the repository has no Python files"), "{out}");
}

#[test]
fn vfs_reads_writes_and_deletes_inside_the_app_home_only() {
    let server = TestServer::start();
    let password = server.create_app("files");
    let repo = Repo::app("3.12", "six\n");
    repo.push_ok(&server.git_url("files", &password), &["main"]);
    let (status, listing) = server.api("GET", "/api/apps/files/vfs/site/wwwroot/", None);
    assert_eq!(status, 200);
    let names: Vec<&str> = listing.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"app.py") && names.contains(&"env"), "{names:?}");
    let (status, body) = server.api("GET", "/api/apps/files/vfs/site/wwwroot/app.py", None);
    assert_eq!(status, 200);
    assert_eq!(body["text"], PLAIN_APP);

    let auth = format!("Bearer {}", server.token());
    let (status, _) =
        server.request("PUT", "/api/apps/files/vfs/site/wwwroot/notes/new.txt", Some("hello".into()), Some(&auth));
    assert_eq!(status, 201);
    assert_eq!(std::fs::read_to_string(server.wwwroot("files").join("notes/new.txt")).unwrap(), "hello");

    for escape in ["/api/apps/files/vfs/../../admin-token", "/api/apps/files/vfs/site/%2e%2e/%2e%2e/%2e%2e/admin-token"]
    {
        let (status, body) = server.api("GET", escape, None);
        assert!(status == 403 || status == 404, "{escape}: {status} {body}");
        assert!(!body.to_string().contains(&server.token()));
    }
    std::os::unix::fs::symlink(server.data_dir(), server.wwwroot("files").join("out")).unwrap();
    let (status, body) = server.api("GET", "/api/apps/files/vfs/site/wwwroot/out/admin-token", None);
    assert_eq!(status, 403, "{body}");

    let (status, body) = server.api("DELETE", "/api/apps/files/vfs/site/wwwroot/env", None);
    assert_eq!(status, 409, "{body}");
    let (status, _) = server.api("DELETE", "/api/apps/files/vfs/site/wwwroot/env?recursive=true", None);
    assert_eq!(status, 200);
    assert!(!server.wwwroot("files").join("env").exists());
    repo.commit("after deleting env");
    let out = repo.push_ok(&server.git_url("files", &password), &["main"]);
    assert!(out.contains("No virtual environment at"), "{out}");
}

#[test]
fn https_with_a_self_signed_certificate_serves_the_api_and_git() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(certs.path());
    let data = tempfile::Builder::new().prefix("slipway-srv-").tempdir().unwrap();
    let server = TestServer::start_in_with(data, &["--tls-cert", &cert, "--tls-key", &key]);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let (status, runtimes) = server.api("GET", "/api/runtimes", None);
    assert_eq!(status, 200, "{runtimes}");
    let password = server.create_app("secure");
    let (_, app) = server.api("GET", "/api/apps/secure", None);
    assert!(app["git_url"].as_str().unwrap().starts_with("https://"), "{app}");

    let repo = Repo::app("3.12", "six\n");
    let mut push = repo.git_command(&["push", &server.git_url("secure", &password), "main"]);
    let out = push.env("GIT_SSL_CAINFO", &cert).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("remote: Deployment v1 succeeded."), "{text}");

    // Plain HTTP on the TLS port gets nowhere.
    let plain = server.base.replace("https://", "http://");
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", &format!("{plain}/api/runtimes")])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200");
}

#[test]
fn a_bad_certificate_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["serve", "--http", "127.0.0.1:0", "--ftp", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cert.pem") && stderr.contains("expected a PEM"), "{stderr}");
}
