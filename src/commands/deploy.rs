//! Deploying without `git push`: `slipway deploy [APP] [DIR]` packs a folder as a gzipped tar,
//! uploads it to the app's zipdeploy endpoint and follows the deployment it starts; `slipway
//! webhook [APP] [--reset]` shows or makes the URL a Git host calls to deploy a push.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::app_arg;
use crate::cli::{DeployArgs, WebhookArgs};
use crate::client::{app_path, print_json, Client};
use slipway_server::app_name::AppName;
use slipway_server::archive;

pub fn run(args: DeployArgs) -> anyhow::Result<()> {
    let (app, dir) = app_and_folder(args.args)?;
    if !dir.is_dir() {
        bail!("`{}` is not a folder: pass the folder of the app to deploy", dir.display());
    }
    let client = Client::new(&args.client)?;
    let (bytes, files) = archive::pack(&dir).with_context(|| format!("packing {}", dir.display()))?;
    eprintln!("Uploading {} ({files} files, {} KiB packed) to `{app}`…", dir.display(), bytes.len().div_ceil(1024));
    let answer = client.post_bytes(&format!("{}/zipdeploy", app_path(&app)), "application/gzip", bytes)?;
    for skipped in answer["skipped"].as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
        eprintln!("warning: `{skipped}` is a link or a special file: it was not deployed");
    }
    let number = super::deployments::number_of(&answer["deployment"])?;
    eprintln!("Deployment v{number} started (zipdeploy).");
    super::deployments::follow_to_end(&client, &app, number)
}

/// `deploy hello ./site`, `deploy hello` (this folder), `deploy ./site` and `deploy` (the app of
/// the git remote `slipway`). A lone argument is the app when it is an app name and no folder of
/// that name is here.
fn app_and_folder(args: Vec<String>) -> anyhow::Result<(String, PathBuf)> {
    let is_app =
        |first: &str, count: usize| count == 2 || (AppName::parse(first).is_ok() && !Path::new(first).is_dir());
    let (app, rest) = app_arg::split_leading_app(args, is_app)?;
    Ok((app, rest.into_iter().next().map_or_else(|| PathBuf::from("."), PathBuf::from)))
}

pub fn webhook(args: WebhookArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::new(&args.client)?;
    let path = format!("{}/webhook", app_path(&app));
    let hook = if args.reset { client.post(&format!("{path}/reset"), None)? } else { client.get(&path)? };
    if args.json {
        return print_json(&hook);
    }
    match (hook["url"].as_str(), args.reset) {
        (Some(url), true) => {
            println!("Webhook URL (shown once): {url}");
            eprintln!("Add it to the repository's webhooks (GitHub: Settings → Webhooks, push events; GitLab: Settings → Webhooks, push events).");
        }
        (Some(url), false) => {
            println!("Webhook URL: {url} (`slipway webhook {app} --reset` makes a new one and shows it)")
        }
        (None, _) => println!("No webhook yet: `slipway webhook {app} --reset` makes one."),
    }
    match hook["repository"].as_str() {
        Some(repository) => println!("Repository:  {repository} (its pushes to the deployment branch deploy)"),
        None => eprintln!(
            "warning: set the repository it fetches from: `slipway config set {app} DEPLOYMENT_REPOSITORY=https://…`"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_comes_first_and_the_folder_defaults_to_this_one() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(app_and_folder(args(&["shop", "site"])).unwrap(), ("shop".into(), PathBuf::from("site")));
        assert_eq!(app_and_folder(args(&["no-such-folder-here"])).unwrap(), ("no-such-folder-here".into(), ".".into()));
    }
}
