//! `slipway runtimes`.

use crate::support::*;

#[test]
fn lists_the_pyenv_interpreters_with_version_and_path() {
    let project = Project::new();
    let run = project.run(&["runtimes"]);
    assert!(run.success(), "{}", run.log());
    let out = run.stdout();
    assert!(out.starts_with("IMPLEMENTATION"), "{out}");
    for minor in ["3.11", "3.12", "3.13"] {
        let line =
            out.lines().find(|l| l.contains(&format!(" {minor}."))).unwrap_or_else(|| panic!("no {minor} in\n{out}"));
        assert!(line.starts_with("CPython"), "{line}");
        assert!(line.contains(&format!("/versions/{minor}.")), "pyenv path in {line}");
    }
}

#[test]
fn json_output_and_explicit_interpreters() {
    let project = Project::new();
    let fake = project.dir.path().join("mypython");
    std::fs::write(&fake, "#!/bin/sh\nprintf 'PyPy\\n3.10.14\\n%s\\n' \"$0\"\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = project.run(&["runtimes", "--json", "--python", fake.to_str().unwrap()]);
    assert!(run.success(), "{}", run.log());
    let runtimes: Vec<serde_json::Value> = serde_json::from_str(&run.stdout()).unwrap();
    let pypy = runtimes.iter().find(|r| r["implementation"] == "PyPy").expect("explicit interpreter listed");
    assert_eq!(pypy["version"], "3.10.14");
    assert_eq!(pypy["path"], fake.to_str().unwrap());
    assert!(runtimes.iter().any(|r| r["version"].as_str().unwrap().starts_with("3.12.")));
}
