pub fn run() -> anyhow::Result<()> {
    std::process::exit(slipway_server::git::hook::run_pre_receive())
}
