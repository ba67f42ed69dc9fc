//! The README's walkthrough, run as written: its first `sh` block is read from README.md and run
//! by bash against a real server, with only the addresses, the data dir and the wheelhouse put in
//! for the test's own. Each `# → TEXT` comment is an output the run must show.

use std::process::Command;

use crate::server_support::*;
use crate::support::{repo_root, wheelhouse};

/// The first ```sh block after `## Walkthrough`.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = readme.split_once("\n## Walkthrough\n").expect("the README has a Walkthrough").1;
    let block = section.split_once("```sh\n").expect("with a sh block").1;
    block.split_once("\n```").expect("that ends").0.to_string()
}

#[test]
fn the_walkthrough_runs_as_written() {
    let server = TestServer::start();
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let mut script = walkthrough();
    let wheels = wheelhouse().canonicalize().unwrap();
    let binaries = std::path::Path::new(env!("CARGO_BIN_EXE_slipway")).parent().unwrap();
    for (readme, ours) in [
        ("$PWD/target/release", binaries.display().to_string()),
        ("127.0.0.1:8080", format!("127.0.0.1:{port}")),
        ("hello.localhost:8080", format!("hello.localhost:{port}")),
        ("-p 2121 127.0.0.1", format!("-p {} 127.0.0.1", server.ftp_port())),
        ("./slipway-data", server.data_dir().display().to_string()),
        ("$PWD/../shared/wheelhouse", wheels.display().to_string()),
    ] {
        assert!(script.contains(readme), "the walkthrough no longer says `{readme}`:\n{script}");
        script = script.replace(readme, &ours);
    }
    let expected: Vec<String> =
        script.lines().filter_map(|l| l.split_once("# → ").map(|(_, e)| e.trim().to_string())).collect();
    assert!(!expected.is_empty());

    // One stream, so that what is printed keeps its order.
    let script = format!("exec 2>&1\n{script}");
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", &script])
        .current_dir(repo_root())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("TMPDIR", home.path())
        .env("BROWSER", "echo")
        .env_remove("SLIPWAY_TOKEN")
        .env_remove("SLIPWAY_SERVER")
        .env_remove("SLIPWAY_DATA_DIR")
        .envs([
            ("GIT_AUTHOR_NAME", "Walk Through"),
            ("GIT_AUTHOR_EMAIL", "walk@example.com"),
            ("GIT_COMMITTER_NAME", "Walk Through"),
            ("GIT_COMMITTER_EMAIL", "walk@example.com"),
        ])
        .output()
        .expect("run bash");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the walkthrough failed:\n{text}");
    for output in &expected {
        let wanted = expected.iter().filter(|e| *e == output).count();
        let seen = text.matches(output.as_str()).count();
        assert!(seen >= wanted, "`{output}` printed {seen} times, the walkthrough shows it {wanted}:\n{text}");
    }
    let (_, after_ftp) = text.split_once(" as v4").expect("the redeploy after the FTP step");
    assert!(after_ftp.contains("No virtual environment at"), "v4 found env deleted over FTP:\n{after_ftp}");
    for step in [
        "Deleting incompatible virtual environment.",
        "Deployment v4 succeeded.",
        &format!("http://hello.localhost:{port}/"),
    ] {
        assert!(text.contains(step), "no `{step}` in:\n{text}");
    }
}

/// Every `](#anchor)` link in the README leads to one of its headings (as GitHub names them), so
/// a section cannot go while links to it stay.
#[test]
fn the_readmes_links_to_its_sections_resolve() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let slug = |heading: &str| -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect()
    };
    let anchors: Vec<String> =
        readme.lines().filter_map(|l| l.strip_prefix('#')).map(|h| slug(h.trim_start_matches('#'))).collect();
    let links: Vec<&str> = readme.split("](#").skip(1).filter_map(|rest| rest.split(')').next()).collect();
    assert!(!links.is_empty());
    for link in links {
        assert!(anchors.iter().any(|a| a == link), "README links to #{link}, which no heading is: {anchors:?}");
    }
}
