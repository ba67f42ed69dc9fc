//! slipway's build engine: the default deployment of a Python web app, with no HTTP and no database.
//!
//! The pipeline ([`pipeline::build`]) reads top to bottom as the steps of a Kudu-style Python
//! deployment — resolve the runtime, sync the code, create or reuse `env`, install requirements, run
//! Django's `collectstatic` — reordered only so that everything that can fail on bad input (a
//! malformed `runtime.txt`, a package that does not exist) fails before wwwroot or env change.
//!
//! Each concept has its own module: where the question is "is env reused?", the answer is
//! [`env::plan`]; "which Python?", [`version::resolve`] (with [`lifecycle`] for end-of-life
//! dates); "which package manager, and where is the app?", [`project`]; "what does sync delete?",
//! [`sync`].
//! The server and the CLI both call [`pipeline::build`]; a custom deployment script calls the same
//! steps one by one through `slipway build <step>`.

pub mod confine;
pub mod custom_script;
pub mod django;
pub mod env;
pub mod error;
pub mod installer;
pub mod job;
pub mod lifecycle;
pub mod lines;
pub mod log;
pub mod pipeline;
pub mod process;
pub mod project;
pub mod release;
pub mod requirements;
pub mod runtime;
pub mod settings;
pub mod sync;
pub mod tools;
pub mod version;

pub use error::{BuildError, Result};
pub use log::{BuildLog, LogSink};
pub use pipeline::{build, BuildOutcome, BuildRequest};
pub use runtime::{Runtime, RuntimeCatalog};
pub use settings::Settings;
