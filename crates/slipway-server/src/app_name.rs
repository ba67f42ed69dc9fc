//! App names: parsed once where they enter (a URL path, a JSON body, a form, an FTP login, git's
//! hook), and carried as [`AppName`] from there on, so nothing inside re-validates them.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A valid app name: `^[a-z][a-z0-9-]{1,38}[a-z0-9]$`. It is safe to use as a path component,
/// a host-name label and a Unix user-name suffix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid app name `{}`: expected 3 to 40 characters, lowercase letters, digits and `-`, starting with a letter and not ending with `-`",
    .0.escape_debug()
)]
pub struct InvalidAppName(pub String);

impl AppName {
    pub fn parse(name: &str) -> Result<Self, InvalidAppName> {
        let bytes = name.as_bytes();
        let ok = (3..=40).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[bytes.len() - 1] != b'-';
        if ok {
            Ok(AppName(name.to_string()))
        } else {
            Err(InvalidAppName(name.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for AppName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by app name can be looked up with a `&str` (the proxy's host label).
impl std::borrow::Borrow<str> for AppName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for AppName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for AppName {
    fn as_ref(&self) -> &std::path::Path {
        self.0.as_ref()
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AppName {
    type Error = InvalidAppName;
    fn try_from(name: String) -> Result<Self, InvalidAppName> {
        AppName::parse(&name)
    }
}

impl From<AppName> for String {
    fn from(name: AppName) -> String {
        name.0
    }
}

impl std::str::FromStr for AppName {
    type Err = InvalidAppName;
    fn from_str(name: &str) -> Result<Self, InvalidAppName> {
        AppName::parse(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        for good in ["abc", "hello", "my-app-2", &format!("a{}", "b".repeat(39))] {
            assert!(AppName::parse(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Hello", "1app", "app-", "a_b", "a.b", "", "../x", &format!("a{}", "b".repeat(40)), "héllo"]
        {
            assert!(AppName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<AppName>("\"good-name\"").is_ok());
        let err = serde_json::from_str::<AppName>("\"Bad\"").unwrap_err().to_string();
        assert!(err.starts_with("invalid app name `Bad`"), "{err}");
    }
}
