//! What is in an app's env: its marker, size on disk and installed packages.

use std::path::Path;

use serde_json::{json, Value};
use slipway_build::env::ExistingEnv;

pub fn describe(env: &Path) -> Value {
    let marker = match ExistingEnv::read(env) {
        ExistingEnv::Missing => return json!({ "exists": false, "path": env }),
        ExistingEnv::Unmarked { problem } => json!({ "problem": problem }),
        ExistingEnv::Marked(marker) => json!(marker),
    };
    json!({
        "exists": true,
        "path": env,
        "marker": marker,
        "size_bytes": size_on_disk(env),
        "packages": packages(env),
    })
}

fn size_on_disk(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// `name-version.dist-info` directories in every site-packages of env.
pub fn packages(env: &Path) -> Vec<Value> {
    let mut found: Vec<(String, String)> = Vec::new();
    let Ok(lib) = std::fs::read_dir(env.join("lib")) else { return Vec::new() };
    for python_dir in lib.flatten() {
        let Ok(entries) = std::fs::read_dir(python_dir.path().join("site-packages")) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((package, version)) = name.strip_suffix(".dist-info").and_then(|n| n.split_once('-')) {
                found.push((package.to_string(), version.to_string()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(name, version)| json!({ "name": name, "version": version })).collect()
}
