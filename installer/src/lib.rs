//! Tandem: turns bare metal into a Proxmox VE HA node.
//!
//! `answer` reads what the user wants, `hardware` what the machine has; `validate` and
//! `plan` are pure functions of the two; `render` turns a plan into files; `exec` is the
//! only code that touches disks while installing; `node` reads and repairs an installed
//! node (status, disk replacement) through exec's runner.

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
pub mod base64;
pub mod cli;
pub mod drbdctl;
pub mod exec;
pub mod hardware;
pub mod http;
pub mod node;
pub mod plan;
pub mod prepare;
pub mod render;
pub mod ui;
pub mod validate;
