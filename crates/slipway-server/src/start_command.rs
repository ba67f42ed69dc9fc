//! How an app is started, first match wins, and the log says which rule chose:
//! setting `STARTUP_COMMAND`; a `Procfile` `web:` line; gunicorn with a detected WSGI app
//! (`app.py`/`application.py`/`wsgi.py` defining `app` or `application`, or a Django project's
//! `wsgi.py`); uvicorn with a detected ASGI app (FastAPI/Starlette); else `python app.py`.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCommand {
    /// Run with `sh -c`, so `$PORT` and the like expand.
    pub shell: String,
    /// Which rule chose it, for the log.
    pub rule: String,
}

/// Chooses the start command for the code in `wwwroot` (with its env at `wwwroot/env`).
pub fn choose(wwwroot: &Path, startup_command: Option<&str>) -> Result<StartCommand, String> {
    if let Some(command) = startup_command.map(str::trim).filter(|c| !c.is_empty()) {
        return Ok(StartCommand { shell: command.to_string(), rule: "the STARTUP_COMMAND setting".into() });
    }
    if let Some(text) = read_source(wwwroot, Path::new("Procfile")) {
        return procfile_web(&text).map(|shell| StartCommand { shell, rule: "the `web:` line of the Procfile".into() });
    }
    let bin = wwwroot.join("env/bin");
    let has = |tool: &str| bin.join(tool).is_file();
    if has("gunicorn") {
        if let Some(target) = wsgi_target(wwwroot) {
            return Ok(StartCommand {
                shell: format!("gunicorn --bind 127.0.0.1:$PORT --access-logfile - {target}"),
                rule: format!("gunicorn is installed and `{target}` is a WSGI app"),
            });
        }
    }
    if has("uvicorn") {
        if let Some(target) = asgi_target(wwwroot) {
            return Ok(StartCommand {
                shell: format!("uvicorn --host 127.0.0.1 --port $PORT {target}"),
                rule: format!("uvicorn is installed and `{target}` is an ASGI app"),
            });
        }
    }
    Ok(StartCommand {
        shell: "python app.py".into(),
        rule: "no STARTUP_COMMAND, Procfile or detected WSGI/ASGI app: the default".into(),
    })
}

/// Files of the release that are read to choose the command: at most this much of each.
const MAX_SOURCE: u64 = 1024 * 1024;

/// A file of the release, as text; `None` if it is not there — or leads outside the release (the
/// release is the app's: a `Procfile` linked to `/etc/shadow` must not reach an error message).
fn read_source(release: &Path, rel: &Path) -> Option<String> {
    crate::releases::read_file(release, rel, MAX_SOURCE).ok().flatten()
}

/// The command of the `web:` process type.
pub fn procfile_web(text: &str) -> Result<String, String> {
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((kind, command)) = line.split_once(':') else {
            return Err(format!(
                "Procfile line {}: `{line}` is not `<type>: <command>` (expected e.g. `web: gunicorn app:app`)",
                index + 1
            ));
        };
        if kind.trim() == "web" {
            let command = command.trim();
            if command.is_empty() {
                return Err(format!("Procfile line {}: the `web:` line has no command", index + 1));
            }
            return Ok(command.to_string());
        }
    }
    Err("Procfile has no `web:` line; expected e.g. `web: gunicorn --bind 127.0.0.1:$PORT app:app`".into())
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

    #[test]
    fn the_first_matching_rule_wins() {
        let all = site(&[
            ("Procfile", "web: python serve.py\n"),
            ("app.py", "app = Flask(__name__)\n"),
            ("env/bin/gunicorn", ""),
        ]);
        assert_eq!(choose(all.path(), Some("python other.py")).unwrap().shell, "python other.py");
        assert_eq!(choose(all.path(), None).unwrap().shell, "python serve.py");
        std::fs::remove_file(all.path().join("Procfile")).unwrap();
        let chosen = choose(all.path(), None).unwrap();
        assert!(
            chosen.shell.starts_with("gunicorn --bind 127.0.0.1:$PORT") && chosen.shell.ends_with("app:app"),
            "{chosen:?}"
        );
        std::fs::remove_file(all.path().join("env/bin/gunicorn")).unwrap();
        assert_eq!(choose(all.path(), None).unwrap().shell, "python app.py");
    }

    #[test]
    fn fastapi_goes_to_uvicorn_even_with_gunicorn_installed() {
        let dir = site(&[
            ("main.py", "from fastapi import FastAPI\napp = FastAPI()\n"),
            ("env/bin/gunicorn", ""),
            ("env/bin/uvicorn", ""),
        ]);
        assert_eq!(choose(dir.path(), None).unwrap().shell, "uvicorn --host 127.0.0.1 --port $PORT main:app");
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
        assert!(choose(dir.path(), None).unwrap().shell.ends_with("mysite.wsgi:application"));
    }

    #[test]
    fn procfile_problems_are_named() {
        assert_eq!(
            procfile_web("worker: celery\n").unwrap_err(),
            "Procfile has no `web:` line; expected e.g. `web: gunicorn --bind 127.0.0.1:$PORT app:app`"
        );
        assert!(procfile_web("# c\nthis is not a procfile\n").unwrap_err().starts_with("Procfile line 2:"));
        assert!(procfile_web("web:   \n").unwrap_err().contains("has no command"));
        assert_eq!(procfile_web("worker: x\nweb: gunicorn a:b\n").unwrap(), "gunicorn a:b");
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
