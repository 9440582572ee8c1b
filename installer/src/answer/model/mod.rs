//! The answer file's schema. Every front end (TOML file, PXE-fetched file, wizard) produces
//! this one type. Strict: unknown keys are errors, so a typo never silently becomes a default.

pub(super) use super::size::Size;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod apt;
mod cluster;
mod drbd;
mod first_boot;
mod network;
mod report;
mod storage;
mod system;

pub use apt::*;
pub use cluster::*;
pub use drbd::*;
pub use first_boot::*;
pub use network::*;
pub use report::*;
pub use storage::*;
pub use system::*;

pub(super) fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Answer {
    /// Identity, locale and accounts of the node.
    pub system: System,
    /// Disks, RAID, LVM volumes and filesystems.
    pub storage: Storage,
    /// NICs, bonds, VLANs, bridges and addresses, rendered for ifupdown2.
    #[serde(default)]
    pub network: Network,
    /// Replicated block devices shared with a peer node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drbd: Option<Drbd>,
    /// The Proxmox VE cluster this node belongs to; one cluster file can describe every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Cluster>,
    /// Package sources written to the installed system.
    #[serde(default)]
    pub apt: Apt,
    /// What the installer does around the install itself.
    #[serde(default)]
    pub install: Install,
    /// A webhook told how the install ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Webhook>,
    /// Scripts the installed node runs once, on its first boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_boot: Option<FirstBoot>,
}

/// The serde name of a unit enum variant, so Display and error texts say what the file says.
pub fn enum_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
