//! What the installer leaves on a node for the node's own commands to read later
//! (`tandem esp-sync`, `drbd-start`, `tandem status`, `tandem disk replace`): the paths
//! and formats both sides must agree on, kept here so neither side imports the other.

/// The directory whose presence makes a machine a Tandem node.
pub const NODE_DIR: &str = "/etc/tandem";

/// Every disk's ESP by FAT volume id, one per line (`<id>\t# <disk>`); `#` starts a comment.
pub const ESP_LIST: &str = "/etc/tandem/esps";

/// The volume ids in an ESP list, in order.
pub fn read_esp_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        // Kept as blkid wrote them: /dev/disk/by-uuid is case-sensitive.
        .map(str::to_string)
        .collect()
}

/// `/etc/tandem/drbd.json`: what the installer tells `drbd-start` about this node's
/// resources.
pub mod drbd {
    use serde::{Deserialize, Serialize};

    /// The file (no secret in here: the secret lives only in the 0600 .res file).
    pub const CONFIG: &str = "/etc/tandem/drbd.json";
    /// Per-resource first-boot markers.
    pub const STATE_DIR: &str = "/var/lib/tandem/drbd";

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    pub struct NodeConfig {
        /// This node's name (its `on` section in the .res files).
        pub node: String,
        pub resources: Vec<ResourceConfig>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    pub struct ResourceConfig {
        pub name: String,
        pub device: String,
        pub disk: String,
        /// The cluster's first node: the one that skips the initial sync, makes the VG and
        /// is Primary when the resource is single-primary.
        pub first_node: String,
        pub peer: String,
        /// This node's replication address from the .res `on` section: drbdadm refuses the
        /// resource ("IP … not found on this host") until the network has put it on a link.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub address: Option<String>,
        pub dual_primary: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub lvm_vg: Option<String>,
        /// Seconds to wait for the peer at boot (the answer's wfc-timeout; 0 waits forever).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub wfc_timeout: Option<u32>,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn esp_list_ignores_comments() {
        let l = super::read_esp_list("# every disk's ESP\n1234-ABCD\n\n5678-EF01 # sdb\n");
        assert_eq!(l, vec!["1234-ABCD", "5678-EF01"]);
    }
}
