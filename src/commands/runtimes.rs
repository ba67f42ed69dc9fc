use std::path::PathBuf;

use slipway_build::runtime::{Discovery, RuntimeCatalog};

use crate::cli::RuntimesArgs;

pub fn run(args: RuntimesArgs, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let catalog = RuntimeCatalog::discover(&Discovery::from_process_env(args.python, cache_dir))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&catalog.runtimes)?);
        return Ok(());
    }
    if catalog.runtimes.is_empty() {
        anyhow::bail!("no Python runtime found (looked on PATH for python3.X and in $PYENV_ROOT/versions)");
    }
    let width = catalog.runtimes.iter().map(|r| r.implementation.len()).max().unwrap_or(0).max("IMPLEMENTATION".len());
    println!("{:<width$}  {:<10}  PATH", "IMPLEMENTATION", "VERSION");
    for runtime in &catalog.runtimes {
        println!("{:<width$}  {:<10}  {}", runtime.implementation, runtime.version.to_string(), runtime.path.display());
    }
    Ok(())
}
