//! TLS for the HTTP listeners: rustls (on `ring`). `--tls-cert/--tls-key` make the HTTP port speak
//! HTTPS with that one certificate; `--https` serves each domain with its own certificate, chosen
//! by SNI from [`crate::certs::Certificates`] (the `--tls-cert` one for names without their own).

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::ResolvesServerCert;
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::config::TlsFiles;

/// Loads the certificate chain and key; errors name the file and what was expected.
pub fn certified_key(files: &TlsFiles) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--tls-cert {}: {e}; expected a PEM certificate chain", files.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("--tls-cert {}: no certificate found; expected a PEM certificate chain", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| anyhow::anyhow!("--tls-key {}: {e}; expected a PEM private key", files.key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| {
        anyhow::anyhow!("--tls-key {}: {e}; expected an RSA, ECDSA or Ed25519 key", files.key.display())
    })?;
    let key = CertifiedKey::new(certs, signing);
    key.keys_match()
        .map_err(|_| anyhow::anyhow!("--tls-cert/--tls-key do not make a usable certificate and key pair"))?;
    Ok(Arc::new(key))
}

/// A server configuration that presents what `resolver` picks for each handshake.
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// One certificate for every name (the HTTP port with `--tls-cert`).
#[derive(Debug)]
pub struct SingleCert(pub Arc<CertifiedKey>);

impl ResolvesServerCert for SingleCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
