//! The certificates the HTTPS listener presents: one per domain name, chosen by SNI. Each lives in
//! `<data-dir>/certs/<name>/` (`cert.pem`, `key.pem`, `source`), private to slipway (0700/0600).
//! They come from ACME ([`acme`]) — obtained when a name is added and renewed well before they
//! expire — or are given by the operator (`slipway domains cert`), which ACME then leaves alone.

pub mod acme;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use acme::Acme;

/// Renew an ACME certificate once a third of its lifetime is left — 30 days of Let's Encrypt's
/// 90 — but never later than its last day.
pub const LAST_DAY: time::Duration = time::Duration::days(1);

/// Where a certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Acme,
    Manual,
}

/// What `slipway domains list` shows of a name's certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertStatus {
    /// `none`, `pending`, `issued`, `failed`.
    pub state: &'static str,
    pub source: Option<Source>,
    /// The issuer's common name (`Pebble Intermediate CA`, `R11`).
    pub issuer: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    /// When slipway last obtained it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub renewed_at: Option<OffsetDateTime>,
    /// Why the last attempt to obtain it failed, if it did.
    pub last_error: Option<String>,
}

struct Loaded {
    key: Arc<CertifiedKey>,
    issuer: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    source: Source,
    renewed_at: Option<OffsetDateTime>,
}

/// The certificates, on disk and as rustls serves them.
pub struct Certificates {
    dir: PathBuf,
    /// By name: read on every TLS handshake, written when a certificate is installed.
    loaded: RwLock<HashMap<String, Loaded>>,
    /// `--tls-cert`: presented for any name without a certificate of its own.
    fallback: Option<Arc<CertifiedKey>>,
    /// How certificates are obtained; `None` without `--https`.
    acme: Option<Acme>,
    /// Names being obtained, and why the last attempt failed: in memory, for the status.
    attempts: Mutex<HashMap<String, Attempt>>,
}

#[derive(Clone, Default)]
struct Attempt {
    pending: bool,
    last_error: Option<String>,
}

impl Certificates {
    /// Loads every certificate under `dir`; one that cannot be read is logged and left out.
    pub fn load(dir: PathBuf, fallback: Option<Arc<CertifiedKey>>, acme: Option<Acme>) -> Self {
        let loaded = RwLock::new(read_all(&dir));
        Certificates { dir, loaded, fallback, acme, attempts: Mutex::default() }
    }

    /// Reads every certificate again: another instance sharing the data dir obtained, installed
    /// or removed one.
    pub fn reload(&self) {
        *self.loaded.write().unwrap() = read_all(&self.dir);
    }

    /// Whether certificates are obtained with ACME (the server has `--https`).
    pub fn acme_enabled(&self) -> bool {
        self.acme.is_some()
    }

    pub fn status(&self, name: &str) -> CertStatus {
        let attempt = self.attempts.lock().unwrap().get(name).cloned().unwrap_or_default();
        let loaded = self.loaded.read().unwrap();
        let cert = loaded.get(name);
        let state = match (cert, attempt.pending, &attempt.last_error) {
            (_, true, _) => "pending",
            (Some(_), false, _) => "issued",
            (None, false, Some(_)) => "failed",
            (None, false, None) => "none",
        };
        CertStatus {
            state,
            source: cert.map(|c| c.source),
            issuer: cert.map(|c| c.issuer.clone()),
            not_after: cert.map(|c| c.not_after),
            renewed_at: cert.and_then(|c| c.renewed_at),
            last_error: attempt.last_error,
        }
    }

    /// Whether ACME should (re)issue `name`'s certificate now: it has none, or an ACME one with
    /// less than a third of its lifetime (at least its [`LAST_DAY`]) left.
    pub fn needs_certificate(&self, name: &str) -> bool {
        let loaded = self.loaded.read().unwrap();
        match loaded.get(name) {
            None => true,
            Some(cert) if cert.source == Source::Manual => false,
            Some(cert) => due_for_renewal(cert.not_before, cert.not_after, OffsetDateTime::now_utc()),
        }
    }

    /// Checks and installs a certificate chain and key for `name` (written atomically, 0600).
    pub fn install(&self, name: &str, chain_pem: &str, key_pem: &str, source: Source) -> Result<CertStatus, String> {
        let mut cert = parse(chain_pem.as_bytes(), key_pem.as_bytes(), source)?;
        let covers = cert_names(chain_pem.as_bytes()).map_err(|e| format!("the certificate: {e}"))?;
        if !covers.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(format!("the certificate is for {}, not {name}", covers.join(", ")));
        }
        cert.renewed_at = Some(OffsetDateTime::now_utc());
        let dir = self.dir.join(name);
        write_private(&dir, "cert.pem", chain_pem)?;
        write_private(&dir, "key.pem", key_pem)?;
        write_private(&dir, "source", if source == Source::Acme { "acme" } else { "manual" })?;
        self.loaded.write().unwrap().insert(name.to_string(), cert);
        Ok(self.status(name))
    }

    /// Forgets `name`'s certificate and deletes its files.
    pub fn remove(&self, name: &str) {
        self.loaded.write().unwrap().remove(name);
        self.attempts.lock().unwrap().remove(name);
        let _ = std::fs::remove_dir_all(self.dir.join(name));
    }

    /// The key authorization an ACME server asks for at `/.well-known/acme-challenge/<token>`.
    pub fn challenge_response(&self, token: &str) -> Option<String> {
        self.acme.as_ref()?.challenge_response(token)
    }

    /// Obtains a certificate for `name` with ACME and installs it; the status says how it went.
    pub async fn obtain(&self, name: &str) -> CertStatus {
        let Some(acme) = &self.acme else { return self.status(name) };
        self.attempts.lock().unwrap().insert(name.to_string(), Attempt { pending: true, last_error: None });
        let result = match acme.issue(name).await {
            Ok((chain, key)) => self.install(name, &chain, &key, Source::Acme).map(|_| ()),
            Err(e) => Err(e),
        };
        let last_error = result.err();
        match &last_error {
            Some(e) => tracing::warn!("certificate for {name}: {e}"),
            None => tracing::info!("certificate for {name} obtained from {}", acme.directory()),
        }
        self.attempts.lock().unwrap().insert(name.to_string(), Attempt { pending: false, last_error });
        self.status(name)
    }

    /// What rustls asks for the certificate of each handshake.
    pub fn resolver(self: &Arc<Self>) -> Arc<dyn ResolvesServerCert> {
        Arc::new(Resolver(self.clone()))
    }
}

/// Every certificate under `dir`; one that cannot be read is logged and left out.
fn read_all(dir: &std::path::Path) -> HashMap<String, Loaded> {
    let mut loaded = HashMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match read_loaded(&entry.path()) {
            Ok(cert) => {
                loaded.insert(name, cert);
            }
            Err(e) => tracing::warn!("certificate of {name}: {e}"),
        }
    }
    loaded
}

/// Picks the certificate by SNI.
struct Resolver(Arc<Certificates>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        let own = name.and_then(|n| self.0.loaded.read().unwrap().get(&n).map(|c| c.key.clone()));
        own.or_else(|| self.0.fallback.clone())
    }
}

fn read_loaded(dir: &Path) -> Result<Loaded, String> {
    let read = |file: &str| std::fs::read(dir.join(file)).map_err(|e| format!("{}: {e}", dir.join(file).display()));
    let source = match read("source").ok().as_deref() {
        Some(b"manual") => Source::Manual,
        _ => Source::Acme,
    };
    let mut loaded = parse(&read("cert.pem")?, &read("key.pem")?, source)?;
    loaded.renewed_at =
        std::fs::metadata(dir.join("cert.pem")).and_then(|m| m.modified()).ok().map(OffsetDateTime::from);
    Ok(loaded)
}

/// A certificate chain and its key, as rustls presents them, with what the status shows.
fn parse(chain_pem: &[u8], key_pem: &[u8], source: Source) -> Result<Loaded, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    let first = chain.first().ok_or("no certificate in the PEM; expected a certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("the key is not a PEM private key: {e}"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("the key cannot sign (expected an RSA, ECDSA or Ed25519 key): {e}"))?;
    let (issuer, not_before, not_after) = {
        let (_, x509) = x509_parser::parse_x509_certificate(first).map_err(|e| format!("the certificate: {e}"))?;
        let issuer = x509.issuer().iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or("-");
        let stamp = |t: x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        (issuer.to_string(), stamp(x509.validity().not_before), stamp(x509.validity().not_after))
    };
    let key = CertifiedKey::new(chain, signing);
    key.keys_match().map_err(|e| format!("the key does not belong to the certificate: {e}"))?;
    Ok(Loaded { key: Arc::new(key), issuer, not_before, not_after, source, renewed_at: None })
}

/// The DNS names a certificate is for (its subject alternative names, else its common name).
fn cert_names(chain_pem: &[u8]) -> Result<Vec<String>, String> {
    let first = CertificateDer::pem_slice_iter(chain_pem).next().ok_or("no certificate")?.map_err(|e| e.to_string())?;
    let (_, x509) = x509_parser::parse_x509_certificate(&first).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = match x509.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(name) => Some(name.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names.extend(x509.subject().iter_common_name().filter_map(|cn| cn.as_str().ok().map(String::from)));
    }
    Ok(names)
}

/// Writes `dir/file` atomically, readable by slipway only.
fn write_private(dir: &Path, file: &str, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let fail = |e: std::io::Error| format!("write {}: {e}", dir.join(file).display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.persist(dir.join(file)).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Renewed with a third of its lifetime left (30 days of Let's Encrypt's 90, as certbot does),
/// and never later than its last day.
fn due_for_renewal(not_before: OffsetDateTime, not_after: OffsetDateTime, now: OffsetDateTime) -> bool {
    let lifetime = not_after - not_before;
    not_after - now < std::cmp::max(lifetime / 3_i32, LAST_DAY)
}

#[cfg(test)]
mod renewal_tests {
    use super::*;
    use time::Duration;

    #[test]
    fn a_certificate_is_renewed_with_a_third_of_its_lifetime_left() {
        let issued = OffsetDateTime::now_utc();
        let expires = issued + Duration::days(90);
        assert!(!due_for_renewal(issued, expires, expires - Duration::days(40)), "fresh: left alone");
        assert!(due_for_renewal(issued, expires, expires - Duration::days(20)), "20 of 90 days left");
        let short = issued + Duration::days(2);
        assert!(due_for_renewal(issued, short, short - Duration::hours(12)), "a short one on its last day");
        assert!(!due_for_renewal(issued, short, issued + Duration::hours(1)));
    }
}
