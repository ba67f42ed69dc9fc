//! Secrets: the operator's admin token and the per-app deployment passwords.
//!
//! Passwords are stored only as argon2 hashes. The admin token is stored hashed in the database
//! (sha256 is enough for a 256-bit random token) and in plain text only in `<data-dir>/admin-token`
//! (mode 0600), where the CLI reads it. Neither is ever logged.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A random secret of 32 bytes, URL-safe base64 (43 characters).
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A deployment password: 24 random characters, easy to paste into a URL.
pub fn generate_password() -> String {
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes).replace(['-', '_'], "x")
}

/// An argon2id hash (PHC string) with a random salt.
pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    // 16 bytes are within the salt lengths argon2 accepts, and the default parameters are valid:
    // neither step can fail.
    let salt = SaltString::encode_b64(&salt_bytes).expect("a 16-byte salt encodes");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Gives memory the allocator holds but no longer uses back to the system: an argon2 check frees
/// a 19 MiB buffer that would otherwise stay in the server's resident size.
pub fn release_freed_memory() {
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Equal without telling, through timing, how much of a guess was right.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the token file with mode 0600 from the start (never world-readable, even briefly).
pub fn write_token_file(path: &Path, token: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let password = generate_password();
        let hash = hash_password(&password);
        assert!(hash.starts_with("$argon2"));
        assert!(!hash.contains(&password));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn generated_secrets_are_distinct_and_url_safe() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(generate_password().chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
