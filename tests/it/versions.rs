//! The version policy (issue 13): requires-python, misspelled and odd version files, end of
//! life, sticky versions, and which interpreters are runtimes at all.

use crate::lockfiles::pyenv_python;
use crate::support::*;

fn app(files: &[(&str, &str)]) -> Project {
    let project = Project::new();
    project.write("app.py", FLASK_APP).write("requirements.txt", "six\n");
    for (name, content) in files {
        project.write(name, content);
    }
    project
}

#[test]
fn requires_python_chooses_the_newest_that_satisfies_it_and_refuses_a_version_that_does_not() {
    let pyproject = |spec: &str| format!("[project]\nname = \"a\"\nversion = \"1\"\nrequires-python = \"{spec}\"\n");
    let project = app(&[("pyproject.toml", &pyproject("<3.13"))]);
    let log = project.build_ok(&[]);
    assert!(
        log.contains("using the newest that satisfies `<3.13` (requires-python in pyproject.toml), CPython 3.12."),
        "{log}"
    );
    assert!(project.env_python("import sys; print(sys.version)").unwrap().starts_with("3.12."));

    let marker = project.marker();
    project.write(".python-version", "3.13\n");
    let line = project.build_fails(&[]).error_line();
    assert!(
        line.starts_with("error: Python 3.13.") && line.ends_with(" (from .python-version) does not satisfy `<3.13` (requires-python in pyproject.toml); change one of them"),
        "{line}"
    );
    assert_eq!(project.marker(), marker, "nothing was installed");
}

#[test]
fn misspelled_empty_and_invisible_version_files_are_named() {
    let project = app(&[("python-version.txt", "3.12\n")]);
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: python-version.txt: this looks like a misspelling of `.python-version`, which is what slipway reads; rename it (`git mv 'python-version.txt' .python-version`)"
    );
    let project = app(&[(".python-version ", "3.12\n")]);
    assert!(project
        .build_fails(&[])
        .error_line()
        .starts_with("error: .python-version : this looks like a misspelling"));

    let project = app(&[(".python-version", "# pinned by the team\n")]);
    assert!(project.build_fails(&[]).error_line().starts_with("error: .python-version: the file has only comments;"));

    let project = app(&[(".python-version", "3.12\u{200b}\n")]);
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: .python-version line 1: `3.12\\u{200b}` is not a Python version; expected `3.X` or `3.X.Y` (e.g. `3.12`)"
    );
}

#[test]
fn an_unpinned_app_is_told_how_to_pin_and_keeps_its_minor() {
    let project = app(&[(".python-version", "3.12\n")]);
    project.build_ok(&[]);
    project.remove(".python-version");
    let log = project.build_ok(&[]);
    assert!(log.contains("staying on Python 3.12, which this app's env was built with, although 3.13."), "{log}");
    assert!(log.contains("commit a `.python-version` file containing `3.13`"), "{log}");
    assert!(project.env_python("import sys; print(sys.version)").unwrap().starts_with("3.12."));

    let fresh = app(&[]);
    let log = fresh.build_ok(&[]);
    assert!(log.contains("using the newest, CPython 3.13.") && log.contains("containing `3.13`"), "{log}");
}

#[test]
#[cfg_attr(not(have_python_3_9), ignore = "no pyenv Python 3.9 on this machine")]
fn an_end_of_life_python_is_refused_unless_allowed() {
    assert!(pyenv_python("3.9").is_some());
    let mut project = app(&[("runtime.txt", "python-3.9\n")]);
    assert_eq!(
        project.build_fails(&[]).error_line(),
        "error: Python 3.9 (from runtime.txt) reached its end of life on 2025-10-31 and gets no security fixes; move to a supported minor (the newest here is 3.13), or set ALLOW_EOL_PYTHON=true to deploy it anyway"
    );
    project.setting("ALLOW_EOL_PYTHON", "true");
    let log = project.build_ok(&[]);
    assert!(log.contains("warning: Python 3.9 reached its end of life on 2025-10-31"), "{log}");
    assert!(project.importable("six"));
}

#[test]
fn python_2_is_not_a_runtime() {
    let run = Project::new().run(&["runtimes"]);
    assert!(run.success(), "{}", run.log());
    let out = run.stdout();
    assert!(out.lines().next().unwrap().contains("SUPPORT"), "{out}");
    assert!(!out.lines().any(|l| l.contains(" 2.7.")), "Python 2 is not offered:\n{out}");
    let project = app(&[("runtime.txt", "python-2.7\n")]);
    let line = project.build_fails(&[]).error_line();
    assert!(line.starts_with("error: Python 2.7 (from runtime.txt) is not available; runtimes found: 3."), "{line}");
}
