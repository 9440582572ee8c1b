//! `[cluster]`: the nodes of one cluster file.

use super::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Cluster {
    /// Proxmox VE cluster name.
    pub name: String,
    /// Every node of the cluster, this one included.
    pub nodes: Vec<ClusterNode>,
    /// How a node that lost contact is cut off before its resources are taken over.
    #[serde(default)]
    pub fencing: ClusterFencing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClusterNode {
    /// The node's host name.
    pub name: String,
    /// The node's cluster (corosync link 0) address; also its DRBD address unless
    /// `replication-address` is set. Written to every node's /etc/hosts.
    pub address: IpAddr,
    /// The address DRBD replicates over, when it has its own link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_address: Option<IpAddr>,
    /// Permanent MACs by which a machine recognises itself as this node when one file
    /// serves the whole cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub macs: Vec<MacAddr>,
    /// Answer-file tables merged over the shared ones for this node only, e.g.
    /// `network.addresses`. Tables merge key by key; arrays and values replace.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "override")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub overrides: Option<toml::Table>,
}

impl ClusterNode {
    pub fn drbd_address(&self) -> IpAddr {
        self.replication_address.unwrap_or(self.address)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterFencing {
    /// Proxmox VE HA's watchdog self-fencing (softdog unless a hardware watchdog is set).
    #[default]
    Watchdog,
    /// No fencing: HA cannot safely recover services. For labs only.
    None,
}
