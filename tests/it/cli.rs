//! The client commands (`apps`, `config`, `deployments`, `logs`, `redeploy`, `env`): the real
//! binary against a real server.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::server_support::*;

pub(crate) struct Out {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Asserts exit code 1 and exactly one line on stderr; returns that line.
    pub(crate) fn error_line(&self) -> String {
        self.failure_line(1)
    }

    /// Asserts exit code 2 (a usage error) and exactly one line on stderr; returns that line.
    pub(crate) fn usage_error_line(&self) -> String {
        self.failure_line(2)
    }

    fn failure_line(&self, code: i32) -> String {
        assert_eq!(self.code, Some(code), "expected failure\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{}", lines[0]);
        lines[0].to_string()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// `slipway ARGS` with no SLIPWAY_* variables from the caller's environment.
pub(crate) fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    for variable in ["SLIPWAY_TOKEN", "SLIPWAY_SERVER", "SLIPWAY_DATA_DIR", "SLIPWAY_DATABASE"] {
        command.env_remove(variable);
    }
    command.args(args);
    // Never the login of whoever runs the tests.
    command.env("XDG_CONFIG_HOME", "/nonexistent/slipway-tests");
    // Outside any git repository (`apps create` adds a remote to the one it runs in).
    command.current_dir(std::env::temp_dir());
    command
}

pub(crate) fn run(mut command: Command) -> Out {
    let output = command.output().expect("run slipway");
    Out {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `slipway COMMAND --server <server> --data-dir <its data dir> REST…` (the options right after the
/// command, so that they come before a `--`).
pub(crate) fn cli(server: &TestServer, args: &[&str]) -> Out {
    run(cli_command(server, args))
}

/// The command [`cli`] runs, for a test that spawns it (`logs -f`).
pub(crate) fn cli_command(server: &TestServer, args: &[&str]) -> Command {
    let mut command = bare(&args[..1]);
    command.arg("--server").arg(&server.base).arg("--data-dir").arg(server.data_dir()).args(&args[1..]);
    command
}

/// The table's rows (header skipped), split on runs of two or more spaces.
fn table(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .skip(1)
        .map(|line| line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
        .collect()
}

#[test]
fn apps_create_list_show_reset_password_and_delete() {
    let server = TestServer::start();
    let created = cli(&server, &["apps", "create", "shop"]).ok();
    let out = &created.stdout;
    let password = out.lines().find_map(|l| l.strip_prefix("Password:")).expect("a Password: line").trim().to_string();
    assert!(password.len() >= 20, "{out}");
    assert!(out.contains(&format!("Git URL:   {}/git/shop.git", server.base)), "{out}");
    assert!(out.contains("FTP host:  ftp://127.0.0.1:"), "{out}");
    assert!(out.contains("FTP user:  shop"), "{out}");
    assert!(out.contains("won't be shown again"), "{out}");
    let remote = format!("git remote add slipway {}", server.git_url("shop", &password));
    assert!(out.contains(&remote), "missing {remote:?} in\n{out}");
    // The printed password is the real one: git accepts it.
    let ls = Command::new("git")
        .args(["ls-remote", &server.git_url("shop", &password)])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(ls.status.success(), "{}", String::from_utf8_lossy(&ls.stderr));

    let again = cli(&server, &["apps", "create", "shop"]);
    assert_eq!(again.error_line(), "error: an app named `shop` already exists");
    let bad = cli(&server, &["apps", "create", "Bad_Name"]);
    assert!(bad.error_line().starts_with("error: invalid app name"), "{}", bad.stderr);

    let list = cli(&server, &["apps", "list"]).ok();
    let header: Vec<&str> =
        list.stdout.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["NAME", "STATUS", "LIVE", "COMMIT", "DEPLOYED AT"]);
    assert_eq!(table(&list.stdout), [["shop", "not deployed", "-", "-", "-"]]);
    let listed = cli(&server, &["apps", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "shop");

    let show = cli(&server, &["apps", "show", "shop"]).ok();
    assert!(show.stdout.contains(&format!("{}/git/shop.git", server.base)), "{}", show.stdout);
    assert!(show.stdout.contains("FTP user:    shop"), "{}", show.stdout);
    assert!(!show.stdout.contains(&password), "the password is shown once");
    let shown = cli(&server, &["apps", "show", "shop", "--json"]).ok().json();
    assert_eq!(shown["ftp_user"], "shop");
    assert!(shown.get("password").is_none());

    let reset = cli(&server, &["apps", "reset-password", "shop"]).ok();
    let new_password = reset.stdout.lines().find_map(|l| l.strip_prefix("Password:")).unwrap().trim().to_string();
    assert_ne!(new_password, password);
    assert!(reset.stdout.contains(&server.git_url("shop", &new_password)), "{}", reset.stdout);
    let old = Command::new("git")
        .args(["ls-remote", &server.git_url("shop", &password)])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(!old.status.success(), "the old password no longer works");

    let refused = cli(&server, &["apps", "delete", "shop"]);
    let line = refused.error_line();
    assert!(line.contains("--yes") && line.contains("`shop`"), "{line}");
    assert_eq!(server.api("GET", "/api/apps/shop", None).0, 200, "refused means not deleted");
    let deleted = cli(&server, &["apps", "delete", "shop", "--yes"]).ok();
    assert!(deleted.stdout.contains("Deleted app `shop`"), "{}", deleted.stdout);
    assert_eq!(server.api("GET", "/api/apps/shop", None).0, 404);
    assert!(!server.app_home("shop").exists());
    let empty = cli(&server, &["apps", "list", "--json"]).ok().json();
    assert_eq!(empty, serde_json::json!([]));
}

#[test]
fn server_wide_settings_reach_every_app_that_does_not_set_the_key() {
    let server = TestServer::start();
    let wheels = format!("PIP_FIND_LINKS={}", crate::support::wheelhouse().canonicalize().unwrap().display());
    let set = cli(&server, &["config", "set", "--global", &wheels, "PIP_NO_INDEX=1", "GREETING=server", "SHARED=yes"]);
    assert!(set.ok().stdout.starts_with("Set GREETING, PIP_FIND_LINKS, PIP_NO_INDEX, SHARED server-wide"));
    let reserved = cli(&server, &["config", "set", "--global", "PORT=80"]);
    assert!(reserved.error_line().contains("PORT"), "a reserved name is refused: {}", reserved.stderr);

    // An app with no settings of its own builds offline from the server-wide wheelhouse.
    let (status, created) = server.api("POST", "/api/apps", Some(serde_json::json!({ "name": "inherits" })));
    assert_eq!(status, 201);
    let password = created["password"].as_str().unwrap();
    cli(&server, &["config", "set", "inherits", "GREETING=own", "--no-restart"]).ok();
    let listed = cli(&server, &["config", "list", "inherits"]).ok().stdout;
    assert!(
        listed.starts_with("GREETING=••••••••\n# server-wide, not set on the app:\n")
            && listed.contains("PIP_NO_INDEX=1\nSHARED=••••••••"),
        "{listed}"
    );
    Repo::app("3.12", "flask\n").push_ok(&server.git_url("inherits", password), &["main"]);
    let env = cli(&server, &["run", "inherits", "--", "sh", "-c", "echo $GREETING $SHARED $PIP_NO_INDEX"]).ok().stdout;
    assert_eq!(env.trim(), "own yes 1", "the app's own value wins over the server-wide one");

    let global = cli(&server, &["config", "list", "--global", "--reveal"]).ok().stdout;
    assert!(global.contains("GREETING=server\n") && global.contains("SHARED=yes\n"), "{global}");
    let missing = cli(&server, &["config", "unset", "--global", "SHARED", "NOPE"]);
    assert_eq!(missing.error_line(), "error: no server-wide setting `NOPE`");
    cli(&server, &["config", "unset", "--global", "SHARED"]).ok();
    let global = cli(&server, &["config", "list", "--global"]).ok().stdout;
    assert!(!global.contains("SHARED") && global.contains("GREETING=••••••••"), "{global}");
    let (status, revealed) = server.api("GET", "/api/settings?reveal=true", None);
    assert_eq!((status, revealed["GREETING"].as_str()), (200, Some("server")));
}

#[test]
fn config_set_list_and_unset() {
    let server = TestServer::start();
    cli(&server, &["apps", "create", "conf"]).ok();
    cli(&server, &["config", "set", "conf", "A_KEY=1", "EXPR=x=y", "EMPTY="]).ok();
    let list = cli(&server, &["config", "list", "conf"]).ok();
    assert_eq!(list.stdout, "A_KEY=••••••••\nEMPTY=••••••••\nEXPR=••••••••\n", "masked unless revealed");
    let list = cli(&server, &["config", "list", "conf", "--reveal"]).ok();
    assert_eq!(list.stdout, "A_KEY=1\nEMPTY=\nEXPR=x=y\n");

    // A bad argument is refused before anything is sent.
    let bad = cli(&server, &["config", "set", "conf", "A_KEY=2", "OOPS"]);
    assert_eq!(bad.usage_error_line(), "error: invalid argument `OOPS`: expected KEY=VALUE");
    let build_only = cli(&server, &["config", "set", "conf", "PIP_NO_INDEX=1"]).ok().stdout;
    assert!(build_only.contains("a build reads them: they apply at the next deployment"), "{build_only}");
    cli(&server, &["config", "unset", "conf", "PIP_NO_INDEX"]).ok();
    let invalid = cli(&server, &["config", "set", "conf", "bad key=1"]);
    assert!(invalid.error_line().contains("invalid setting name `bad key`"), "{}", invalid.stderr);
    let settings = cli(&server, &["config", "list", "conf", "--json", "--reveal"]).ok().json();
    assert_eq!(settings, serde_json::json!({ "A_KEY": "1", "EMPTY": "", "EXPR": "x=y" }));

    cli(&server, &["config", "unset", "conf", "A_KEY", "EMPTY"]).ok();
    assert_eq!(cli(&server, &["config", "list", "conf", "--reveal"]).ok().stdout, "EXPR=x=y\n");
    let missing = cli(&server, &["config", "unset", "conf", "EXPR", "NOPE"]);
    assert_eq!(missing.error_line(), "error: app `conf` has no setting `NOPE`");
    assert_eq!(
        cli(&server, &["config", "list", "conf", "--reveal"]).ok().stdout,
        "EXPR=x=y\n",
        "a typo removes nothing"
    );
    let ghost = cli(&server, &["config", "set", "ghost", "A=1"]);
    assert_eq!(ghost.error_line(), "error: no app `ghost`");
}

#[test]
fn deployments_logs_redeploy_and_env_after_a_push() {
    let server = TestServer::start();
    let password = server.create_app("web");
    let repo = Repo::app("3.12", "six\n");
    repo.push_ok(&server.git_url("web", &password), &["main"]);
    let commit = repo.head();

    let deployments = cli(&server, &["deployments", "web"]).ok();
    let header: Vec<&str> = deployments.stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["VERSION", "STATUS", "ACTIVE", "COMMIT", "TRIGGER", "STARTED", "DURATION", "MESSAGE"]);
    let rows = table(&deployments.stdout);
    assert_eq!(rows.len(), 1, "{}", deployments.stdout);
    assert_eq!(rows[0][..5], ["v1", "success", "*", &commit[..7], "push"]);
    assert_eq!(rows[0].last().unwrap(), "first commit");
    assert!(rows[0][6].ends_with('s'), "a duration: {:?}", rows[0]);
    let listed = cli(&server, &["deployments", "web", "--json"]).ok().json();
    assert_eq!(listed[0]["commit"], commit.as_str());

    let logs = cli(&server, &["logs", "web", "1"]).ok();
    assert!(logs.stdout.contains("--> install") && logs.stdout.contains("Step timings:"), "{}", logs.stdout);
    assert_eq!(cli(&server, &["logs", "web", "v1"]).ok().stdout, logs.stdout, "`v1` and `1` are the same");
    let bad = cli(&server, &["logs", "web", "latest"]);
    assert_eq!(bad.code, Some(2), "a usage error: {}", bad.stderr);
    assert!(bad.stderr.contains("expected a deployment number such as `v3`, not `latest`"), "{}", bad.stderr);
    let followed = cli(&server, &["logs", "web", "v1", "--follow"]).ok();
    assert_eq!(followed.stdout, logs.stdout, "following a finished deployment prints its whole log");
    assert!(followed.stderr.contains("Deployment v1 succeeded"), "{}", followed.stderr);
    let no_such = cli(&server, &["logs", "web", "99"]);
    assert_eq!(no_such.error_line(), "error: app `web` has no deployment v99");

    let env = cli(&server, &["env", "show", "web"]).ok();
    assert!(env.stdout.contains("Python:      CPython 3.12."), "{}", env.stdout);
    assert!(env.stdout.contains(" MB"), "{}", env.stdout);
    assert!(env.stdout.lines().any(|l| l.trim().starts_with("six==")), "{}", env.stdout);
    let env_json = cli(&server, &["env", "show", "web", "--json"]).ok().json();
    assert!(env_json["packages"].as_array().unwrap().iter().any(|p| p["name"] == "six"), "{env_json}");
    let created_before = env_json["marker"]["created_at"].clone();

    // redeploy --clean-env follows the new deployment's log to the end.
    let redeploy = cli(&server, &["redeploy", "web", "--clean-env"]).ok();
    assert!(redeploy.stdout.contains("Step timings:"), "the log is followed:\n{}", redeploy.stdout);
    assert!(redeploy.stderr.contains("Deployment v2 succeeded"), "{}", redeploy.stderr);
    let second = server.wait_for("web", 2);
    assert_eq!(
        (second["status"].as_str(), second["clean_env"].as_bool(), second["trigger"].as_str()),
        (Some("success"), Some(true), Some("redeploy"))
    );
    assert_eq!(second["commit"], commit.as_str());
    assert_eq!(second["active"], true);
    assert_eq!(redeploy.stdout, server.deployment_log("web", 2), "the whole log, once");
    let created_after = server.marker("web")["created_at"].clone();
    assert_ne!(created_before, created_after, "a clean build made a fresh env");

    // env reset redeploys the active commit with a fresh env and follows it.
    let reset = cli(&server, &["env", "reset", "web"]).ok();
    assert!(reset.stdout.contains("Step timings:"), "{}", reset.stdout);
    let third = server.wait_for("web", 3);
    assert_eq!(
        (third["status"].as_str(), third["clean_env"].as_bool(), third["trigger"].as_str()),
        (Some("success"), Some(true), Some("env-reset"))
    );
    assert_ne!(server.marker("web")["created_at"], created_after);
    let rows = table(&cli(&server, &["deployments", "web"]).ok().stdout);
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["v3", "v2", "v1"], "newest first");
    assert_eq!(rows[0][2], "*");
    assert!(rows[1..].iter().all(|r| r[2] != "*"), "one active deployment: {rows:?}");

    // Settings restart the app; one that breaks it keeps the running processes and says so.
    let broken = cli(&server, &["config", "set", "web", "STARTUP_COMMAND=false"]);
    assert!(
        broken.error_line().starts_with(
            "error: the settings were saved, but the app did not restart with them (its processes keep running): web.1 did not start"
        ),
        "{}",
        broken.stderr
    );
    assert_eq!(server.get_app("web", "/").0, 200, "the running processes keep serving");

    // A redeploy that fails exits non-zero with the reason, after printing the log.
    let failed = cli(&server, &["redeploy", "web", "1"]);
    assert_eq!(failed.code, Some(1), "{}\n{}", failed.stdout, failed.stderr);
    let last = failed.stderr.lines().last().unwrap();
    assert!(last.starts_with("error: deployment v4 of `web` failed"), "{}", failed.stderr);
    assert!(!failed.stdout.is_empty(), "the failed deployment's log is shown");
    assert_eq!(server.wait_for("web", 4)["status"], "failed");
    assert_eq!(server.active("web").unwrap()["id"], 3, "the previous deployment stays active");
    let listed = table(&cli(&server, &["apps", "list"]).ok().stdout);
    assert_eq!(listed[0][..3], ["web", "failed", "v3"], "the failure shows, and what still serves");
    let shown = cli(&server, &["apps", "show", "web"]).ok().stdout;
    assert!(shown.contains("Active:      deployment v3 (success)"), "{shown}");
    assert!(shown.contains("Last:        v4 failed: "), "{shown}");
}

#[test]
fn errors_are_one_line_and_say_what_is_wrong() {
    let server = TestServer::start();
    for args in [
        &["apps", "show", "ghost"][..],
        &["apps", "delete", "ghost", "--yes"],
        &["config", "list", "ghost"],
        &["deployments", "ghost"],
        &["logs", "ghost"],
        &["redeploy", "ghost"],
        &["env", "show", "ghost"],
        &["env", "reset", "ghost"],
    ] {
        let out = cli(&server, args);
        assert_eq!(out.error_line(), "error: no app `ghost`", "{args:?}");
    }
    cli(&server, &["apps", "create", "empty"]).ok();
    let quiet = cli(&server, &["logs", "empty"]).ok();
    assert!(
        quiet.stdout.is_empty() && quiet.stderr.starts_with("app `empty` has no log lines yet"),
        "{}",
        quiet.stderr
    );
    let line = cli(&server, &["redeploy", "empty"]).error_line();
    assert!(line.starts_with("error: app `empty` has no active deployment to redeploy"), "{line}");
    let env = cli(&server, &["env", "show", "empty"]).ok();
    assert!(env.stdout.contains("has no env yet"), "{}", env.stdout);

    // The token from SLIPWAY_TOKEN and the server from SLIPWAY_SERVER, no --data-dir.
    let mut command = bare(&["apps", "list", "--json"]);
    command.env("SLIPWAY_TOKEN", server.token()).env("SLIPWAY_SERVER", &server.base);
    assert_eq!(run(command).ok().json()[0]["name"], "empty");
    // SLIPWAY_TOKEN wins over the data dir's token, and a wrong one is named.
    let mut command = bare(&["apps", "list", "--server", &server.base, "--data-dir"]);
    command.arg(server.data_dir()).env("SLIPWAY_TOKEN", "not-the-token");
    assert_eq!(
        run(command).error_line(),
        "error: the server refused the admin token from SLIPWAY_TOKEN: invalid admin token"
    );

    // No token anywhere.
    let cwd = tempfile::tempdir().unwrap();
    let mut command = bare(&["apps", "list", "--server", &server.base]);
    command.current_dir(cwd.path());
    assert_eq!(
        run(command).error_line(),
        "error: no admin token: run `slipway login URL`, set SLIPWAY_TOKEN or pass --data-dir (looked for ./slipway-data/admin-token)"
    );
    let elsewhere = cwd.path().join("data");
    let mut command = bare(&["deployments", "web", "--server", &server.base, "--data-dir"]);
    command.arg(&elsewhere);
    assert_eq!(
        run(command).error_line(),
        format!(
            "error: no admin token: run `slipway login URL`, set SLIPWAY_TOKEN or pass --data-dir (looked for {})",
            Path::new(&elsewhere).join("admin-token").display()
        )
    );

    // No server.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut command = bare(&["apps", "list", "--server", &url]);
    command.env("SLIPWAY_TOKEN", "anything");
    assert_eq!(
        run(command).error_line(),
        format!("error: cannot reach the slipway server at {url}: connection refused (start it with `slipway serve`)")
    );
}

#[test]
fn apps_create_inside_a_repository_adds_the_git_remote() {
    let server = TestServer::start();
    let repo = Repo::app("3.12", "six\n");
    let in_repo = |args: &[&str]| {
        let mut command = cli_command(&server, args);
        command.current_dir(repo.path());
        run(command)
    };
    let created = in_repo(&["apps", "create", "remoted"]).ok().stdout;
    assert!(created.contains("Added the git remote `slipway` to this repository."), "{created}");
    let url = String::from_utf8(repo.git(&["remote", "get-url", "slipway"]).stdout).unwrap();
    assert!(url.trim().starts_with("http://remoted:") && url.trim().ends_with("/git/remoted.git"), "{url}");
    let wheels = crate::support::wheelhouse().canonicalize().unwrap();
    server.set_settings("remoted", serde_json::json!({ "PIP_FIND_LINKS": wheels, "PIP_NO_INDEX": "1" }));
    repo.push_ok("slipway", &["main"]);
    let again = in_repo(&["apps", "create", "another"]).ok().stdout;
    assert!(again.contains("already has a remote `slipway` (left as it is)"), "{again}");
}

#[test]
fn inside_an_apps_checkout_the_app_comes_from_the_git_remote() {
    let server = TestServer::start();
    let password = server.create_app("inferred");
    server.create_app("other-app");
    let repo = Repo::app("3.12", "six\n");
    repo.git(&["remote", "add", "slipway", &server.git_url("inferred", &password)]);
    repo.push_ok("slipway", &["main"]);
    let in_repo = |args: &[&str]| {
        let mut command = bare(&args[..1]);
        command.arg("--server").arg(&server.base).arg("--data-dir").arg(server.data_dir()).args(&args[1..]);
        command.current_dir(repo.path());
        run(command)
    };
    let shown = in_repo(&["apps", "show"]).ok().stdout;
    assert!(shown.starts_with("Name:        inferred"), "{shown}");
    assert!(!in_repo(&["deployments"]).ok().stdout.is_empty());
    assert!(in_repo(&["logs", "v1"]).ok().stdout.contains("Step timings:"), "a lone v1 is the version");
    let set = in_repo(&["config", "set", "GREETING=hi", "OTHER=1"]).ok().stdout;
    assert!(set.starts_with("Set GREETING, OTHER on `inferred`"), "{set}");
    in_repo(&["config", "unset", "OTHER"]).ok();
    let listed = in_repo(&["config", "list"]).ok().stdout;
    assert!(listed.contains("GREETING=") && !listed.contains("OTHER="), "{listed}");
    // A named app still wins.
    let other = in_repo(&["config", "set", "other-app", "X=1"]).ok().stdout;
    assert!(other.contains("on `other-app`"), "{other}");
    let unset = in_repo(&["config", "unset", "other-app", "X"]).ok().stdout;
    assert!(unset.contains("Unset X on `other-app`"), "{unset}");

    // Outside a repository, the error says what to do.
    let outside = tempfile::tempdir().unwrap();
    let mut command = bare(&["logs", "--server", &server.base, "--data-dir"]);
    command.arg(server.data_dir()).current_dir(outside.path());
    let line = run(command).error_line();
    assert!(
        line.starts_with(
            "error: no APP given, and the current directory is not a git repository with a remote `slipway`"
        ),
        "{line}"
    );
}

#[test]
fn login_remembers_the_server_and_token_for_every_directory() {
    let server = TestServer::start();
    server.create_app("remembered");
    let config = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let with_config = |args: &[&str]| {
        let mut command = bare(args);
        command.env("XDG_CONFIG_HOME", config.path()).current_dir(elsewhere.path());
        command
    };
    let refused = run(with_config(&["login", &server.base, "--token", "wrong"]));
    assert_eq!(refused.error_line(), "error: the server refused the admin token from --token: invalid admin token");
    let saved = config.path().join("slipway/login.json");
    assert!(!saved.exists(), "a refused token is not saved");

    let mut login = with_config(&["login", &format!("{}/", server.base)]);
    login.stdin(std::process::Stdio::piped());
    let mut child = login.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write as _;
    writeln!(child.stdin.take().unwrap(), "{}", server.token()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600, "the token is private");

    let listed = run(with_config(&["apps", "list", "--json"])).ok().json();
    assert_eq!(listed[0]["name"], "remembered", "no --server, no --data-dir, another directory");
    // BROWSER gets the app's URL.
    let opened = elsewhere.path().join("opened");
    let browser = elsewhere.path().join("browser");
    std::fs::write(&browser, format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display())).unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut open = with_config(&["open", "remembered"]);
    open.env("BROWSER", &browser);
    let url = run(open).ok().stdout;
    assert!(url.trim().starts_with("http://remembered."), "{url}");
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), url);

    assert!(run(with_config(&["logout"])).ok().stdout.starts_with("Logged out"));
    assert!(!saved.exists());
    let after = run(with_config(&["apps", "list"])).error_line();
    assert!(after.starts_with("error: no admin token: run `slipway login URL`"), "forgotten: {after}");
}

#[test]
fn a_closed_pipe_ends_the_command_quietly_and_usage_errors_exit_2_with_a_suggestion() {
    let server = TestServer::start();
    for n in 0..3 {
        server.create_app(&format!("pipe-app-{n}"));
    }
    let mut command = bare(&["apps", "list", "--server", &server.base, "--data-dir"]);
    command.arg(server.data_dir());
    let mut child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "no panic on a closed pipe: {stderr}");
    use std::os::unix::process::ExitStatusExt as _;
    assert!(output.status.success() || output.status.signal() == Some(libc_sigpipe()), "{:?}", output.status);

    let typo = run(bare(&["deploymnts", "web"]));
    assert_eq!(typo.code, Some(2), "{}", typo.stderr);
    assert!(typo.stderr.contains("'deployments'"), "the closest command is suggested: {}", typo.stderr);
    let help = run(bare(&["--help"])).ok().stdout;
    assert!(help.contains("1 on an error") && help.contains("2 on a usage error"), "{help}");
    let no_cache = run(bare(&["apps", "list", "--help"])).ok().stdout;
    assert!(!no_cache.contains("--cache-dir"), "{no_cache}");
}

/// SIGPIPE on Linux.
fn libc_sigpipe() -> i32 {
    13
}
