//! The deployment webhook: `POST /hooks/APP/SECRET` with GitHub's or GitLab's push payload
//! fetches the pushed commit of the deployment branch from the app's `DEPLOYMENT_REPOSITORY`
//! and deploys it (Kudu's `/deploy` hook, Heroku's GitHub integration). Each app has its own
//! secret, stored as a sha256 hash and shown once when it is made.

use serde::Deserialize;
use serde_json::Value;

use super::Service;
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::git::ZERO_SHA;
use crate::secrets;
use crate::settings::DEPLOYMENT_REPOSITORY;
use crate::store::{Deployment, Trigger};

/// Where fetched pushes are kept in the app's repository (the deployment branch is left alone).
pub const WEBHOOK_REF: &str = "refs/slipway/webhook";

/// What a push notification asked for, whichever service sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEvent {
    /// GitHub's `ping` when the hook is added.
    Ping,
    Push {
        reference: String,
        commit: String,
    },
    /// An event that is not a push (an issue, a tag, …).
    Other(String),
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    reference: String,
    /// GitHub and GitLab: the branch's new commit (zeros when the branch was deleted).
    after: String,
    /// GitLab: the commit to check out.
    checkout_sha: Option<String>,
}

impl HookEvent {
    /// From the `X-GitHub-Event` or `X-Gitlab-Event` header and the JSON body.
    pub fn parse(github: Option<&str>, gitlab: Option<&str>, body: &[u8]) -> Result<Self> {
        match (github, gitlab) {
            (Some("ping"), _) => return Ok(HookEvent::Ping),
            (Some("push"), _) | (_, Some("Push Hook")) => {}
            (Some(other), _) | (_, Some(other)) => return Ok(HookEvent::Other(other.to_string())),
            (None, None) => {
                // Without a header, a body that looks like a push is one.
                let value: Value = serde_json::from_slice(body).unwrap_or_default();
                if value.get("ref").is_none() {
                    return Err(Error::Invalid(
                        "expected a push event: GitHub's (X-GitHub-Event: push) or GitLab's (X-Gitlab-Event: Push Hook)"
                            .into(),
                    ));
                }
            }
        }
        let payload: PushPayload = serde_json::from_slice(body)
            .map_err(|e| Error::Invalid(format!("the push payload is not what GitHub or GitLab send: {e}")))?;
        let commit = payload.checkout_sha.filter(|c| !c.is_empty()).unwrap_or(payload.after);
        Ok(HookEvent::Push { reference: payload.reference, commit })
    }
}

/// What the hook did.
#[derive(Debug)]
pub enum HookOutcome {
    Deployed(Box<Deployment>),
    /// Nothing to deploy, and why.
    Ignored(String),
}

impl Service {
    /// Makes a new webhook secret for the app (the old one stops working) and returns it.
    pub fn reset_hook_secret(&self, app: &AppName) -> Result<String> {
        self.require_app(app)?;
        let secret = secrets::generate_token();
        self.shared.store.set_hook_secret_hash(app, &secrets::token_sha256(&secret))?;
        Ok(secret)
    }

    /// Whether the app has a webhook secret.
    pub fn has_hook(&self, app: &AppName) -> Result<bool> {
        self.require_app(app)?;
        Ok(self.shared.store.hook_secret_hash(app)?.is_some())
    }

    /// Handles a call of the app's webhook. An unknown app and a wrong secret get the same
    /// answer, so the hook tells nothing to whoever guesses.
    pub async fn run_hook(&self, app: &str, secret: &str, event: HookEvent) -> Result<HookOutcome> {
        let app = AppName::parse(app).map_err(|_| Error::NoSuchHook)?;
        let stored = self.shared.store.hook_secret_hash(&app).ok().flatten().ok_or(Error::NoSuchHook)?;
        if !secrets::constant_time_eq(&stored, &secrets::token_sha256(secret)) {
            return Err(Error::NoSuchHook);
        }
        let (reference, commit) = match event {
            HookEvent::Ping => return Ok(HookOutcome::Ignored("pong: the webhook is set up".into())),
            HookEvent::Other(kind) => return Ok(HookOutcome::Ignored(format!("`{kind}` events are not deployed"))),
            HookEvent::Push { reference, commit } => (reference, commit),
        };
        let settings = self.settings(&app)?;
        let branch = settings.deployment_branch().to_string();
        if reference != format!("refs/heads/{branch}") {
            return Ok(HookOutcome::Ignored(format!("`{reference}` is not the deployment branch `{branch}`")));
        }
        if commit == ZERO_SHA || !commit.chars().all(|c| c.is_ascii_hexdigit()) || commit.len() < 7 {
            return Ok(HookOutcome::Ignored(format!("`{commit}` is not a commit to deploy (a deleted branch?)")));
        }
        let Some(url) = settings.get(DEPLOYMENT_REPOSITORY).map(String::from) else {
            return Err(Error::Invalid(format!(
                "app `{app}` has no {DEPLOYMENT_REPOSITORY} to fetch the push from: `slipway config set {app} {DEPLOYMENT_REPOSITORY}=https://…`"
            )));
        };
        let repo = self.paths(&app).repository();
        let fetched = {
            let (commit, branch) = (commit.clone(), branch.clone());
            tokio::task::spawn_blocking(move || {
                crate::git::fetch_branch(&repo, &url, &branch, WEBHOOK_REF)?;
                Ok::<_, Error>(crate::git::has_commit(&repo, &commit))
            })
            .await??
        };
        if !fetched {
            return Err(Error::Invalid(format!(
                "commit {commit} is not on `{branch}` of {DEPLOYMENT_REPOSITORY}: nothing was deployed"
            )));
        }
        tracing::info!("{app}: the webhook deploys {commit}");
        Ok(HookOutcome::Deployed(Box::new(self.start_in_background(&app, commit, false, Trigger::Webhook).await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_and_gitlab_pushes_are_read_and_other_events_are_not_pushes() {
        let github = br#"{"ref":"refs/heads/main","after":"abc1234","repository":{}}"#;
        let push = HookEvent::Push { reference: "refs/heads/main".into(), commit: "abc1234".into() };
        assert_eq!(HookEvent::parse(Some("push"), None, github).unwrap(), push);
        let gitlab = br#"{"object_kind":"push","ref":"refs/heads/main","after":"0000000","checkout_sha":"abc1234"}"#;
        assert_eq!(HookEvent::parse(None, Some("Push Hook"), gitlab).unwrap(), push);
        assert_eq!(HookEvent::parse(Some("ping"), None, b"{}").unwrap(), HookEvent::Ping);
        assert_eq!(HookEvent::parse(Some("issues"), None, b"{}").unwrap(), HookEvent::Other("issues".into()));
        assert_eq!(HookEvent::parse(None, None, github).unwrap(), push, "no header, a push's body");
        assert!(HookEvent::parse(None, None, b"{}").is_err());
        let bad = HookEvent::parse(Some("push"), None, b"[1]").unwrap_err().to_string();
        assert!(bad.starts_with("the push payload is not what GitHub or GitLab send"), "{bad}");
    }
}
