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

/// What a node's UEFI boot entries start, the install's and `tandem disk replace`'s alike.
pub mod efi {
    use std::path::Path;

    /// Debian's signed shim: it starts the signed GRUB beside it, so the chain boots with
    /// Secure Boot on.
    pub const SHIM: &str = r"\EFI\debian\shimx64.efi";
    pub const GRUB: &str = r"\EFI\debian\grubx64.efi";

    /// The loader for the system whose root is `root`: shim when its ESP holds it, or when
    /// shim-signed is installed (its postinst puts shim on the ESP at the next
    /// grub-install); GRUB itself otherwise.
    pub fn loader(root: &Path) -> &'static str {
        let on_esp = root.join("boot/efi/EFI/debian/shimx64.efi").is_file();
        let installed = root.join("usr/lib/shim/shimx64.efi.signed").is_file();
        if on_esp || installed {
            SHIM
        } else {
            GRUB
        }
    }
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

/// `/etc/tandem/first-boot.json` and the stored hooks `tandem first-boot run` executes.
pub mod first_boot {
    use serde::{Deserialize, Serialize};

    /// The hook list and where to report (no secret in here).
    pub const CONFIG: &str = "/etc/tandem/first-boot.json";
    /// The scripts (`<name>`) and their stamps (`<name>.done`, `<name>.failed`); 0700.
    pub const DIR: &str = "/var/lib/tandem/first-boot";
    /// Every hook's output, also in the journal.
    pub const LOG: &str = "/var/log/tandem/first-boot.log";
    /// The most a hook script may hold.
    pub const MAX_SCRIPT_BYTES: usize = 256 * 1024;

    /// The systemd stage a hook runs in; `tandem first-boot run --stage` takes the name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
    #[serde(rename_all = "kebab-case")]
    pub enum Stage {
        /// Before network-pre.target (the answer's `after = "before-network"`).
        Early,
        /// After network-online.target (the answer's `after = "network-online"`).
        Late,
    }

    impl Stage {
        pub fn name(self) -> &'static str {
            match self {
                Stage::Early => "early",
                Stage::Late => "late",
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    pub struct NodeConfig {
        pub hooks: Vec<HookEntry>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub report: Option<ReportTarget>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    pub struct HookEntry {
        pub name: String,
        pub stage: Stage,
    }

    /// The answer's `[report]` webhook, so the node can tell how its hooks ended.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    pub struct ReportTarget {
        pub url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fingerprint: Option<String>,
    }

    /// Why `body` may not be stored as a hook script, or None when it may.
    pub fn script_problem(body: &[u8]) -> Option<String> {
        if !body.starts_with(b"#!") {
            Some("does not start with #! (an interpreter line such as #!/bin/sh)".into())
        } else if body.len() > MAX_SCRIPT_BYTES {
            Some(format!(
                "is {} bytes; a hook may hold at most {MAX_SCRIPT_BYTES}",
                body.len()
            ))
        } else if body.contains(&0) {
            Some("contains a NUL byte (a binary, not a script)".into())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn boot_entries_start_shim_when_the_node_has_it() {
        use super::efi::{loader, GRUB, SHIM};
        let root = std::env::temp_dir().join(format!("tandem-efi-loader-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let put = |rel: &str| {
            let f = root.join(rel);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, b"MZ").unwrap();
        };
        put("boot/efi/EFI/debian/grubx64.efi");
        assert_eq!(loader(&root), GRUB);
        put("usr/lib/shim/shimx64.efi.signed");
        assert_eq!(loader(&root), SHIM);
        std::fs::remove_file(root.join("usr/lib/shim/shimx64.efi.signed")).unwrap();
        put("boot/efi/EFI/debian/shimx64.efi");
        assert_eq!(loader(&root), SHIM);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn esp_list_ignores_comments() {
        let l = super::read_esp_list("# every disk's ESP\n1234-ABCD\n\n5678-EF01 # sdb\n");
        assert_eq!(l, vec!["1234-ABCD", "5678-EF01"]);
    }
}
