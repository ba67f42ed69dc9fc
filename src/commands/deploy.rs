//! `slipway deploy [APP] [DIR]`: packs a folder as a gzipped tar, uploads it to the app's
//! zipdeploy endpoint, and follows the deployment it starts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::app_arg;
use crate::cli::DeployArgs;
use crate::client::{app_path, Client};
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
fn app_and_folder(mut args: Vec<String>) -> anyhow::Result<(String, PathBuf)> {
    match args.len() {
        2 => {
            let dir = args.pop().expect("two");
            Ok((args.pop().expect("two"), PathBuf::from(dir)))
        }
        1 if AppName::parse(&args[0]).is_ok() && !Path::new(&args[0]).is_dir() => Ok((args.remove(0), ".".into())),
        1 => Ok((app_arg::from_git_remote()?, PathBuf::from(args.remove(0)))),
        _ => Ok((app_arg::from_git_remote()?, ".".into())),
    }
}
