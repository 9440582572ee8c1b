//! Tandem: turns bare metal into a Proxmox VE HA node.
//!
//! Layers, each importing only those below it (`tests/layers.rs` holds the code to this):
//! - `answer` reads what the user wants (a model with no I/O); `contract` holds the paths
//!   and formats the installer leaves for the installed node; `http`, `base64`, `calendar`.
//! - `hardware` what the machine has, and which disks and NICs an answer selects.
//! - `validate` and `plan` are pure functions of the two; `render` turns a plan into files.
//! - `session` loads, resolves, validates, plans and renders once, for every command.
//! - `exec` is the only code that touches disks while installing: it locates the answer,
//!   scripts the install and runs it.
//! - `ui` (the wizard), `drbdctl` and `node` (status, disk replacement) above it;
//!   `commands` runs each command; `args` defines the command line; `cli` dispatches.
//! - `error` (just above the answer model) holds the failures with their own exit codes,
//!   for every layer above it.

/// `tandem --version`: the crate's version and the git revision it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("TANDEM_REVISION"),
    ")"
);
/// The revision alone (the package's changelog names it).
pub const REVISION: &str = env!("TANDEM_REVISION");

pub mod answer;
pub mod args;
pub mod base64;
pub mod cli;
mod commands;
pub mod contract;
mod dns;
mod drbdctl;
pub mod error;
pub mod exec;
pub mod hardware;
mod http;
pub mod node;
pub mod plan;
mod prepare;
pub mod render;
pub mod session;
mod ui;
pub mod validate;
