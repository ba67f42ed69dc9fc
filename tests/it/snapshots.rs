//! Snapshots (insta) of what people read: the CLI's tables and errors, and the decision lines of
//! the build log. Paths, times, ports, commits and patch versions are redacted, so a snapshot
//! changes only when the wording or the layout does. `INSTA_UPDATE=always cargo test snapshots`
//! rewrites them after an intended change; review the diff.

use crate::cli::cli;
use crate::server_support::*;
use crate::support::{flask_project, repo_root, wheelhouse};

/// The redactions every snapshot here shares.
fn redacted(run: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("tests/it/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    // The checkout and the wheelhouse live wherever CI cloned them, so their own paths go first.
    // Both as spelled and canonical (tests store the canonical wheelhouse), longest first.
    let mut known: Vec<String> = [wheelhouse(), repo_root()]
        .into_iter()
        .flat_map(|path| [path.canonicalize().unwrap_or_else(|_| path.clone()), path])
        .map(|path| path.display().to_string())
        .collect();
    known.sort_by_key(|path| std::cmp::Reverse(path.len()));
    for path in known {
        settings.add_filter(&literal_pattern(&path), "[PATH]");
    }
    for (pattern, replacement) in [
        (r"\b[0-9a-f]{40}\b", "[COMMIT]"),
        (r"\b[0-9a-f]{7}\b", "[SHORT]"),
        (r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z| UTC)?", "[TIME]"),
        (r"\b\d+(\.\d+)?s\b", "[DURATION]"),
        (r"\b\d+m \d{2}s\b", "[DURATION]"),
        (r"(127\.0\.0\.1|localhost):\d+", "$1:[PORT]"),
        (r"/(tmp|root|home|work)/[^\s)`':]*", "[PATH]"),
        (r"\b(3\.\d+)\.\d+\b", "$1.[PATCH]"),
        (r"\buv \d+\.\d+\.\d+", "uv [VERSION]"),
    ] {
        settings.add_filter(pattern, replacement);
    }
    settings.bind(run);
}

/// A regex that matches `text` literally.
fn literal_pattern(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = r"\.+*?()|[]{}^$".contains(c).then_some('\\');
            escape.into_iter().chain([c])
        })
        .collect()
}

/// A table with its columns separated by two spaces: the padding depends on the width of values
/// the snapshot redacts.
fn columns(table: &str) -> String {
    table
        .lines()
        .map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>().join("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The build log's lines that say what was decided and why, without the installers' output.
fn decision_lines(log: &str) -> String {
    const DECISIONS: &[&str] = &[
        "-->",
        "Python ",
        "No Python version",
        "app setting",
        "Installer:",
        "Found compatible",
        "Deleting incompatible",
        "  - ",
        "No virtual environment",
        "Creating virtual environment",
        "No requirements.txt",
        "Resolved ",
        "Uninstalling",
        "warning:",
        "error:",
    ];
    log.lines().filter(|l| DECISIONS.iter().any(|d| l.starts_with(d))).collect::<Vec<_>>().join("\n")
}

#[test]
fn build_log_decisions() {
    let mut project = flask_project("3.12", "six\n");
    let first = project.build_ok(&[]);
    project.write("app.py", "# code only\n");
    let reused = project.build_ok(&[]);
    project.setting("PYTHON_VERSION", "3.11");
    project.write("requirements.txt", "");
    let toggled = project.build_ok(&[]);
    project.setting("PYTHON_VERSION", "");
    project.write("runtime.txt", "python-3.x\n");
    let bad = project.build_fails(&[]);
    redacted(|| {
        insta::assert_snapshot!("build_first", decision_lines(&first));
        insta::assert_snapshot!("build_code_only", decision_lines(&reused));
        insta::assert_snapshot!("build_toggle_runtime", decision_lines(&toggled));
        insta::assert_snapshot!("build_bad_runtime_txt", bad.error_line());
    });
}

#[test]
fn cli_tables_and_errors() {
    let server = TestServer::start();
    let created = cli(&server, &["apps", "create", "table"]).ok();
    let password = created.stdout.lines().find_map(|l| l.strip_prefix("Password:")).unwrap().trim().to_string();
    let wheels = format!("PIP_FIND_LINKS={}", wheelhouse().canonicalize().unwrap().display());
    cli(&server, &["config", "set", "table", &wheels, "PIP_NO_INDEX=1", "GREETING=hello"]).ok();
    let repo = Repo::app("3.12", "six\n");
    repo.push_ok(&server.git_url("table", &password), &["main"]);

    let errors: Vec<String> = [
        &["apps", "show", "ghost"][..],
        &["apps", "create", "Bad_Name"],
        &["apps", "delete", "table"],
        &["config", "set", "table", "NOT_A_PAIR"],
        &["config", "set", "table", "PYTHON_VERSION=three"],
        &["config", "set", "table", "STARTUP_TIMEOUT=soon"],
        &["config", "unset", "table", "NOPE"],
        &["logs", "table", "99"],
    ]
    .iter()
    .map(|args| format!("slipway {}\n  {}", args.join(" "), cli(&server, args).stderr.trim()))
    .collect();
    redacted(|| {
        insta::assert_snapshot!("cli_created", created.stdout.replace(&password, "[PASSWORD]"));
        insta::assert_snapshot!("cli_apps_list", columns(&cli(&server, &["apps", "list"]).ok().stdout));
        insta::assert_snapshot!("cli_apps_show", cli(&server, &["apps", "show", "table"]).ok().stdout);
        insta::assert_snapshot!("cli_config_list", cli(&server, &["config", "list", "table"]).ok().stdout);
        insta::assert_snapshot!("cli_deployments", columns(&cli(&server, &["deployments", "table"]).ok().stdout));
        insta::assert_snapshot!("cli_errors", errors.join("\n"));
    });
}
