use std::path::PathBuf;

use slipway_build::lifecycle;
use slipway_build::runtime::{Discovery, RuntimeCatalog};

use crate::cli::RuntimesArgs;

pub fn run(args: RuntimesArgs, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let catalog = RuntimeCatalog::discover(&Discovery::from_process_env(args.python, cache_dir))?;
    let listing = lifecycle::listing(&catalog, lifecycle::today());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    if catalog.runtimes.is_empty() {
        anyhow::bail!("no Python runtime found (looked on PATH for python3.X and in $PYENV_ROOT/versions)");
    }
    let width = catalog.runtimes.iter().map(|r| r.implementation.len()).max().unwrap_or(0).max("IMPLEMENTATION".len());
    println!("{:<width$}  {:<10}  {:<19}  {:<11}  PATH", "IMPLEMENTATION", "VERSION", "SUPPORT", "END OF LIFE");
    for entry in &listing {
        let runtime = entry.runtime;
        println!(
            "{:<width$}  {:<10}  {:<19}  {:<11}  {}",
            runtime.implementation,
            runtime.version.to_string(),
            entry.support,
            entry.end_of_life.as_deref().unwrap_or("-"),
            runtime.path.display()
        );
    }
    Ok(())
}
