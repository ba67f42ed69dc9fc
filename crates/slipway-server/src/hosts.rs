//! Which app — or slipway itself — a request's Host names.
//!
//! - `<app>.localhost`, and `<app>.<base domain>` with `serve --domain example.com`: that app.
//! - A custom domain (`slipway domains add`): the app it belongs to.
//! - An IP address, `localhost`, or an `--admin-host` name: slipway's own API, git and dashboard.
//! - Anything else: no one (a 404 page), never the dashboard.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use crate::app_name::AppName;

/// A domain name as a custom domain or the base domain: lower case, letters, digits and `-` in
/// labels of 1–63 characters, at least two labels, at most 253 characters; not an IP address and
/// not under `localhost`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let invalid = |why: &str| format!("`{}` is not a domain name: {why}", text.escape_debug());
        if name.is_empty() || name.len() > 253 {
            return Err(invalid("expected 1 to 253 characters, e.g. `www.example.com`"));
        }
        if name.parse::<std::net::IpAddr>().is_ok() {
            return Err(invalid("it is an IP address; expected a name such as `www.example.com`"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid("expected at least two labels, e.g. `example.com`"));
        }
        for label in &labels {
            let ok_chars = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if label.is_empty() || label.len() > 63 || !ok_chars || label.starts_with('-') || label.ends_with('-') {
                return Err(invalid(&format!(
                    "the label `{}` is not 1-63 letters, digits or `-` (not first or last)",
                    label.escape_debug()
                )));
            }
        }
        if labels.last() == Some(&"localhost") {
            return Err(invalid("names under `localhost` are slipway's own (`<app>.localhost`)"));
        }
        Ok(DomainName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for DomainName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// What a Host header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// slipway's own pages: the API, git and the dashboard.
    Admin,
    /// An app, by the name it was reached under.
    App(String),
    /// No app and not slipway.
    Unknown,
}

/// The table the proxy looks every request up in. Custom domains change when they are added or
/// removed (written by the service layer); the rest is fixed at start.
#[derive(Debug, Default)]
pub struct Hosts {
    /// `serve --domain`: every app is also `<app>.<base>`.
    base: Option<DomainName>,
    /// `serve --admin-host`: names slipway's own pages answer on, besides IPs and `localhost`.
    admin: Vec<String>,
    /// Custom domains and their apps.
    domains: RwLock<HashMap<String, AppName>>,
}

impl Hosts {
    pub fn new(base: Option<DomainName>, admin: Vec<String>) -> Self {
        let admin = admin.into_iter().map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase()).collect();
        Hosts { base, admin, domains: RwLock::default() }
    }

    pub fn base(&self) -> Option<&DomainName> {
        self.base.as_ref()
    }

    /// The `--admin-host` names a certificate can be had for (not IPs, not `localhost`): with
    /// `--https`, the dashboard, the API and git are served on them over HTTPS too.
    pub fn admin_names(&self) -> impl Iterator<Item = &str> {
        self.admin.iter().map(String::as_str).filter(|name| DomainName::parse(name).is_ok() && !is_ip(name))
    }

    /// Replaces the custom domains (at start, and after each change).
    pub fn set_domains(&self, domains: impl IntoIterator<Item = (DomainName, AppName)>) {
        *self.domains.write().unwrap() = domains.into_iter().map(|(d, a)| (d.0, a)).collect();
    }

    /// The app of a custom domain, if it is one.
    pub fn domain_app(&self, host: &str) -> Option<AppName> {
        self.domains.read().unwrap().get(host).cloned()
    }

    /// What `host` (a Host header, with or without its port) names.
    pub fn target(&self, host: &str) -> Target {
        let name = host_name(host);
        if name.is_empty() || name == "localhost" || is_ip(&name) || self.admin.contains(&name) {
            return Target::Admin;
        }
        if let Some(label) = name.strip_suffix(".localhost").filter(|l| !l.contains('.')) {
            return Target::App(label.to_string());
        }
        if let Some(app) = self.domain_app(&name) {
            return Target::App(app.to_string());
        }
        let under_base = self.base.as_ref().and_then(|base| name.strip_suffix(&format!(".{base}")).map(String::from));
        match under_base {
            Some(label) if !label.contains('.') => Target::App(label),
            _ => Target::Unknown,
        }
    }
}

/// `shop.example.com` from `Shop.Example.com.:8443`; `::1` from `[::1]:80`.
pub fn host_name(host: &str) -> String {
    let host = host.trim();
    let without_port = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => name,
            _ => host,
        },
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

fn is_ip(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_checked() {
        assert_eq!(DomainName::parse("Shop.Example.com.").unwrap().as_str(), "shop.example.com");
        assert!(DomainName::parse("example").unwrap_err().contains("at least two labels"));
        assert!(DomainName::parse("10.0.0.1").unwrap_err().contains("IP address"));
        assert!(DomainName::parse("bad_name.com").unwrap_err().contains("the label `bad_name`"));
        assert!(DomainName::parse("-x.com").is_err());
        assert!(DomainName::parse("a.localhost").unwrap_err().contains("localhost"));
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn hosts_name_apps_slipway_or_no_one() {
        let hosts = Hosts::new(Some(DomainName::parse("apps.example.com").unwrap()), vec!["admin.example.com".into()]);
        hosts.set_domains([(DomainName::parse("shop.test").unwrap(), AppName::parse("shop").unwrap())]);
        assert_eq!(hosts.target("127.0.0.1:8080"), Target::Admin);
        assert_eq!(hosts.target("[::1]:8080"), Target::Admin);
        assert_eq!(hosts.target("localhost"), Target::Admin);
        assert_eq!(hosts.target("Admin.Example.com"), Target::Admin);
        assert_eq!(hosts.target("blog.localhost:8080"), Target::App("blog".into()));
        assert_eq!(hosts.target("blog.apps.example.com"), Target::App("blog".into()));
        assert_eq!(hosts.target("shop.test:443"), Target::App("shop".into()));
        assert_eq!(hosts.target("a.b.apps.example.com"), Target::Unknown);
        assert_eq!(hosts.target("unknown.test"), Target::Unknown);
    }
}
