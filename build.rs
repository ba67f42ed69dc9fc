//! Conditions the integration tests are compiled under, so that a test that cannot run here is
//! reported by `cargo test` as `ignored` with its reason, never passed silently:
//! - `skip_e2e`: `SLIPWAY_SKIP_E2E` is set (a quick local loop without Chromium).
//! - `not_root`: the build does not run as root (tests of per-app Unix users and cgroups need it).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skip_e2e)");
    println!("cargo::rustc-check-cfg=cfg(not_root)");
    println!("cargo::rerun-if-env-changed=SLIPWAY_SKIP_E2E");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("SLIPWAY_SKIP_E2E").is_some() {
        println!("cargo::rustc-cfg=skip_e2e");
    }
    if !is_root() {
        println!("cargo::rustc-cfg=not_root");
    }
}

/// The effective uid from `/proc/self/status` (`Uid: real effective saved fs`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find_map(|l| l.strip_prefix("Uid:")).map(str::to_string))
        .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}
