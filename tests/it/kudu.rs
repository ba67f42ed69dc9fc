//! Kudu's ways in (issue 16): zipdeploy (`POST /api/apps/APP/zipdeploy`, `slipway deploy`), the
//! inbound webhook that deploys a push to a remote repository, and the outbound webhooks called
//! when a deployment ends.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cli::cli;
use crate::server_support::*;
use crate::support::repo_root;

/// `curl -X POST --data-binary @file` to the API: (status, JSON answer).
fn post_file(server: &TestServer, path: &str, file: &Path) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", "-w", "\n%{http_code}", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .args(["-H", &format!("Authorization: Bearer {}", server.token()), &format!("{}{path}", server.base)])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
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
