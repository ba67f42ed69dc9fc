//! Domains: an app's own names — `<app>.localhost`, `<app>.<base>` with `serve --domain`, and its
//! custom domains (`slipway domains add|remove|list`, each belonging to one app) — and their
//! certificates, obtained with ACME when the server has `--https` (when a name is added, and
//! renewed well before they expire) or given by the operator.

use serde::Serialize;

use super::Service;
use crate::app_name::AppName;
use crate::certs::{CertStatus, Source};
use crate::cluster::{AppEvent, ClusterLock};
use crate::error::{Error, Result};
use crate::hosts::{DomainName, Target};

/// One name of an app, as `slipway domains list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DomainView {
    pub domain: String,
    /// `local` (`<app>.localhost`), `base` (`<app>.<--domain>`) or `custom`.
    pub kind: &'static str,
    /// Where the app answers under this name.
    pub url: String,
    /// Its certificate, for the names the HTTPS listener serves.
    pub certificate: Option<CertStatus>,
}

impl Service {
    /// The app's names, its custom domains last.
    pub fn domains(&self, app: &AppName) -> Result<Vec<DomainView>> {
        self.require_app(app)?;
        let shared = &self.shared;
        let mut views = vec![DomainView {
            domain: format!("{app}.localhost"),
            kind: "local",
            url: self.url(&format!("{app}.localhost"), false),
            certificate: None,
        }];
        if let Some(base) = self.base_name(app) {
            views.push(self.view(&base, "base"));
        }
        for (domain, owner) in shared.store.domains()? {
            if owner == *app {
                views.push(self.view(domain.as_str(), "custom"));
            }
        }
        Ok(views)
    }

    /// Gives `domain` to the app; with `--https`, its certificate is being obtained when this returns.
    pub fn add_domain(&self, app: &AppName, domain: &str) -> Result<DomainView> {
        self.require_app(app)?;
        let domain = DomainName::parse(domain).map_err(Error::Invalid)?;
        if self.shared.hosts.target(domain.as_str()) == Target::Admin {
            return Err(Error::Invalid(format!(
                "{domain} is one of the server's admin host names (--admin-host): the dashboard and the API answer there"
            )));
        }
        if let Some(base) = self.shared.hosts.base() {
            if domain == *base || domain.as_str().ends_with(&format!(".{base}")) {
                return Err(Error::Invalid(format!(
                    "{domain} is under --domain {base}, whose names are the apps' own (`<app>.{base}`)"
                )));
            }
        }
        if let Err(owner) = self.shared.store.add_domain(app, &domain)? {
            return Err(Error::Conflict(format!("{domain} already belongs to app `{owner}`; remove it there first")));
        }
        self.refresh_hosts()?;
        self.tell_instances(AppEvent::Domains, app);
        tracing::info!("{app}: added the domain {domain}");
        self.obtain_in_background(domain.as_str());
        Ok(self.view(domain.as_str(), "custom"))
    }

    pub fn remove_domain(&self, app: &AppName, domain: &str) -> Result<()> {
        self.require_app(app)?;
        let parsed = DomainName::parse(domain).map_err(Error::Invalid)?;
        if !self.shared.store.remove_domain(app, &parsed)? {
            return Err(Error::NoSuchDomain { app: app.clone(), domain: domain.to_string() });
        }
        self.shared.certs.remove(parsed.as_str());
        self.refresh_hosts()?;
        self.tell_instances(AppEvent::Domains, app);
        tracing::info!("{app}: removed the domain {parsed}");
        Ok(())
    }

    /// Installs the operator's own certificate for one of the app's custom domains (or its base
    /// name); ACME leaves it alone from then on.
    pub fn install_certificate(
        &self,
        app: &AppName,
        domain: &str,
        chain_pem: &str,
        key_pem: &str,
    ) -> Result<DomainView> {
        let views = self.domains(app)?;
        let view = views
            .iter()
            .find(|v| v.kind != "local" && v.domain.eq_ignore_ascii_case(domain.trim()))
            .ok_or_else(|| Error::NoSuchDomain { app: app.clone(), domain: domain.to_string() })?;
        self.shared.certs.install(&view.domain, chain_pem, key_pem, Source::Manual).map_err(Error::Invalid)?;
        Ok(self.view(&view.domain, view.kind))
    }

    /// Obtains the certificates that are missing or due for renewal; at start and twice a day.
    pub async fn renew_certificates(&self) {
        if !self.shared.certs.acme_enabled() {
            return;
        }
        let mut names: Vec<String> =
            self.shared.store.domains().unwrap_or_default().into_iter().map(|(d, _)| d.to_string()).collect();
        names.extend(self.shared.store.app_names().unwrap_or_default().iter().filter_map(|app| self.base_name(app)));
        names.extend(self.shared.hosts.admin_names().map(String::from));
        for name in names.into_iter().filter(|n| self.shared.certs.needs_certificate(n)) {
            self.obtain(&name).await;
        }
    }

    /// Obtains `name`'s certificate, unless another instance is obtaining it right now; the
    /// others load it from the shared data dir when told.
    async fn obtain(&self, name: &str) {
        let Some(_only_here) = ClusterLock::try_take_key(&self.shared, format!("slipway certificate {name}")) else {
            return;
        };
        let status = self.shared.certs.obtain(name).await;
        if let (Some(app), "issued") = (self.owner_of(name), status.state) {
            self.tell_instances(AppEvent::Domains, &app);
        }
    }

    /// The app a name belongs to: a custom domain, or `<app>.<base>`.
    fn owner_of(&self, name: &str) -> Option<AppName> {
        self.shared.hosts.domain_app(name).or_else(|| {
            let base = self.shared.hosts.base()?;
            AppName::parse(name.strip_suffix(&format!(".{base}"))?).ok()
        })
    }

    /// With `--domain` and `--https`: a new app's certificate for `<app>.<base>`.
    pub(super) fn obtain_base_certificate(&self, app: &AppName) {
        if let Some(name) = self.base_name(app) {
            self.obtain_in_background(&name);
        }
    }

    /// Forgets the certificates of a deleted app's names (its domains went with it).
    pub(super) fn forget_domains(&self, app: &AppName, domains: &[DomainName]) {
        for domain in domains {
            self.shared.certs.remove(domain.as_str());
        }
        if let Some(base) = self.base_name(app) {
            self.shared.certs.remove(&base);
        }
        if let Err(e) = self.refresh_hosts() {
            tracing::warn!("refreshing the domains after deleting {app}: {e}");
        }
    }

    fn obtain_in_background(&self, name: &str) {
        if !self.shared.certs.acme_enabled() {
            return;
        }
        let (service, name) = (self.clone(), name.to_string());
        tokio::spawn(async move { service.obtain(&name).await });
    }

    pub(super) fn refresh_hosts(&self) -> Result<()> {
        self.shared.hosts.set_domains(self.shared.store.domains()?);
        Ok(())
    }

    /// `<app>.<base>`, with `--domain`.
    fn base_name(&self, app: &AppName) -> Option<String> {
        self.shared.hosts.base().map(|base| format!("{app}.{base}"))
    }

    fn view(&self, name: &str, kind: &'static str) -> DomainView {
        let https = self.shared.https_addr.is_some();
        DomainView {
            domain: name.to_string(),
            kind,
            url: self.url(name, https),
            certificate: https.then(|| self.shared.certs.status(name)),
        }
    }

    /// `https://name[:port]/` on the HTTPS listener, else `http://name:port/`.
    fn url(&self, name: &str, https: bool) -> String {
        match (https, self.shared.https_addr) {
            (true, Some(addr)) if addr.port() == 443 => format!("https://{name}/"),
            (true, Some(addr)) => format!("https://{name}:{}/", addr.port()),
            _ if self.shared.http_addr.port() == 80 => format!("http://{name}/"),
            _ => format!("http://{name}:{}/", self.shared.http_addr.port()),
        }
    }
}
