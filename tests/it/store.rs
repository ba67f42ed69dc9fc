//! The store on PostgreSQL (`serve --database`, `slipway db migrate-to`): the same answers as the
//! embedded SQLite store, a copy that a server carries on from, and clear errors. (The whole suite
//! also runs with every test server on PostgreSQL: `SLIPWAY_TEST_STORE=postgres`, the second run
//! of `./scripts/test.sh`.)

use std::time::Duration;

use slipway_build::log::{StepOutcome, StepTiming};
use slipway_server::app_name::AppName;
use slipway_server::hosts::DomainName;
use slipway_server::store::{Finish, InstanceRecord, Location, NewDeployment, RunTrigger, Status, Store, Trigger};

use crate::cli::{bare, cli, run};
use crate::postgres::{psql, scratch_database};
use crate::server_support::*;

/// Everything the server asks of a store, as a transcript without times.
fn exercise(store: &Store) -> Vec<String> {
    let app = AppName::parse("shop").unwrap();
    let other = AppName::parse("blog").unwrap();
    let mut said = vec![
        format!("create {} again {}", store.create_app(&app, "h1").unwrap(), store.create_app(&app, "h2").unwrap()),
        format!("create other {}", store.create_app(&other, "h3").unwrap()),
        format!("numbers differ {}", store.app_number(&app).unwrap() != store.app_number(&other).unwrap()),
        format!("names {:?}", store.app_names().unwrap()),
    ];
    store.set_password_hash(&app, "h9").unwrap();
    store.set_hook_secret_hash(&app, "s1").unwrap();
    said.push(format!("hashes {:?} {:?}", store.password_hash(&app).unwrap(), store.hook_secret_hash(&app).unwrap()));
    said.push(format!("no hook secret {:?}", store.hook_secret_hash(&other).unwrap()));
    store.set_settings(None, &[("SHARED".into(), "g".into()), ("K".into(), "global".into())].into()).unwrap();
    store.set_settings(Some(&app), &[("K".into(), "own".into()), ("Q".into(), "1".into())].into()).unwrap();
    store.set_settings(Some(&app), &[("Q".into(), "2".into())].into()).unwrap();
    said.push(format!(
        "deleted {} {}",
        store.delete_setting(Some(&app), "NOPE").unwrap(),
        store.delete_setting(None, "SHARED").unwrap()
    ));
    said.push(format!("settings {:?} own {:?}", store.settings(&app).unwrap(), store.own_settings(&app).unwrap()));
    store.set_scale(&app, "web", 3).unwrap();
    store.set_scale(&app, "web", 2).unwrap();
    store.set_scale(&app, "worker", 0).unwrap();
    said.push(format!("scale {:?}", store.scale(&app).unwrap()));

    let deploy = |status, trigger| {
        let new = NewDeployment {
            app: &app,
            commit: "abc1234",
            author: "A <a@b>",
            message: "m",
            clean_env: true,
            trigger,
            instance: "a",
        };
        let d = store.insert_deployment(&new).unwrap();
        store.set_status(d.id, Status::Building).unwrap();
        let steps = [StepTiming {
            name: "install".into(),
            duration: std::time::Duration::from_millis(1250),
            outcome: StepOutcome::Ok,
        }];
        let finish = Finish { status, reason: Some("why"), steps: &steps, python_version: Some("3.12.1".into()) };
        store.finish(&app, d.id, &finish).unwrap();
        d
    };
    let first = deploy(Status::Success, Trigger::Push);
    let second = deploy(Status::Failed, Trigger::Webhook);
    let third = deploy(Status::Success, Trigger::Zipdeploy);
    let fourth = deploy(Status::Failed, Trigger::EnvReset);
    said.push(format!("numbers {:?}", [&first, &second, &third, &fourth].map(|d| d.number)));
    let active = store.active_deployment(&app).unwrap().unwrap();
    said.push(format!("active v{} {:?} {:?} {:?}", active.number, active.trigger, active.python_version, active.steps));
    store.activate(&app, first.id).unwrap();
    said.push(format!("rolled back to v{}", store.active_deployment(&app).unwrap().unwrap().number));
    let running = store.insert_deployment(&NewDeployment {
        app: &app,
        commit: "def",
        author: "",
        message: "",
        clean_env: false,
        trigger: Trigger::Redeploy,
        instance: "b",
    });
    let running = running.unwrap();
    said.push(format!("purged {}", store.purge_deployments(&app, 2).unwrap().len()));
    let left = store.deployments(&app).unwrap();
    said.push(format!(
        "left {:?}",
        left.iter().map(|d| (d.number, d.status, d.active, d.clean_env)).collect::<Vec<_>>()
    ));
    said.push(format!("by number {:?}", store.deployment_by_number(&app, running.number).unwrap().map(|d| d.status)));
    said.push(format!("newest v{}", store.newest_deployment(&app).unwrap().unwrap().number));
    let unfinished = store.unfinished_deployments().unwrap();
    said.push(format!(
        "unfinished {:?}",
        unfinished.iter().map(|d| (d.app.as_str(), d.status, d.instance.as_deref())).collect::<Vec<_>>()
    ));
    said.push(format!(
        "failed {} again {}",
        store.fail_unfinished(running.id, "crash").unwrap(),
        store.fail_unfinished(running.id, "crash").unwrap()
    ));
    let failed = store.deployment(&app, running.id).unwrap().unwrap();
    said.push(format!("then {:?} {:?}", failed.status, failed.reason));

    for (trigger, command) in
        [(RunTrigger::Run, "ls"), (RunTrigger::Cron, "tick"), (RunTrigger::Cron, "tick"), (RunTrigger::Run, "top")]
    {
        let run = store.insert_run(&app, trigger, command, "a").unwrap();
        if command != "top" {
            store.finish_run(run.id, Some(3), "exit status: 3").unwrap();
        }
    }
    let runs = |trigger| store.runs(&app, trigger, 10).unwrap().iter().map(|r| r.command.clone()).collect::<Vec<_>>();
    said.push(format!("runs {:?} cron {:?}", runs(None), runs(Some(RunTrigger::Cron))));
    said.push(format!("last cron {:?}", store.last_cron_run(&app, "tick").unwrap().map(|r| (r.exit_code, r.outcome))));
    said.push(format!("purged runs {}", store.purge_runs(&app, 2).unwrap().len()));
    store.fail_interrupted_runs("b", "not mine").unwrap();
    store.fail_interrupted_runs("a", "interrupted").unwrap();
    said.push(format!(
        "runs then {:?}",
        store.runs(&app, None, 1).unwrap().iter().map(|r| r.outcome.clone()).collect::<Vec<_>>()
    ));

    let domain = DomainName::parse("shop.example.com").unwrap();
    said.push(format!(
        "domain {:?} {:?}",
        store.add_domain(&app, &domain).unwrap(),
        store.add_domain(&other, &domain).unwrap()
    ));
    said.push(format!("domains {:?}", store.domains().unwrap()));
    said.push(format!(
        "removed {} {}",
        store.remove_domain(&other, &domain).unwrap(),
        store.remove_domain(&app, &domain).unwrap()
    ));

    let minute = "2026-11-26T10:00:00+00:00";
    let claims = [("a", minute), ("b", minute), ("b", "2026-11-26T10:01:00+00:00")]
        .map(|(instance, minute)| store.claim_cron_minute(minute, instance, "2026-11-25T10:00:00+00:00").unwrap());
    said.push(format!("cron claims {claims:?}"));
    said.push(format!("lock {} unlock {:?}", store.try_lock("k").unwrap(), store.unlock("k").is_ok()));
    let started = time::OffsetDateTime::now_utc();
    let beat = |name: &str| InstanceRecord {
        name: name.into(),
        url: format!("http://{name}"),
        pid: 7,
        started_at: started,
        seen_at: started,
        processes: "{}".into(),
    };
    store.heartbeat(&beat("b")).unwrap();
    store.heartbeat(&beat("a")).unwrap();
    store.heartbeat(&beat("a")).unwrap();
    store.remove_instance("b").unwrap();
    said.push(format!(
        "instances {:?}",
        store.instances().unwrap().iter().map(|i| (&i.name, &i.url)).collect::<Vec<_>>()
    ));
    let expires = started + time::Duration::hours(1);
    store.create_session("h1", "csrf1", expires).unwrap();
    said.push(format!("session {:?}", store.session("h1").unwrap().map(|(csrf, _)| csrf)));
    store.delete_session("h1").unwrap();
    said.push(format!("ended {:?}", store.session("h1").unwrap()));

    store.set_admin_token_hash("t1").unwrap();
    store.set_admin_token_hash("t2").unwrap();
    said.push(format!("admin {:?}", store.admin_token_hash().unwrap()));
    said.push(format!("deleted {} {}", store.delete_app(&app).unwrap(), store.delete_app(&app).unwrap()));
    said.push(format!(
        "after delete {:?} {:?} {:?}",
        store.own_settings(&app).unwrap(),
        store.deployments(&app).unwrap().len(),
        store.runs(&app, None, 10).unwrap().len()
    ));
    said
}

#[test]
#[cfg_attr(no_postgres, ignore = "PostgreSQL is not installed (./scripts/setup.sh installs it)")]
fn the_store_answers_the_same_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = exercise(&Store::open(&Location::Sqlite(dir.path().join("slipway.db"))).unwrap());
    let postgres = exercise(&Store::open(&Location::Postgres(scratch_database())).unwrap());
    assert_eq!(sqlite, postgres);
    let transcript = sqlite.join("\n");
    for expected in [
        "create true again false",
        "numbers differ true",
        r#"settings {"K": "own", "Q": "2"} own {"K": "own", "Q": "2"}"#,
        "numbers [1, 2, 3, 4]",
        "rolled back to v1",
        r#"unfinished [("shop", Pending, Some("b"))]"#,
        "failed true again false",
        "cron claims [true, false, true]",
        r#"instances [("a", "http://a")]"#,
        r#"session Some("csrf1")"#,
        r#"runs ["top", "tick", "tick", "ls"] cron ["tick", "tick"]"#,
        "domain Ok(()) Err(AppName(\"shop\"))",
        "admin Some(\"t2\")",
        "after delete {} 0 0",
    ] {
        assert!(transcript.contains(expected), "{expected}\nnot in\n{transcript}");
    }
}

#[test]
#[cfg_attr(no_postgres, ignore = "PostgreSQL is not installed (./scripts/setup.sh installs it)")]
fn db_migrate_to_copies_the_store_and_a_server_carries_on_from_postgres() {
    let server = TestServer::start_on_sqlite();
    let password = server.create_app("moved");
    cli(&server, &["config", "set", "moved", "GREETING=hello", "--no-restart"]).ok();
    cli(&server, &["config", "set", "--global", "SHARED=everywhere"]).ok();
    let url = server.git_url("moved", &password);
    let repo = Repo::app("3.12", "");
    repo.push_ok(&url, &["main"]);
    let database = scratch_database();
    let data_dir = server.data_dir();
    let migrate = || {
        run({
            let mut command = bare(&["db", "migrate-to", &database, "--data-dir"]);
            command.arg(&data_dir);
            command
        })
    };

    let refused = migrate().error_line();
    assert!(refused.contains("stop slipway serve before copying its store"), "{refused}");
    let (dir, _) = server.terminate();
    let copied = migrate().ok().stdout;
    assert!(copied.contains("apps             1 rows") && copied.contains("deployments      1 rows"), "{copied}");
    let again = migrate().error_line();
    assert!(again.contains("the target database already has apps (moved)"), "{again}");
    assert!(dir.path().join("data/slipway.db").is_file(), "the SQLite store stays, as a backup");

    let server = TestServer::start_in_with(dir, &["--database", &database]);
    assert!(server.server_log().contains("store: PostgreSQL postgres://postgres@127.0.0.1"), "{}", server.server_log());
    wait_until(Duration::from_secs(30), "the live release served again", || {
        (server.get_app("moved", "/").0 == 200).then_some(())
    });
    let config = cli(&server, &["config", "list", "moved"]).ok().stdout;
    assert!(config.contains("GREETING=") && config.contains("SHARED="), "{config}");
    repo.write("app.py", &PLAIN_APP.replace("\"v1\"", "\"v2\"")).commit("second");
    repo.push_ok(&server.git_url("moved", &password), &["main"]);
    let deployments = cli(&server, &["deployments", "moved"]).ok().stdout;
    assert!(deployments.contains("v2") && deployments.contains("v1"), "numbers carry on:\n{deployments}");
    assert!(server.get_app("moved", "/").1.starts_with("v2"));
    server.create_app("fresh");
    let numbers = psql(&database, "SELECT COUNT(DISTINCT rowid) FROM apps");
    assert_eq!(numbers, "2", "a new app gets a number of its own after the copied ones");
}

#[test]
fn a_database_that_is_not_postgres_or_cannot_be_reached_is_one_clear_line_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |url: &str| {
        let mut command = bare(&["serve", "--http", "127.0.0.1:0", "--ftp", "127.0.0.1:0", "--data-dir"]);
        command.arg(dir.path()).env("SLIPWAY_DATABASE", url);
        run(command)
    };
    let wrong = serve("mysql://u:hunter2@db/apps");
    assert!(
        wrong.stderr.contains("expected a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL, got `mysql`"),
        "{}",
        wrong.stderr
    );
    let unreachable = serve("postgres://u:hunter2@127.0.0.1:1/apps");
    let line = unreachable.error_line();
    assert!(line.contains("cannot open the database postgres://u@127.0.0.1:1/apps"), "{line}");
    for out in [&wrong, &unreachable] {
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
}

#[test]
#[cfg_attr(no_postgres, ignore = "PostgreSQL is not installed (./scripts/setup.sh installs it)")]
fn a_lost_database_connection_is_made_again() {
    let database = scratch_database();
    let dir = tempfile::Builder::new().prefix("slipway-srv-").tempdir().unwrap();
    let server = TestServer::start_in_with(dir, &["--database", &database]);
    server.create_app("steady");
    let name = database.rsplit('/').next().unwrap();
    let ended = psql(
        crate::postgres::admin_url(),
        &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"),
    );
    assert!(ended.parse::<u32>().unwrap() >= 2, "the store's connection and LISTEN's: {ended}");
    wait_until(Duration::from_secs(10), "the API answering again", || {
        (server.api("GET", "/api/apps/steady", None).0 == 200).then_some(())
    });
    let log = wait_until(Duration::from_secs(10), "both connections made again", || {
        let log = server.server_log();
        log.contains("connected to PostgreSQL again").then_some(log)
    });
    assert!(log.contains("terminating connection due to administrator command (SQLSTATE 57P01)"), "{log}");
}
