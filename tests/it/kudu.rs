//! Kudu's ways in (issue 16): zipdeploy (`POST /api/apps/APP/zipdeploy`, `slipway deploy`), the
//! inbound webhook that deploys a push to a remote repository, and the outbound webhooks called
//! when a deployment ends.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cli::cli;
use crate::server_support::*;
use crate::support::repo_root;

/// `curl -s -X POST ARGS…`: (status, JSON answer, or the text when it is not JSON).
fn curl_post(args: &[&str]) -> (u16, Value) {
    let out =
        Command::new("curl").args(["-s", "-X", "POST", "-w", "\n%{http_code}"]).args(args).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

/// A file POSTed to the API with the admin token.
fn post_file(server: &TestServer, path: &str, file: &Path) -> (u16, Value) {
    let auth = format!("Authorization: Bearer {}", server.token());
    curl_post(&["--data-binary", &format!("@{}", file.display()), "-H", &auth, &format!("{}{path}", server.base)])
}

#[test]
fn slipway_deploy_uploads_each_example_and_it_runs() {
    let server = TestServer::start();
    for (app, example, answer) in [
        ("zflask", "flask-hello", "Hello from Flask on slipway!\n"),
        ("zfast", "fastapi-hello", r#"{"message":"Hello from FastAPI on slipway!"}"#),
        ("zdjango", "django-hello", "Hello from Django on slipway!\n"),
    ] {
        server.create_app(app);
        let dir = repo_root().join("examples").join(example);
        let out = cli(&server, &["deploy", app, dir.to_str().unwrap()]).ok();
        assert!(out.stderr.contains("Deployment v1 started (zipdeploy)."), "{}", out.stderr);
        assert!(out.stdout.contains("Step timings:"), "the log is followed to its end: {}", out.stdout);
        assert_eq!(server.get_app(app, "/"), (200, answer.to_string()), "{example}");
    }
    let shown = cli(&server, &["apps", "show", "zflask"]).ok().stdout;
    assert!(shown.contains("Live:        code uploaded by zipdeploy (`slipway deploy`), not from `main`"), "{shown}");
    let apps = cli(&server, &["apps", "list"]).ok().stdout;
    assert!(apps.lines().any(|l| l.starts_with("zflask") && l.contains(" deployed ")), "not a rollback: {apps}");
    let listed = cli(&server, &["deployments", "zflask", "--json"]).ok().json();
    assert_eq!(
        (listed[0]["trigger"].as_str(), listed[0]["message"].as_str()),
        (Some("zipdeploy"), Some("zipdeploy: 3 files, 149 bytes"))
    );
}

#[test]
fn zipdeploy_takes_a_zip_refuses_what_is_not_an_app_and_leaves_git_pushes_working() {
    let server = TestServer::start();
    let password = server.create_app("zipped");
    let work = tempfile::tempdir().unwrap();
    let repo = Repo::app("3.12", "six\n");
    // A zip made by Python's zipfile, with the app in one top folder (as GitHub's downloads are).
    let folder = work.path().join("zipped-main");
    std::fs::create_dir(&folder).unwrap();
    for file in ["app.py", "runtime.txt", "requirements.txt"] {
        std::fs::copy(repo.path().join(file), folder.join(file)).unwrap();
    }
    let zip = work.path().join("app.zip");
    let made = Command::new("python3").args(["-m", "zipfile", "-c"]).arg(&zip).arg(&folder).status().unwrap();
    assert!(made.success());
    let (status, answer) = post_file(&server, "/api/apps/zipped/zipdeploy", &zip);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["files"], 3);
    let number = answer["deployment"]["number"].as_i64().unwrap();
    let done = server.wait_for("zipped", format!("v{number}"));
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(server.get_app("zipped", "/").0, 200);

    // What is not an app archive is refused with what was expected; nothing is deployed.
    let junk = work.path().join("junk.bin");
    std::fs::write(&junk, "not an archive").unwrap();
    let (status, answer) = post_file(&server, "/api/apps/zipped/zipdeploy", &junk);
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().starts_with("zipdeploy: the upload is neither a zip nor a gzipped tar"),
        "{answer}"
    );
    let evil = work.path().join("evil.zip");
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr('../../escape.py', 'x')";
    assert!(Command::new("python3").args(["-c", script]).arg(&evil).status().unwrap().success());
    let (status, answer) = post_file(&server, "/api/apps/zipped/zipdeploy", &evil);
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("`../../escape.py` leads outside the app"), "{answer}");
    assert_eq!(server.api("GET", "/api/apps/zipped/deployments", None).1.as_array().unwrap().len(), 1);

    // The branch was left alone: a git push of unrelated history still deploys.
    repo.push_ok(&server.git_url("zipped", &password), &["main"]);
    let (_, deployments) = server.api("GET", "/api/apps/zipped/deployments", None);
    assert_eq!(
        (deployments[0]["trigger"].as_str(), deployments[0]["status"].as_str()),
        (Some("push"), Some("success"))
    );
    // And the uploaded code can be deployed again.
    let (status, again) = server.api("POST", "/api/apps/zipped/deployments/v1/redeploy", None);
    assert_eq!(status, 202, "{again}");
}

/// A JSON body POSTed to any URL with extra headers.
fn post_json(url: &str, headers: &[&str], body: &str) -> (u16, Value) {
    let mut args = vec!["-H", "Content-Type: application/json", "--data-binary", body];
    for header in headers {
        args.extend(["-H", header]);
    }
    args.push(url);
    curl_post(&args)
}

#[test]
fn the_webhook_deploys_pushes_to_the_remote_repository_and_nothing_else() {
    let server = TestServer::start();
    server.create_app("hooked");
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote.git");
    assert!(Command::new("git")
        .args(["init", "--quiet", "--bare", "-b", "main"])
        .arg(&remote)
        .status()
        .unwrap()
        .success());
    let remote = remote.to_str().unwrap();
    let repo = Repo::app("3.12", "six\n");
    repo.git(&["push", "--quiet", remote, "main"]);
    let first = repo.head();

    let none = cli(&server, &["webhook", "hooked"]).ok();
    assert!(
        none.stdout.starts_with("No webhook yet") && none.stderr.contains("DEPLOYMENT_REPOSITORY"),
        "{}",
        none.stderr
    );
    cli(&server, &["config", "set", "hooked", &format!("DEPLOYMENT_REPOSITORY={remote}"), "--no-restart"]).ok();
    let made = cli(&server, &["webhook", "hooked", "--reset"]).ok().stdout;
    let url = made.lines().next().unwrap().strip_prefix("Webhook URL (shown once): ").unwrap().to_string();
    assert!(url.starts_with(&format!("{}/hooks/hooked/", server.base)), "{url}");
    let shown = cli(&server, &["webhook", "hooked"]).ok().stdout;
    assert!(shown.contains("/hooks/hooked/••••••••") && !shown.contains(url.rsplit('/').next().unwrap()), "{shown}");

    let github =
        |commit: &str, branch: &str| format!(r#"{{"ref":"refs/heads/{branch}","after":"{commit}","repository":{{}}}}"#);
    let (status, pong) = post_json(&url, &["X-GitHub-Event: ping"], "{}");
    assert_eq!((status, pong["ignored"].as_str()), (200, Some("pong: the webhook is set up")));
    let (status, other) = post_json(&url, &["X-GitHub-Event: push"], &github(&first, "feature"));
    assert_eq!(status, 200);
    assert_eq!(other["ignored"], "`refs/heads/feature` is not the deployment branch `main`");
    let wrong = url.replace("/hooks/hooked/", "/hooks/hooked/x");
    for bad in [wrong.as_str(), &format!("{}/hooks/ghost/secret", server.base)] {
        let (status, answer) = post_json(bad, &["X-GitHub-Event: push"], &github(&first, "main"));
        assert_eq!(status, 404, "{answer}");
        assert!(answer["error"].as_str().unwrap().starts_with("no such webhook"), "{answer}");
    }

    // GitHub's push, form-encoded (a new GitHub webhook's default): fetched from the remote and deployed.
    let payload = format!("payload={}", github(&first, "main"));
    let (status, started) = curl_post(&["-H", "X-GitHub-Event: push", "--data-urlencode", &payload, &url]);
    assert_eq!(status, 202, "{started}");
    let done = server.wait_for("hooked", "v1");
    assert_eq!(
        (done["status"].as_str(), done["trigger"].as_str(), done["commit"].as_str()),
        (Some("success"), Some("webhook"), Some(first.as_str()))
    );
    assert_eq!(server.get_app("hooked", "/").0, 200);

    // GitLab's push of the next commit.
    repo.write("app.py", &crate::server_support::PLAIN_APP.replace("v1", "v2"));
    let second = repo.commit("second");
    repo.git(&["push", "--quiet", remote, "main"]);
    let gitlab =
        format!(r#"{{"object_kind":"push","ref":"refs/heads/main","after":"{second}","checkout_sha":"{second}"}}"#);
    let (status, started) = post_json(&url, &["X-Gitlab-Event: Push Hook"], &gitlab);
    assert_eq!(status, 202, "{started}");
    assert_eq!(server.wait_for("hooked", "v2")["status"], "success");
    assert!(server.get_app("hooked", "/").1.contains("v2"), "the new commit is live");

    // A commit the remote does not have deploys nothing.
    let (status, missing) = post_json(&url, &["X-GitHub-Event: push"], &github(&"ab".repeat(20), "main"));
    assert_eq!(status, 400, "{missing}");
    assert!(missing["error"].as_str().unwrap().contains("is not on `main` of DEPLOYMENT_REPOSITORY"), "{missing}");
}

/// A one-shot HTTP receiver: every request's body, on a channel.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<Value>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/s3cret-path", listener.local_addr().unwrap());
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = sender.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
    });
    (url, received)
}

#[test]
fn webhooks_are_told_of_each_deployment_that_ends() {
    let server = TestServer::start();
    let password = server.create_app("told");
    let (url, received) = webhook_receiver();
    cli(&server, &["config", "set", "told", &format!("WEBHOOK_URLS={url}"), "--no-restart"]).ok();
    let refused = cli(&server, &["config", "set", "told", "WEBHOOK_URLS=ftp://x"]);
    assert!(refused.stderr.contains("`ftp://x` is not an http:// or https:// URL"), "{}", refused.stderr);
    let repo = Repo::app("3.12", "six\n");
    let git_url = server.git_url("told", &password);
    repo.push_ok(&git_url, &["main"]);
    let told = received.recv_timeout(std::time::Duration::from_secs(20)).expect("the webhook is called");
    assert_eq!(told["status"], "success");
    assert_eq!((told["id"].as_str(), told["version"].as_str()), (Some(repo.head().as_str()), Some("v1")));
    assert_eq!(
        (told["site_name"].as_str(), told["deployer"].as_str(), told["complete"].as_bool()),
        (Some("told"), Some("push"), Some(true))
    );
    assert!(told["end_time"].as_str().is_some_and(|t| t.starts_with("20")), "{told}");

    repo.write("requirements.txt", "no-such-package-anywhere\n");
    repo.commit("a package that does not exist");
    let (ok, _) = repo.push(&git_url, &["main"]);
    assert!(!ok);
    let failed = received.recv_timeout(std::time::Duration::from_secs(20)).expect("told of the failure");
    assert_eq!((failed["status"].as_str(), failed["version"].as_str()), (Some("failed"), Some("v2")));
    assert!(!failed["status_text"].as_str().unwrap().is_empty(), "{failed}");
    let log = cli(&server, &["logs", "told", "--source", "webhook"]).ok().stdout;
    let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
    assert!(log.contains(&format!(" v1 webhook: POST http://127.0.0.1:{port}/… → 200")), "{log}");
    assert!(!log.contains("s3cret-path"), "the URL's path is not logged: {log}");
}
