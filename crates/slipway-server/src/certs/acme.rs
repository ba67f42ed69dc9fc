//! Certificates from an ACME CA — Let's Encrypt unless `--acme-directory` names another — with
//! `instant-acme` (an async, pure-Rust RFC 8555 client on rustls and ring, kept by the rustls
//! maintainers; it does the protocol, slipway only answers the challenge). The challenge is
//! HTTP-01, answered by slipway's own HTTP listener at `/.well-known/acme-challenge/<token>`; the
//! account's credentials are kept in `<data-dir>/acme/`, private to slipway.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use sha2::{Digest, Sha256};

use crate::config::AcmeConfig;

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How long one certificate may take, from the order to the chain.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Acme {
    config: AcmeConfig,
    /// The account's credentials for this directory.
    account_file: PathBuf,
    /// Made or loaded on first use; one issuance at a time creates it.
    account: tokio::sync::Mutex<Option<Account>>,
    /// HTTP-01 tokens being validated, and their key authorizations.
    challenges: Mutex<HashMap<String, String>>,
    /// The same, as files in the shared data dir, so that an instance sharing it answers the CA
    /// when a load balancer sends the validation there.
    challenge_dir: PathBuf,
}

impl Acme {
    /// `dir` is `<data-dir>/acme`.
    pub fn new(config: AcmeConfig, dir: PathBuf) -> Self {
        let id: String =
            Sha256::digest(config.directory.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
        let account_file = dir.join(format!("account-{id}.json"));
        let challenge_dir = dir.join("challenges");
        Acme {
            config,
            account_file,
            account: tokio::sync::Mutex::default(),
            challenges: Mutex::default(),
            challenge_dir,
        }
    }

    pub fn directory(&self) -> &str {
        &self.config.directory
    }

    pub fn challenge_response(&self, token: &str) -> Option<String> {
        if let Some(answer) = self.challenges.lock().unwrap().get(token) {
            return Some(answer.clone());
        }
        // Tokens are base64url: anything else is not one, and never a path.
        let is_token = !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        is_token.then(|| std::fs::read_to_string(self.challenge_dir.join(token)).ok()).flatten()
    }

    /// A certificate chain and its private key (PEM) for `name`.
    pub async fn issue(&self, name: &str) -> Result<(String, String), String> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(name.to_string())];
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| format!("{}: new order: {e}", self.config.directory))?;
        let mut tokens = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| format!("authorization: {e}"))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("the authorization for {name} is {other:?}")),
            }
            let mut challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| format!("the CA offers no HTTP-01 challenge for {name}"))?;
            let token = challenge.token.clone();
            let answer = challenge.key_authorization().as_str().to_string();
            if let Err(e) = std::fs::create_dir_all(&self.challenge_dir)
                .and_then(|_| std::fs::write(self.challenge_dir.join(&token), &answer))
            {
                tracing::warn!("writing the HTTP-01 answer where other instances read it: {e}");
            }
            self.challenges.lock().unwrap().insert(token.clone(), answer);
            tokens.push(token);
            challenge.set_ready().await.map_err(|e| format!("challenge: {e}"))?;
        }
        let result = self.finish(&mut order, name).await;
        let mut challenges = self.challenges.lock().unwrap();
        for token in tokens {
            let _ = std::fs::remove_file(self.challenge_dir.join(&token));
            challenges.remove(&token);
        }
        result
    }

    async fn finish(&self, order: &mut instant_acme::Order, name: &str) -> Result<(String, String), String> {
        let retries = RetryPolicy::new().timeout(ISSUE_TIMEOUT);
        let status = order.poll_ready(&retries).await.map_err(|e| format!("validating {name}: {e}"))?;
        if status != OrderStatus::Ready {
            return Err(format!(
                "the CA could not validate {name} ({status:?}): its DNS must point at this server, whose HTTP port must be reachable on port 80"
            ));
        }
        let key = order.finalize().await.map_err(|e| format!("finalizing the order: {e}"))?;
        let chain = order.poll_certificate(&retries).await.map_err(|e| format!("fetching the certificate: {e}"))?;
        Ok((chain, key))
    }

    /// The account: from its credentials file, else made now (and its credentials kept, 0600).
    async fn account(&self) -> Result<Account, String> {
        let mut account = self.account.lock().await;
        if let Some(account) = account.as_ref() {
            return Ok(account.clone());
        }
        let builder = match &self.config.ca_cert {
            Some(root) => {
                Account::builder_with_root(root).map_err(|e| format!("--acme-ca-cert {}: {e}", root.display()))?
            }
            None => Account::builder().map_err(|e| format!("the ACME client: {e}"))?,
        };
        let saved =
            std::fs::read(&self.account_file).ok().and_then(|b| serde_json::from_slice::<AccountCredentials>(&b).ok());
        let made = match saved {
            Some(credentials) => builder
                .from_credentials(credentials)
                .await
                .map_err(|e| format!("{}: restoring the account: {e}", self.config.directory))?,
            None => {
                let contact = self.config.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
                let (account, credentials) = builder
                    .create(&new, self.config.directory.clone(), None)
                    .await
                    .map_err(|e| format!("{}: creating an account: {e}", self.config.directory))?;
                self.save(&credentials)?;
                account
            }
        };
        *account = Some(made.clone());
        Ok(made)
    }

    fn save(&self, credentials: &AccountCredentials) -> Result<(), String> {
        let json = serde_json::to_string(credentials).map_err(|e| format!("the account's credentials: {e}"))?;
        let dir = self.account_file.parent().expect("a folder");
        let file = self.account_file.file_name().expect("a name").to_string_lossy();
        super::write_private(dir, &file, &json)
    }
}
