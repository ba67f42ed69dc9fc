//! Integration tests: the real `slipway` binary, real pyenv interpreters (3.11, 3.12, 3.13), real uv
//! and pip installing from the wheelhouse in `../shared/wheelhouse`, each test in its own temp dir.

mod lockfiles;
mod postgres;
mod server_support;
mod support;

mod api;
mod bad_input;
mod build;
mod cli;
mod custom_script;
mod dashboard;
mod domains;
mod ftp;
mod installers;
mod instances;
mod isolation;
mod kudu;
mod lifecycle;
mod managers;
mod readme;
mod releases;
mod run;
mod runtimes;
mod serve;
mod snapshots;
mod store;
mod sync;
mod versions;
