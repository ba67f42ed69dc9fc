//! Credentials: the operator's admin token, and each app's deployment password, which works for
//! git and FTP, for that app only.

use std::sync::OnceLock;

use super::Service;
use crate::app_name::AppName;
use crate::error::Result;
use crate::secrets;

impl Service {
    pub fn is_admin_token(&self, token: &str) -> bool {
        matches!(self.shared.store.admin_token_hash(), Ok(Some(hash)) if hash == secrets::token_sha256(token))
    }

    /// Gives the app a new deployment password (the old one stops working); returns it.
    pub async fn reset_password(&self, app: &AppName) -> Result<String> {
        self.require_app(app)?;
        let password = secrets::generate_password();
        let (name, hashed) = (app.clone(), password.clone());
        self.blocking(move |shared| Ok(shared.store.set_password_hash(&name, &secrets::hash_password(&hashed))?))
            .await?;
        Ok(password)
    }

    /// Whether `password` is the app's deployment password. An unknown app costs the same
    /// argon2 verification as a wrong password, so timing does not tell which apps exist.
    pub async fn check_password(&self, app: &AppName, password: &str) -> Result<bool> {
        let (name, password) = (app.clone(), password.to_string());
        self.blocking(move |shared| {
            let hash = shared.store.password_hash(&name)?;
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
            Ok(secrets::verify_password(&password, &hash) && known)
        })
        .await
    }
}

fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| secrets::hash_password("no app has this password"))
}
