//! The executor: the only code that touches disks. `locate` finds the answer (kernel
//! command line, medium, HTTP); `steps` turns (answer, plan, inventory) into the ordered
//! install script; `install` runs it through [`runner::Runner`], which logs every command;
//! `progress` shows it.

pub mod esp;
pub mod gpt;
pub mod guard;
pub mod initramfs;
pub mod install;
pub mod locate;
pub mod medium;
pub mod packages;
pub mod progress;
pub mod report;
pub mod runner;
pub mod steps;
pub mod system;
pub mod tree;

pub use guard::{private_mounts, take_install_lock, InstallLock, MountNamespace, INSTALL_LOCK};
