//! The dashboard over HTTP, as a browser sends it: logging in, the session cookie, CSRF, and
//! escaping of everything users control. The same pages in a real Chromium: `scripts/e2e.sh`,
//! run by [`dashboard_in_headless_chromium`].

use std::collections::HashMap;
use std::process::Command;

use crate::server_support::{Repo, TestServer};
use crate::support::repo_root;

struct Response {
    status: u16,
    headers: HashMap<String, Vec<String>>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers.get("set-cookie").cloned().unwrap_or_default()
    }
}

/// A browser's side of the conversation: no redirects followed, the session cookie sent by hand.
struct Client {
    base: String,
    agent: ureq::Agent,
    cookie: Option<String>,
}

impl Client {
    fn new(server: &TestServer) -> Self {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
        Client { base: server.base.clone(), agent, cookie: None }
    }

    fn send(&self, method: &str, path: &str, form: Option<&[(&str, &str)]>, extra: &[(&str, &str)]) -> Response {
        let mut request = ureq::http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = match form {
            Some(fields) => {
                let body =
                    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
                self.agent.run(request.header("Content-Type", "application/x-www-form-urlencoded").body(body).unwrap())
            }
            None => self.agent.run(request.body(()).unwrap()),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let mut headers: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in response.headers() {
            headers.entry(name.as_str().to_string()).or_default().push(value.to_str().unwrap_or_default().to_string());
        }
        let body = response.into_body().read_to_string().unwrap_or_default();
        Response { status, headers, body }
    }

    fn get(&self, path: &str) -> Response {
        self.send("GET", path, None, &[])
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.send("POST", path, Some(form), &[])
    }

    /// Logs in with the admin token; keeps the session cookie.
    fn login(server: &TestServer) -> Self {
        let mut client = Client::new(server);
        let response = client.post("/login", &[("token", &server.token())]);
        assert_eq!(response.status, 303, "{}", response.body);
        client.cookie = Some(session_cookie(&response).expect("a session cookie"));
        client
    }

    /// The CSRF token the pages put in their forms.
    fn csrf(&self) -> String {
        let page = self.get("/");
        assert_eq!(page.status, 200);
        hidden_csrf(&page.body).expect("the page has a CSRF field")
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `slipway_session=<id>` from the response's `Set-Cookie`.
fn session_cookie(response: &Response) -> Option<String> {
    response
        .set_cookies()
        .iter()
        .find(|c| c.starts_with("slipway_session=") && !c.starts_with("slipway_session=;"))
        .map(|c| c.split(';').next().unwrap().to_string())
}

fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[at..].split('"').next()?.to_string())
}

#[test]
fn logging_in_gives_an_http_only_strict_cookie_and_only_for_the_right_token() {
    let server = TestServer::start();
    let anonymous = Client::new(&server);

    let home = anonymous.get("/");
    assert_eq!((home.status, home.header("location")), (303, Some("/login")), "pages need a session");
    let app_page = anonymous.get("/apps/some-app");
    assert_eq!(app_page.header("location"), Some("/login?next=/apps/some-app"), "and come back after logging in");
    let login = anonymous.get("/login");
    assert_eq!(login.status, 200);
    assert!(login.body.contains(r#"name="token""#));

    let wrong = anonymous.post("/login", &[("token", "not-the-token")]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.set_cookies().is_empty(), "a wrong token gets no cookie: {:?}", wrong.set_cookies());
    assert!(wrong.body.contains("not the admin token"), "{}", wrong.body);
    let empty = anonymous.post("/login", &[("token", "")]);
    assert_eq!(empty.status, 401);
    assert!(empty.set_cookies().is_empty());

    let token = server.token();
    let right = anonymous.post("/login", &[("token", &token), ("next", "/apps/some-app")]);
    assert_eq!((right.status, right.header("location")), (303, Some("/apps/some-app")));
    let set_cookie =
        right.set_cookies().into_iter().find(|c| c.starts_with("slipway_session=")).expect("a session cookie");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    assert!(!set_cookie.contains(&token), "the cookie is not the admin token: {set_cookie}");

    let offsite = anonymous.post("/login", &[("token", &token), ("next", "//evil.example/")]);
    assert_eq!(offsite.header("location"), Some("/"), "never sent to another site after logging in");

    let mut client = Client::new(&server);
    client.cookie = session_cookie(&right);
    let home = client.get("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Create an app"));
    assert_eq!(home.header("cache-control"), Some("no-store"));
    assert!(home.header("content-security-policy").is_some_and(|csp| csp.contains("script-src 'self'")));
}

#[test]
fn forged_and_ended_sessions_are_refused() {
    let server = TestServer::start();
    let mut forged = Client::new(&server);
    forged.cookie = Some("slipway_session=bm90LWEtc2Vzc2lvbg".to_string());
    let response = forged.get("/");
    assert_eq!((response.status, response.header("location")), (303, Some("/login")));
    assert!(response.set_cookies().iter().any(|c| c.contains("Max-Age=0")), "a dead cookie is cleared");
    forged.cookie = Some(format!("slipway_session={}", server.token()));
    assert_eq!(forged.get("/").status, 303, "the admin token is not a session id");

    let client = Client::login(&server);
    let csrf = client.csrf();
    assert_eq!(client.post("/logout", &[]).status, 403, "logging out is a form like any other");
    let logout = client.post("/logout", &[("csrf", &csrf)]);
    assert_eq!((logout.status, logout.header("location")), (303, Some("/login")));
    assert!(logout.set_cookies().iter().any(|c| c.starts_with("slipway_session=;") && c.contains("Max-Age=0")));
    assert_eq!(client.get("/").status, 303, "the session ended at logout (as an expired one does)");
    let late_form = client.post("/apps", &[("csrf", &csrf), ("name", "late-app")]);
    assert_eq!(late_form.header("location"), Some("/login?expired=1"));
    let (status, _) = server.api("GET", "/api/apps/late-app", None);
    assert_eq!(status, 404, "a form sent after logout does nothing");
}

#[test]
fn every_form_needs_the_session_csrf_token() {
    let server = TestServer::start();
    server.create_app("guarded");
    let client = Client::login(&server);
    let csrf = client.csrf();

    let forms: &[(&str, &[(&str, &str)])] = &[
        ("/apps", &[("name", "sneaky")]),
        ("/apps/guarded/settings", &[("key", "EVIL"), ("value", "1"), ("action", "save")]),
        ("/apps/guarded/settings/python", &[("version", "")]),
        ("/apps/guarded/credentials/reset", &[]),
        ("/apps/guarded/env/reset", &[]),
        ("/apps/guarded/deployments/1/redeploy", &[]),
        ("/logout", &[]),
    ];
    for (path, fields) in forms {
        let missing = client.post(path, fields);
        assert_eq!(missing.status, 403, "POST {path} without a CSRF token: {}", missing.body);
        assert!(missing.body.contains("CSRF"), "{}", missing.body);
        let mut wrong = fields.to_vec();
        wrong.push(("csrf", "0000000000000000000000000000000000000000000"));
        assert_eq!(client.post(path, &wrong).status, 403, "POST {path} with a wrong CSRF token");
    }
    let other_session = Client::login(&server).csrf();
    assert_ne!(other_session, csrf, "each session has its own token");
    assert_eq!(
        client.post("/apps", &[("csrf", &other_session), ("name", "sneaky")]).status,
        403,
        "another session's token"
    );
    let cross_site = client.send(
        "POST",
        "/apps",
        Some(&[("csrf", &csrf), ("name", "sneaky")]),
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(cross_site.status, 403, "a form from another origin");

    let (status, _) = server.api("GET", "/api/apps/sneaky", None);
    assert_eq!(status, 404, "no refused form created anything");
    let (_, settings) = server.api("GET", "/api/apps/guarded/settings", None);
    assert!(settings.get("EVIL").is_none(), "{settings}");

    // With the token, the same form works.
    let created = client.post("/apps", &[("csrf", &csrf), ("name", "welcome")]);
    assert_eq!((created.status, created.header("location")), (303, Some("/apps/welcome")), "{}", created.body);
    let page = client.get("/apps/welcome");
    assert!(page.body.contains(r#"id="new-password""#), "the new password is shown once");
    assert!(page.body.contains("git remote add slipway http://welcome:"));
    assert!(!client.get("/apps/welcome").body.contains(r#"id="new-password""#), "and only once");
    let bad_name = client.post("/apps", &[("csrf", &csrf), ("name", "Bad Name!")]);
    assert_eq!(bad_name.status, 400);
    assert!(bad_name.body.contains("invalid app name"), "{}", bad_name.body);
}

#[test]
fn user_content_is_escaped_and_env_reset_works_from_the_dashboard() {
    let server = TestServer::start();
    let password = server.create_app("escapes");
    let client = Client::login(&server);
    let csrf = client.csrf();

    let odd = r#"<b>"'&"#;
    let saved =
        client.post("/apps/escapes/settings", &[("csrf", &csrf), ("key", "ODD"), ("value", odd), ("action", "save")]);
    assert_eq!((saved.status, saved.header("location")), (303, Some("/apps/escapes#settings")));
    let (_, settings) = server.api("GET", "/api/apps/escapes/settings?reveal=true", None);
    assert_eq!(settings["ODD"], odd, "stored as typed");
    let masked = client.get("/apps/escapes");
    assert!(masked.body.contains("••••••••") && !masked.body.contains("&#60;b&#62;"), "masked until revealed");
    let global = client.post(
        "/settings",
        &[("csrf", &csrf), ("key", "SENTRY_DSN"), ("value", "https://k3y@sentry.example/1"), ("action", "save")],
    );
    assert_eq!((global.status, global.header("location")), (303, Some("/settings#settings")));
    let server_page = client.get("/settings");
    assert!(server_page.body.contains("SENTRY_DSN") && !server_page.body.contains("k3y"), "masked server-wide");
    let inherited = client.get("/apps/escapes").body;
    assert!(inherited.contains(r#"id="inherited-settings""#) && inherited.contains("SENTRY_DSN=••••••••"));
    let revealed = client.get("/apps/escapes?reveal=true");
    assert!(revealed.body.contains(r#"value="&#60;b&#62;&#34;&#39;&#38;""#), "revealed, escaped");
    let bad_key =
        client.post("/apps/escapes/settings", &[("csrf", &csrf), ("key", "<i>x"), ("value", "1"), ("action", "save")]);
    assert_eq!(bad_key.status, 303);
    let python = client.post("/apps/escapes/settings/python", &[("csrf", &csrf), ("version", "9.99")]);
    assert_eq!(python.status, 303);
    let (_, settings) = server.api("GET", "/api/apps/escapes/settings", None);
    assert!(settings.get("PYTHON_VERSION").is_none(), "a version no runtime provides is refused: {settings}");

    let repo = Repo::app("3.12", "six\n");
    repo.write("app.py", &crate::server_support::PLAIN_APP.replace("v1", "v2"));
    let script = "<script>alert(1)</script>";
    repo.commit(&format!("{script} & \"quotes\""));
    repo.push_ok(&server.git_url("escapes", &password), &["main"]);
    let deployment = server.active("escapes").expect("the push deployed");
    let id = deployment["id"].as_i64().unwrap();

    let app_page = client.get("/apps/escapes");
    assert_eq!(app_page.status, 200);
    let deployment_page = client.get(&format!("/apps/escapes/deployments/{id}"));
    assert_eq!(deployment_page.status, 200);
    for (name, html) in [("app page", &app_page.body), ("deployment page", &deployment_page.body)] {
        assert!(!html.contains(script), "{name} has the raw <script>");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;quotes&#34;"),
            "{name} shows the message as text:\n{html}"
        );
        assert!(html.contains("Ada Tester &#60;ada@example.com&#62;"), "{name} escapes the author");
        assert_eq!(html.matches("<script").count(), 1, "{name}: only the dashboard's own script");
    }
    assert!(!app_page.body.contains(odd), "the setting value is not raw HTML");
    assert!(
        app_page.body.contains("invalid setting name `&#60;i&#62;x`"),
        "the refused key is explained, escaped:\n{}",
        app_page.body
    );
    assert!(
        app_page.body.contains("setting PYTHON_VERSION: no runtime on this server provides Python 9.99"),
        "so is the refused version, in the same words as the API"
    );
    assert!(!app_page.body.contains("<i>x"), "never raw");
    let home = client.get("/");
    assert!(
        !home.body.contains(script) && home.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the app list shows the message as text"
    );
    assert!(deployment_page.body.contains("Step timings"));
    assert!(deployment_page.body.contains(r#"id="steps""#), "per-step timings are shown");

    // The follow route (the page's live log) needs the session, not the admin token.
    let follow = client.get(&format!("/apps/escapes/deployments/{id}/follow?offset=0"));
    assert_eq!(follow.status, 200);
    let followed: serde_json::Value = serde_json::from_str(&follow.body).unwrap();
    assert_eq!(followed["finished"], true);
    let number = deployment["number"].as_i64().unwrap();
    assert!(followed["text"].as_str().unwrap().contains(&format!("Deployment v{number} succeeded.")));
    let by_number = client.get(&format!("/apps/escapes/deployments/v{number}"));
    assert_eq!((by_number.status, by_number.body.contains(&format!("Deployment v{number}"))), (200, true));
    assert_eq!(Client::new(&server).get(&format!("/apps/escapes/deployments/{id}/follow")).status, 303);

    // Reset Python environment: a confirmation page, then the reset as the API does it.
    let confirm = client.get("/apps/escapes/env/reset");
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains(r#"action="/apps/escapes/env/reset""#));
    let reset = client.post("/apps/escapes/env/reset", &[("csrf", &csrf)]);
    assert_eq!(reset.status, 303);
    let location = reset.header("location").unwrap().to_string();
    let reset_id = location.strip_prefix("/apps/escapes/deployments/").expect("sent to the new deployment");
    assert!(reset_id.strip_prefix('v').unwrap().parse::<i64>().unwrap() > number, "{location}");
    let record = server.wait_for("escapes", reset_id);
    assert_eq!(record["status"], "success", "{}", server.deployment_log("escapes", reset_id));
    assert_eq!(record["clean_env"], true);
    assert_eq!(record["trigger"], "env-reset");

    let redeploy = client.post(&format!("/apps/escapes/deployments/{id}/redeploy"), &[("csrf", &csrf)]);
    assert_eq!(redeploy.status, 303);
    let redeploy_id = redeploy.header("location").unwrap().rsplit('/').next().unwrap().to_string();
    assert!(redeploy_id.starts_with('v'), "the dashboard names deployments by number: {redeploy_id}");
    let record = server.wait_for("escapes", &redeploy_id);
    assert_eq!((record["status"].as_str(), record["clean_env"].as_bool()), (Some("success"), Some(false)));
}

#[test]
fn the_app_page_shows_processes_cron_jobs_and_runs_and_runs_a_job_now() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    repo.write("Procfile", "web: python app.py\nworker: sh -c 'while true; do sleep 1; done'\n")
        .write("app.json", r#"{"cron": [{"command": "echo 'ran <from> the dashboard'", "schedule": "0 3 * * *"}]}"#);
    repo.commit("a worker and a cron job");
    let password = server.create_app("busy");
    repo.push_ok(&server.git_url("busy", &password), &["main"]);

    let client = Client::login(&server);
    let page = client.get("/apps/busy").body;
    for expected in [r#"data-process="web.1""#, r#"data-process="worker.1""#, r#"data-cron="1""#, "0 3 * * *"] {
        assert!(page.contains(expected), "no {expected} in the page");
    }
    let csrf = hidden_csrf(&page).unwrap();
    let ran = client.post("/apps/busy/cron/run", &[("csrf", &csrf), ("number", "1")]);
    assert_eq!(ran.status, 303, "{}", ran.body);
    // Domains from the page.
    let added = client.post("/apps/busy/domains", &[("csrf", &csrf), ("domain", "Busy.Test")]);
    assert_eq!(added.status, 303);
    assert!(client.get("/apps/busy").body.contains(r#"data-domain="busy.test""#), "the domain is listed");
    client.post("/apps/busy/domains", &[("csrf", &csrf), ("domain", "not a domain")]);
    assert!(client.get("/apps/busy").body.contains("is not a domain name"), "the error is shown");

    // The run, how it ended, and its output (escaped).
    crate::server_support::wait_until(std::time::Duration::from_secs(20), "the run to end", || {
        let page = client.get("/apps/busy").body;
        let ended = page.contains(r#"data-run="1""#) && page.contains("exit status: 0");
        (ended && page.contains("ran &#60;from&#62; the dashboard")).then_some(())
    });
}

#[test]
fn the_app_page_restarts_stops_starts_scales_follows_the_log_and_deletes() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    repo.write("Procfile", "web: python app.py\nworker: sh -c 'echo worker up; while true; do sleep 1; done'\n");
    repo.commit("a worker");
    let password = server.create_app("acts");
    repo.push_ok(&server.git_url("acts", &password), &["main"]);
    let client = Client::login(&server);
    let page = client.get("/apps/acts").body;
    let csrf = hidden_csrf(&page).unwrap();
    for expected in [
        r#"id="restart-app""#,
        r#"id="stop-app""#,
        r#"id="scale-worker""#,
        r#"tr class="deploy-row is-active" data-deployment="v1""#,
    ] {
        assert!(page.contains(expected), "no {expected} in the page");
    }
    let flash_after = |path: &str, fields: &[(&str, &str)]| {
        let answer = client.post(path, fields);
        assert_eq!(answer.status, 303, "{path}: {}", answer.body);
        client.get(answer.header("location").unwrap().split('#').next().unwrap()).body
    };

    // Scale: two workers, then a count that is not one.
    let scaled = flash_after("/apps/acts/scale", &[("csrf", &csrf), ("web", "1"), ("worker", "2")]);
    assert!(scaled.contains("Scaled to web × 1, worker × 2.") && scaled.contains(r#"data-process="worker.2""#));
    let refused = flash_after("/apps/acts/scale", &[("csrf", &csrf), ("worker", "lots")]);
    assert!(refused.contains("`worker` wants a number of processes, not `lots`"), "the error is shown");

    // Stop, start, restart.
    let stopped = flash_after("/apps/acts/processes", &[("csrf", &csrf), ("action", "stop")]);
    assert!(stopped.contains("Stopped: requests get 502") && stopped.contains(r#"id="start-app""#));
    assert_eq!(server.get_app("acts", "/").0, 502);
    let started = flash_after("/apps/acts/processes", &[("csrf", &csrf), ("action", "start")]);
    assert!(started.contains("Started.") && started.contains(r#"id="stop-app""#));
    assert_eq!(server.get_app("acts", "/").0, 200);
    let restarted = flash_after("/apps/acts/processes", &[("csrf", &csrf), ("action", "restart")]);
    assert!(restarted.contains("Restarted: new processes took over."));

    // The log, by source, and what comes after the page's offset (what its script polls).
    let routed = client.get("/apps/acts?source=router").body;
    assert!(
        routed.contains("host=acts.localhost request_id=") && routed.contains(" status=502 "),
        "the router's lines"
    );
    assert!(!routed.contains(" worker.1: worker up"), "only the router's");
    assert!(client.get("/apps/acts").body.contains(" worker.1: worker up"), "all sources by default");
    let offset = routed.split(r#"data-offset=""#).nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(server.get_app("acts", "/after").0, 200);
    crate::server_support::wait_until(std::time::Duration::from_secs(10), "the followed line", || {
        let next = client.get(&format!("/apps/acts/logs/follow?offset={offset}&source=router")).body;
        next.contains(r#"path=\"/after\""#).then_some(())
    });
    let chart = client.get("/apps/acts").body;
    assert!(chart.contains(r#"id="requests-chart""#) && chart.contains("<rect"), "the requests chart has bars");
    // Memory and CPU are sampled every few seconds.
    crate::server_support::wait_until(std::time::Duration::from_secs(20), "a memory bar", || {
        let page = client.get("/apps/acts").body;
        let memory = page.split(r#"id="memory-chart""#).nth(1)?.split("</svg>").next()?.to_string();
        memory.contains("<rect").then_some(())
    });

    // The deployment webhook's URL, made on the page and shown once; it answers GitHub's ping.
    assert!(chart.contains("No webhook yet.") && chart.contains("Set <code>DEPLOYMENT_REPOSITORY</code>"));
    let made = flash_after("/apps/acts/webhook/reset", &[("csrf", &csrf)]);
    let url = made.split("New webhook URL, shown once: ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/hooks/acts/", server.base)), "{url}");
    assert!(made.contains("A webhook URL exists") && !client.get("/apps/acts").body.contains(&url), "shown once");
    let ping = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "X-GitHub-Event: ping", "-d", "{}", &url])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&ping.stdout).into_owned();
    assert!(answer.contains("pong"), "the URL from the page works: {url} → {answer}");

    // Delete: a wrong name deletes nothing; the right one deletes the app.
    assert!(client.get("/apps/acts/delete").body.contains(r#"id="confirm-name""#));
    let kept = flash_after("/apps/acts/delete", &[("csrf", &csrf), ("confirm", "act")]);
    assert!(kept.contains("Nothing was deleted: type `acts` to confirm."));
    assert_eq!(server.api("GET", "/api/apps/acts", None).0, 200);
    let home = flash_after("/apps/acts/delete", &[("csrf", &csrf), ("confirm", "acts")]);
    assert!(home.contains("Deleted acts."), "back on the app list");
    assert_eq!(server.api("GET", "/api/apps/acts", None).0, 404);
}

/// The whole dashboard in Debian's headless Chromium (Playwright), through `scripts/e2e.sh`.
/// `SLIPWAY_SKIP_E2E=1` at build time skips it, and `cargo test` lists it as ignored (for a quick
/// local loop; CI runs it).
#[test]
#[cfg_attr(skip_e2e, ignore = "SLIPWAY_SKIP_E2E is set: the Chromium test is skipped")]
fn dashboard_in_headless_chromium() {
    let root = repo_root();
    let output = Command::new("bash")
        .arg(root.join("scripts/e2e.sh"))
        .current_dir(&root)
        .env("SLIPWAY_BIN", env!("CARGO_BIN_EXE_slipway"))
        .env("E2E_SCREENSHOTS", root.join("target/e2e-screenshots"))
        .output()
        .expect("run scripts/e2e.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scripts/e2e.sh failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("checks passed, 0 failed"), "{stdout}\n{stderr}");
    println!("{stdout}");
}

/// The step table comes from the build's report, not from its log text: a custom script's step
/// `custom script` is one row with its outcome, not split at the space.
#[test]
fn a_custom_script_step_is_one_row_of_the_step_table() {
    let server = TestServer::start();
    let password = server.create_app("scripted");
    let repo = Repo::app("3.12", "six\n");
    repo.write(".deployment", "[config]\ncommand = deploy.sh\n").write("deploy.sh", "echo scripted\nexit 3\n");
    repo.commit("a script that fails");
    let (ok, _) = repo.push(&server.git_url("scripted", &password), &["main"]);
    assert!(!ok);
    let deployment = &server.deployments("scripted")[0];
    let steps: Vec<&str> = deployment["steps"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(steps.contains(&"custom script"), "{steps:?}");
    let page = Client::login(&server).get(&format!("/apps/scripted/deployments/v{}", deployment["number"]));
    let row = page.body.lines().find(|l| l.contains("<td>custom script</td>"));
    assert!(row.is_some_and(|r| r.contains("step-bad") && r.contains("FAILED")), "one row, failed:\n{}", page.body);
    assert!(!page.body.contains("<td>custom</td>"), "not split at its space");
}
