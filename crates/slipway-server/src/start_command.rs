//! What a release runs, and the log says which rule chose each:
//! - `web`, first match: setting `STARTUP_COMMAND`; the Procfile's `web:` line; none when the
//!   Procfile names only background types (a worker-only app); gunicorn with a detected WSGI app
//!   (`app.py`/`application.py`/`wsgi.py` defining `app` or `application`, or a Django project's
//!   `wsgi.py`); uvicorn with a detected ASGI app (FastAPI/Starlette); else `python app.py`. A
//!   detected app whose server is not installed in env is an error that says to add it.
//! - background types (`worker`, `clock`, …): the Procfile's other lines.
//! - the release command: setting `RELEASE_COMMAND`, else the Procfile's `release:` line.

use std::path::Path;

use crate::procfile::{Procfile, RELEASE, WEB};
use crate::settings::{AppSettings, RELEASE_COMMAND};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCommand {
    /// Run with `sh -c`, so `$PORT` and the like expand.
    pub shell: String,
    /// Which rule chose it, for the log.
    pub rule: String,
    /// Whether slipway chose the server (gunicorn, uvicorn), which then gets `WEB_CONCURRENCY`.
    pub detected: bool,
}

/// What a release runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commands {
    /// The `web` process, if the app has one.
    pub web: Option<StartCommand>,
    /// Background process types and their commands, in the Procfile's order.
    pub background: Vec<(String, String)>,
    /// The command run once per deployment before the switch, and where it is from.
    pub release: Option<(String, &'static str)>,
}

/// Chooses the commands for the code in `release` (with its env at `release/env`).
pub fn choose(release: &Path, settings: &AppSettings) -> Result<Commands, String> {
    let procfile = Procfile::read(release)?;
    let background: Vec<(String, String)> = procfile
        .as_ref()
        .map(|p| p.background().map(|(k, c)| (k.to_string(), c.to_string())).collect())
        .unwrap_or_default();
    let web = choose_web(release, settings.startup_command(), procfile.as_ref(), !background.is_empty())?;
    Ok(Commands { web, background, release: release_command(procfile.as_ref(), settings) })
}

/// The release's release command and where it is from, if it has one.
pub fn choose_release_command(
    release: &Path,
    settings: &AppSettings,
) -> Result<Option<(String, &'static str)>, String> {
    Ok(release_command(Procfile::read(release)?.as_ref(), settings))
}

fn release_command(procfile: Option<&Procfile>, settings: &AppSettings) -> Option<(String, &'static str)> {
    match (settings.get(RELEASE_COMMAND), procfile.and_then(|p| p.command(RELEASE))) {
        (Some(command), _) => Some((command.to_string(), "the RELEASE_COMMAND setting")),
        (None, Some(command)) => Some((command.to_string(), "the `release:` line of the Procfile")),
        (None, None) => None,
    }
}

fn choose_web(
    release: &Path,
    startup_command: Option<&str>,
    procfile: Option<&Procfile>,
    has_background: bool,
) -> Result<Option<StartCommand>, String> {
    let given =
        |shell: &str, rule: &str| Some(StartCommand { shell: shell.to_string(), rule: rule.into(), detected: false });
    if let Some(command) = startup_command.map(str::trim).filter(|c| !c.is_empty()) {
        return Ok(given(command, "the STARTUP_COMMAND setting"));
    }
    if let Some(command) = procfile.and_then(|p| p.command(WEB)) {
        return Ok(given(command, "the `web:` line of the Procfile"));
    }
    if has_background {
        return Ok(None);
    }
    let bin = release.join("env/bin");
    let has = |tool: &str| bin.join(tool).is_file();
    if let Some(target) = wsgi_target(release) {
        if !has("gunicorn") {
            return Err(missing_server("a WSGI app", &target, "gunicorn"));
        }
        return Ok(Some(StartCommand {
            shell: format!("gunicorn --bind 127.0.0.1:$PORT --access-logfile - {target}"),
            rule: format!("gunicorn is installed and `{target}` is a WSGI app"),
            detected: true,
        }));
    }
    if let Some(target) = asgi_target(release) {
        if !has("uvicorn") {
            return Err(missing_server("an ASGI app", &target, "uvicorn"));
        }
        return Ok(Some(StartCommand {
            shell: format!("uvicorn --host 127.0.0.1 --port $PORT {target}"),
            rule: format!("uvicorn is installed and `{target}` is an ASGI app"),
            detected: true,
        }));
    }
    if release.join("app.py").is_file() {
        return Ok(given("python app.py", "no STARTUP_COMMAND, Procfile or detected WSGI/ASGI app: the default"));
    }
    Err("nothing to start: no STARTUP_COMMAND setting, no Procfile `web:` line, no WSGI or ASGI app and no app.py; add a Procfile with e.g. `web: gunicorn --bind 127.0.0.1:$PORT app:app`".into())
}

/// The one-line fix for a detected app whose server is missing.
fn missing_server(kind: &str, target: &str, server: &str) -> String {
    format!(
        "`{target}` is {kind}, but {server} is not installed in env: add `{server}` to the app's dependencies (requirements.txt or pyproject.toml), or set STARTUP_COMMAND"
    )
}

/// Files of the release that are read to choose the command: at most this much of each.
const MAX_SOURCE: u64 = 1024 * 1024;

/// A file of the release, as text; `None` if it is not there — or leads outside the release (the
/// release is the app's: a `Procfile` linked to `/etc/shadow` must not reach an error message).
fn read_source(release: &Path, rel: &Path) -> Option<String> {
    crate::releases::read_file(release, rel, MAX_SOURCE).ok().flatten()
}

fn is_asgi(source: &str) -> bool {
    ["FastAPI(", "Starlette(", "Quart("].iter().any(|marker| source.contains(marker))
}

/// The variable a module binds at top level (`app = …`), among `names`.
fn top_level_binding<'a>(source: &str, names: &[&'a str]) -> Option<&'a str> {
    names.iter().copied().find(|name| {
        source.lines().any(|line| {
            line.strip_prefix(name).is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('=') && !rest.starts_with("==") || rest.starts_with(':')
            })
        })
    })
}

fn wsgi_target(wwwroot: &Path) -> Option<String> {
    for module in ["app", "application", "wsgi"] {
        let Some(source) = read_source(wwwroot, Path::new(&format!("{module}.py"))) else { continue };
        if is_asgi(&source) {
            continue;
        }
        if let Some(var) = top_level_binding(&source, &["app", "application"]) {
            return Some(format!("{module}:{var}"));
        }
    }
    django_wsgi(wwwroot)
}

/// `<project>/wsgi.py` calling `get_wsgi_application`, beside a `manage.py`.
fn django_wsgi(wwwroot: &Path) -> Option<String> {
    if !wwwroot.join("manage.py").is_file() {
        return None;
    }
    let mut projects: Vec<_> = std::fs::read_dir(wwwroot).ok()?.flatten().filter(|e| e.path().is_dir()).collect();
    projects.sort_by_key(|e| e.file_name());
    projects.into_iter().find_map(|entry| {
        let source = read_source(wwwroot, &Path::new(&entry.file_name()).join("wsgi.py"))?;
        source
            .contains("get_wsgi_application")
            .then(|| format!("{}.wsgi:application", entry.file_name().to_string_lossy()))
    })
}

fn asgi_target(wwwroot: &Path) -> Option<String> {
    ["app", "main", "asgi", "application"].iter().find_map(|module| {
        let source = read_source(wwwroot, Path::new(&format!("{module}.py")))?;
        if !is_asgi(&source) {
            return None;
        }
        top_level_binding(&source, &["app", "application"]).map(|var| format!("{module}:{var}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    fn web(dir: &Path, startup: Option<&str>) -> Result<Option<StartCommand>, String> {
        let settings: AppSettings = match startup {
            Some(command) => AppSettings::new([("STARTUP_COMMAND".to_string(), command.to_string())].into()),
            None => AppSettings::default(),
        };
        choose(dir, &settings).map(|c| c.web)
    }

    fn shell(dir: &Path, startup: Option<&str>) -> String {
        web(dir, startup).unwrap().unwrap().shell
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let all = site(&[
            ("Procfile", "web: python serve.py\n"),
            ("app.py", "app = Flask(__name__)\n"),
            ("env/bin/gunicorn", ""),
        ]);
        assert_eq!(shell(all.path(), Some("python other.py")), "python other.py");
        assert_eq!(shell(all.path(), None), "python serve.py");
        std::fs::remove_file(all.path().join("Procfile")).unwrap();
        let chosen = web(all.path(), None).unwrap().unwrap();
        assert!(chosen.detected && chosen.shell.starts_with("gunicorn --bind 127.0.0.1:$PORT"), "{chosen:?}");
        assert!(chosen.shell.ends_with("app:app"));
        std::fs::write(all.path().join("app.py"), "print('hi')\n").unwrap();
        assert_eq!(shell(all.path(), None), "python app.py");
    }

    #[test]
    fn a_detected_app_without_its_server_says_what_to_add() {
        let dir = site(&[("app.py", "app = Flask(__name__)\n")]);
        assert_eq!(
            web(dir.path(), None).unwrap_err(),
            "`app:app` is a WSGI app, but gunicorn is not installed in env: add `gunicorn` to the app's dependencies (requirements.txt or pyproject.toml), or set STARTUP_COMMAND"
        );
        let dir = site(&[("main.py", "from fastapi import FastAPI\napp = FastAPI()\n")]);
        assert!(web(dir.path(), None).unwrap_err().contains("uvicorn is not installed in env"));
        let dir = site(&[("README.md", "")]);
        assert!(web(dir.path(), None).unwrap_err().starts_with("nothing to start"));
    }

    #[test]
    fn fastapi_goes_to_uvicorn_even_with_gunicorn_installed() {
        let dir = site(&[
            ("main.py", "from fastapi import FastAPI\napp = FastAPI()\n"),
            ("env/bin/gunicorn", ""),
            ("env/bin/uvicorn", ""),
        ]);
        assert_eq!(shell(dir.path(), None), "uvicorn --host 127.0.0.1 --port $PORT main:app");
    }

    #[test]
    fn django_projects_are_found_by_their_wsgi_module() {
        let dir = site(&[
            ("manage.py", ""),
            (
                "mysite/wsgi.py",
                "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
            ),
            ("env/bin/gunicorn", ""),
        ]);
        assert!(shell(dir.path(), None).ends_with("mysite.wsgi:application"));
    }

    #[test]
    fn process_types_and_the_release_command() {
        let dir = site(&[("Procfile", "release: python migrate.py\nworker: python w.py\n"), ("app.py", "")]);
        let commands = choose(dir.path(), &AppSettings::default()).unwrap();
        assert_eq!(commands.web, None, "a Procfile with only background types has no web process");
        assert_eq!(commands.background, [("worker".to_string(), "python w.py".to_string())]);
        assert_eq!(commands.release, Some(("python migrate.py".to_string(), "the `release:` line of the Procfile")));
        let settings = AppSettings::new([("RELEASE_COMMAND".to_string(), "true".to_string())].into());
        assert_eq!(choose(dir.path(), &settings).unwrap().release.unwrap().0, "true");
    }

    #[test]
    fn comparisons_are_not_bindings() {
        assert_eq!(top_level_binding("if app == 3:\n", &["app"]), None);
        assert_eq!(
            top_level_binding("application: Flask = Flask(__name__)\n", &["app", "application"]),
            Some("application")
        );
    }
}
