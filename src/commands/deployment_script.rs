pub fn run() -> anyhow::Result<()> {
    print!("{}", slipway_build::custom_script::default_script());
    Ok(())
}
