//! `slipway login URL` and `slipway logout`.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};

use crate::cli::LoginArgs;
use crate::client::{server_base, token_in_data_dir, Client};
use crate::saved_login::SavedLogin;

/// Checks the token against the server, then saves both.
pub fn login(args: LoginArgs) -> anyhow::Result<()> {
    let base = server_base(args.server.trim())?;
    let (token, source) = match (args.token, args.data_dir) {
        (Some(token), _) => (token.trim().to_string(), "--token".to_string()),
        (None, Some(dir)) => token_in_data_dir(&dir)?,
        (None, None) => match std::env::var("SLIPWAY_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
            Some(token) => (token.trim().to_string(), "SLIPWAY_TOKEN".to_string()),
            None => (read_token(&base)?, "standard input".to_string()),
        },
    };
    if token.is_empty() {
        bail!("no admin token given: pass --token, --data-dir, or type it when asked");
    }
    let client = Client::with_token(base.clone(), token.clone(), source);
    client.get("/api/apps")?;
    let path = SavedLogin { server: base.clone(), token }.save()?;
    println!("Logged in to {base}: saved in {} (readable by you only).", path.display());
    Ok(())
}

pub fn logout() -> anyhow::Result<()> {
    match SavedLogin::remove()? {
        Some(path) => println!("Logged out: removed {}.", path.display()),
        None => println!("Not logged in: nothing to forget."),
    }
    Ok(())
}

/// From the terminal without echo, or the first line of piped input.
fn read_token(base: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let prompt = format!("Admin token of {base} (the server's <data-dir>/admin-token): ");
        return rpassword::prompt_password(prompt).context("reading the token");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the token from standard input")?;
    Ok(line.trim().to_string())
}
