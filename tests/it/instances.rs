//! Several instances (`serve --instance NAME --database postgres://…`) on one machine, sharing
//! the data dir and the database, as App Service's workers share a plan's store and content: any
//! instance takes the push, every instance serves the app, one deployment per app runs across
//! them, a dead builder is noticed, and a switch under load through all of them fails nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::cli::cli;
use crate::postgres::scratch_database;
use crate::server_support::*;

/// `names` started on one data dir and one new database; the temp dir holding the data dir.
fn cluster(names: &[&str]) -> (tempfile::TempDir, Vec<TestServer>) {
    let database = scratch_database();
    let shared = tempfile::Builder::new().prefix("slipway-cluster-").tempdir().unwrap();
    let data = shared.path().join("data");
    let servers = names.iter().map(|name| TestServer::start_instance(&data, name, &database)).collect();
    (shared, servers)
}

/// An app whose build is a script that copies `app.py` and sleeps `seconds`: slow on purpose.
fn slow_repo(seconds: u32, version: &str) -> Repo {
    let repo = Repo::new();
    repo.write("app.py", &PLAIN_APP.replace("\"v1\"", &format!("\"{version}\"")))
        .write(".deployment", "[config]\ncommand = deploy.sh\n")
        .write("deploy.sh", &format!("cp app.py \"$DEPLOYMENT_TARGET/\"\nsleep {seconds}\n"));
    repo.commit(version);
    repo
}

fn wait_for_version(server: &TestServer, app: &str, version: &str) {
    wait_until(Duration::from_secs(60), &format!("{app} answering {version} on {}", server.base), || {
        server.get_app(app, "/").1.starts_with(version).then_some(())
    });
}

#[test]
#[cfg_attr(no_postgres, ignore = "PostgreSQL is not installed (./scripts/setup.sh installs it)")]
fn three_instances_serve_every_app_and_switch_together_without_failing_a_request() {
    let (_shared, servers) = cluster(&["a", "b", "c"]);
    let [a, b, c] = &servers[..] else { unreachable!() };
    let listed = wait_until(Duration::from_secs(20), "three instances up", || {
        let out = cli(b, &["instances"]).ok().stdout;
        (out.lines().filter(|l| l.contains("  up  ")).count() == 3).then_some(out)
    });
    assert!(listed.contains("b (this one)"), "{listed}");

    let password = a.create_app("shared");
    let repo = slow_repo(0, "v1");
    repo.push_ok(&a.git_url("shared", &password), &["main"]);
    for server in [a, b, c] {
        wait_for_version(server, "shared", "v1");
    }
    let ps = wait_until(Duration::from_secs(20), "every instance's web.1 in ps", || {
        let out = cli(c, &["ps", "shared"]).ok().stdout;
        ["a ", "b ", "c "].iter().all(|i| out.lines().any(|l| l.starts_with(i) && l.contains("web.1"))).then_some(out)
    });
    assert!(ps.starts_with("INSTANCE"), "{ps}");

    // FTP on another instance: the same password, the same files.
    let listed = crate::ftp::lftp(c, "shared", &password, "", "cd site/wwwroot; cls -1");
    assert!(crate::ftp::text(&listed).contains("app.py"), "{}", crate::ftp::text(&listed));

    // A login on one instance holds on the others (sessions are in the store).
    let cookie = dashboard_login(a);
    let home = curl_with_cookie(c, &cookie);
    assert!(home.contains("Instances") && home.contains("data-instance=\"a\""), "{home}");

    // A deployment through b while clients hit all three proxies: not one request fails.
    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for server in [a, b, c] {
            for _ in 0..3 {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        match server.raw_get("shared", "/") {
                            Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                            other => {
                                failures.lock().unwrap().push(format!("{}: {other:?}", server.base));
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                });
            }
        }
        // If anything below panics, the clients stop too (or the scope would wait for them forever).
        let _stop_on_panic = StopOnDrop(&stop);
        repo.write("app.py", &PLAIN_APP.replace("\"v1\"", "\"v2\"")).commit("v2");
        repo.push_ok(&b.git_url("shared", &password), &["main"]);
        for server in [a, b, c] {
            wait_for_version(server, "shared", "v2");
        }
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
    });
    for other in [a, c] {
        assert!(other.server_log().contains("shared: instance b says `Release`"), "{}", other.server_log());
    }
    let failures = failures.into_inner().unwrap();
    assert!(ok.load(Ordering::Relaxed) > 100, "the load ran");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests: {failures:?}");

    // Scaling is per instance, and every instance follows.
    cli(a, &["ps", "scale", "shared", "web=2"]).ok();
    wait_until(Duration::from_secs(30), "web.2 on every instance", || {
        let out = cli(b, &["ps", "shared"]).ok().stdout;
        (out.lines().filter(|l| l.contains("web.2")).count() == 3).then_some(())
    });
}

#[test]
#[cfg_attr(no_postgres, ignore = "PostgreSQL is not installed (./scripts/setup.sh installs it)")]
fn pushes_through_two_instances_take_turns_and_a_builder_that_dies_is_noticed() {
    let (_shared, mut servers) = cluster(&["a", "b"]);
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    let password = a.create_app("turns");
    let base = slow_repo(0, "v1");
    base.push_ok(&a.git_url("turns", &password), &["main"]);

    // Two pushes at once of sibling commits, one through each instance: the second waits for the
    // first, says which instance has the app, is then refused (the branch moved), and both are
    // recorded.
    let (first, second) = (clone(&base), clone(&base));
    first.write("deploy.sh", "cp app.py \"$DEPLOYMENT_TARGET/\"\nsleep 4\n").commit("slow sibling");
    second.write("README", "the other sibling\n").commit("quick sibling");
    let slow = first.push_in_background(&a.git_url("turns", &password), "main");
    wait_until(Duration::from_secs(30), "a building", || {
        (a.deployments("turns")[0]["status"] == "building").then_some(())
    });
    let (second_ok, out) = second.push(&b.git_url("turns", &password), &["main"]);
    assert!(out.contains("Another deployment of turns is running on instance a: waiting for it to finish"), "{out}");
    assert!(!second_ok && out.contains("moved while this push waited"), "{out}");
    let (first_ok, first_out) = slow.join().unwrap();
    assert!(first_ok, "{first_out}");
    let deployments = b.deployments("turns");
    assert_eq!(deployments.len(), 3, "both pushes are recorded: {deployments:?}");
    assert_eq!(deployments[1]["status"], "success", "{deployments:?}");

    // a dies in the middle of a build: its deployment is failed and b deploys the next push.
    let next = clone(&first);
    next.write("deploy.sh", "cp app.py \"$DEPLOYMENT_TARGET/\"\nsleep 600\n").commit("hangs");
    let pusher = next.push_in_background(&a.git_url("turns", &password), "main");
    wait_until(Duration::from_secs(30), "a building again", || {
        (a.deployments("turns")[0]["status"] == "building").then_some(())
    });
    let _dir = a.kill9();
    assert!(!pusher.join().unwrap().0, "the dead instance's push fails");
    let failed = wait_until(Duration::from_secs(30), "the dead instance's deployment failed", || {
        let newest = b.deployments("turns")[0].clone();
        (newest["status"] == "failed").then_some(newest)
    });
    assert_eq!(failed["reason"], "instance a stopped while this deployment was running");
    next.write("deploy.sh", "cp app.py \"$DEPLOYMENT_TARGET/\"\n");
    next.write("app.py", &PLAIN_APP.replace("\"v1\"", "\"v5\"")).commit("v5");
    next.push_ok(&b.git_url("turns", &password), &["main"]);
    wait_for_version(&b, "turns", "v5");
    let listed = wait_until(Duration::from_secs(40), "a listed as gone", || {
        let out = cli(&b, &["instances"]).ok().stdout;
        out.lines().any(|l| l.starts_with("a ") && l.contains("gone")).then_some(out)
    });
    assert!(listed.lines().any(|l| l.starts_with("b (this one)") && l.contains("up")), "{listed}");
}

/// Sets its flag when dropped: at the end of a scope, or when a panic unwinds through it.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A clone of `repo`, to make a sibling commit in.
fn clone(repo: &Repo) -> Repo {
    let copy = Repo { dir: tempfile::Builder::new().prefix("slipway-repo-").tempdir().unwrap() };
    let cloned =
        std::process::Command::new("git").arg("clone").arg("-q").arg(repo.path()).arg(copy.path()).output().unwrap();
    assert!(cloned.status.success(), "{}", String::from_utf8_lossy(&cloned.stderr));
    copy
}

/// Logs in to the dashboard of `server` with the admin token; returns the session cookie.
fn dashboard_login(server: &TestServer) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "--data-urlencode", &format!("token={}", server.token())])
        .arg(format!("{}/login", server.base))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stdout).into_owned();
    headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie:\n{headers}"))
        .to_string()
}

fn curl_with_cookie(server: &TestServer, cookie: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-H", &format!("Cookie: {cookie}"), &format!("{}/", server.base)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
