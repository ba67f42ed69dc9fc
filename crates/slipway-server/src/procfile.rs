//! The Procfile: `<type>: <command>` lines naming the app's process types, Heroku's format.
//! `web` answers HTTP behind the proxy, `release` runs once per deployment before the switch,
//! any other type (`worker`, `clock`, …) runs in the background.

use std::path::Path;

/// The process type that answers HTTP.
pub const WEB: &str = "web";
/// The command run once per deployment, before the switch.
pub const RELEASE: &str = "release";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Procfile {
    /// `(type, command)`, in the file's order.
    entries: Vec<(String, String)>,
}

impl Procfile {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |message: String| format!("Procfile line {}: {message}", index + 1);
            let Some((kind, command)) = line.split_once(':') else {
                return Err(at(format!("`{line}` is not `<type>: <command>` (expected e.g. `web: gunicorn app:app`)")));
            };
            let (kind, command) = (kind.trim(), command.trim());
            if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(at(format!("`{kind}` is not a process type; expected letters, digits, `-` or `_`")));
            }
            if command.is_empty() {
                return Err(at(format!("the `{kind}:` line has no command")));
            }
            if entries.iter().any(|(k, _)| k == kind) {
                return Err(at(format!("a second `{kind}:` line; each process type has one command")));
            }
            entries.push((kind.to_string(), command.to_string()));
        }
        Ok(Procfile { entries })
    }

    /// The release's Procfile, if it has one (never read through a link out of the release).
    pub fn read(release: &Path) -> Result<Option<Self>, String> {
        match crate::releases::read_file(release, Path::new("Procfile"), 64 * 1024) {
            Ok(Some(text)) => Self::parse(&text).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(format!("Procfile cannot be read: {e}")),
        }
    }

    pub fn command(&self, kind: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == kind).map(|(_, c)| c.as_str())
    }

    /// The types that run as background processes: all but `web` and `release`.
    pub fn background(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter(|(k, _)| k != WEB && k != RELEASE).map(|(k, c)| (k.as_str(), c.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_their_commands() {
        let procfile =
            Procfile::parse("# app\nweb: gunicorn a:b\nrelease: python manage.py migrate\nworker: python w.py\n")
                .unwrap();
        assert_eq!(procfile.command(WEB), Some("gunicorn a:b"));
        assert_eq!(procfile.command(RELEASE), Some("python manage.py migrate"));
        assert_eq!(procfile.background().collect::<Vec<_>>(), [("worker", "python w.py")]);
    }

    #[test]
    fn problems_are_named_with_their_line() {
        assert!(Procfile::parse("# c\nthis is not a procfile\n").unwrap_err().starts_with("Procfile line 2:"));
        assert_eq!(Procfile::parse("web:   \n").unwrap_err(), "Procfile line 1: the `web:` line has no command");
        assert!(Procfile::parse("web: a\nweb: b\n").unwrap_err().contains("a second `web:` line"));
        assert!(Procfile::parse("my worker: a\n").unwrap_err().contains("`my worker` is not a process type"));
    }
}
