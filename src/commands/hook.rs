pub fn run() -> anyhow::Result<()> {
    std::process::exit(slipway_server::hook::run_pre_receive())
}
