//! `[apt]` and `[install]`: package sources and what happens around the install.

use super::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Apt {
    /// Debian mirror written to the installed system's sources.
    #[serde(default = "default_mirror")]
    pub mirror: String,
    /// Debian suite.
    #[serde(default = "default_suite")]
    pub suite: String,
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// Also write `<suite>-updates`.
    #[serde(default = "default_true")]
    pub updates: bool,
    /// Also write the security suite.
    #[serde(default = "default_true")]
    pub security: bool,
    /// Proxmox VE repository: "no-subscription", "enterprise" or "none".
    #[serde(default)]
    pub proxmox: ProxmoxRepo,
}

impl Default for Apt {
    fn default() -> Self {
        Apt {
            mirror: default_mirror(),
            suite: default_suite(),
            components: default_components(),
            updates: true,
            security: true,
            proxmox: ProxmoxRepo::default(),
        }
    }
}

fn default_mirror() -> String {
    "http://deb.debian.org/debian".into()
}
fn default_suite() -> String {
    "trixie".into()
}
fn default_components() -> Vec<String> {
    vec!["main".into(), "contrib".into(), "non-free-firmware".into()]
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProxmoxRepo {
    #[default]
    NoSubscription,
    Enterprise,
    None,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Install {
    /// After a successful install: "reboot" or "poweroff".
    #[serde(default)]
    pub finish: Finish,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Finish {
    #[default]
    Reboot,
    Poweroff,
}
