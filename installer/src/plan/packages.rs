//! The packages a node gets on top of the base system. One table, each entry with the
//! condition it depends on and the reason it is there.

use super::storage::StoragePlan;
use crate::answer::{AddressMethod, Answer};
use crate::hardware::Inventory;
use serde::Serialize;

/// When a package is part of the node's set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Always,
    /// BIOS is a firmware target.
    Bios,
    /// UEFI is a firmware target.
    Uefi,
    /// UEFI is the only firmware target.
    UefiOnly,
    /// Both BIOS and UEFI are targets.
    BiosAndUefi,
    IntelCpu,
    AmdCpu,
    /// A volume uses XFS.
    Xfs,
    /// DRBD resources are configured.
    Drbd,
    /// An address is configured by DHCP (v4 or v6).
    Dhcp,
}

/// The node package table. Base-system packages (kernel, systemd, apt) come with the base
/// image and are not listed.
const PACKAGES: &[(&str, Need, &str)] = &[
    (
        "mdadm",
        Need::Always,
        "md RAID: the /boot mirror and the data array",
    ),
    ("lvm2", Need::Always, "LVM on the data array"),
    (
        "grub-pc",
        Need::Bios,
        "GRUB for BIOS; its postinst reinstalls to every disk in grub-pc/install_devices",
    ),
    (
        "grub-efi-amd64",
        Need::UefiOnly,
        "GRUB for UEFI when BIOS is not a target (it conflicts with grub-pc)",
    ),
    (
        "grub-efi-amd64-bin",
        Need::BiosAndUefi,
        "EFI GRUB modules beside grub-pc, which keeps the BIOS side; ESPs are written by \
         grub-install --target=x86_64-efi and kept in sync by Tandem's hook",
    ),
    (
        "grub-efi-amd64-signed",
        Need::Uefi,
        "Secure Boot-signed GRUB, so the ESPs boot with Secure Boot on",
    ),
    ("shim-signed", Need::Uefi, "Secure Boot first stage loader"),
    (
        "efibootmgr",
        Need::Uefi,
        "UEFI boot entries for every disk's ESP",
    ),
    (
        "dosfstools",
        Need::Uefi,
        "mkfs.vfat and fsck.vfat for the ESPs",
    ),
    (
        "intel-microcode",
        Need::IntelCpu,
        "CPU microcode updates (Intel CPU)",
    ),
    (
        "amd64-microcode",
        Need::AmdCpu,
        "CPU microcode updates (AMD CPU)",
    ),
    (
        "xfsprogs",
        Need::Xfs,
        "mkfs.xfs and xfs_repair for XFS volumes",
    ),
    (
        "ifupdown2",
        Need::Always,
        "bonds, VLANs and bridges from /etc/network/interfaces, as PVE uses",
    ),
    (
        "isc-dhcp-client",
        Need::Dhcp,
        "dhclient, which ifupdown2 runs for the answer's DHCP addresses (Debian 13 no \
         longer installs a DHCP client by priority)",
    ),
    (
        "ethtool",
        Need::Always,
        "NIC offload settings (ifupdown2's ethtool addon)",
    ),
    (
        "bridge-utils",
        Need::Always,
        "brctl, for inspecting bridges (the seed's tool)",
    ),
    ("vlan", Need::Always, "VLAN tools (the seed installed them)"),
    (
        "chrony",
        Need::Always,
        "time sync; corosync and DRBD want agreeing clocks",
    ),
    (
        "openssh-server",
        Need::Always,
        "remote administration; PVE clustering uses SSH",
    ),
    (
        "console-setup",
        Need::Always,
        "console keymap and font (Cyrillic console)",
    ),
    ("locales", Need::Always, "the answer's locale"),
    (
        "tandem",
        Need::Always,
        "this installer as a package: esp-sync after GRUB updates, DRBD at boot, man pages",
    ),
    (
        "drbd-utils",
        Need::Drbd,
        "drbdadm for the replicated resources",
    ),
];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedPackage {
    pub name: String,
    pub why: String,
}

pub(super) fn build(
    answer: &Answer,
    inv: &Inventory,
    storage: &StoragePlan,
) -> Vec<PlannedPackage> {
    let fw = answer.storage.firmware;
    let vendor = inv.machine.cpu_vendor.as_str();
    let xfs = storage
        .filesystems
        .iter()
        .any(|f| f.fstype == super::FsType::Xfs);
    let drbd = answer
        .drbd
        .as_ref()
        .is_some_and(|d| !d.resources.is_empty());
    let dhcp = answer
        .network
        .addresses
        .iter()
        .any(|a| matches!(a.address, AddressMethod::Dhcp | AddressMethod::Dhcp6));
    let needed = |n: Need| match n {
        Need::Always => true,
        Need::Bios => fw.bios(),
        Need::Uefi => fw.uefi(),
        Need::UefiOnly => fw.uefi() && !fw.bios(),
        Need::BiosAndUefi => fw.uefi() && fw.bios(),
        Need::IntelCpu => vendor == "GenuineIntel",
        Need::AmdCpu => vendor == "AuthenticAMD",
        Need::Xfs => xfs,
        Need::Drbd => drbd,
        Need::Dhcp => dhcp,
    };
    let mut out: Vec<PlannedPackage> = PACKAGES
        .iter()
        .filter(|(_, n, _)| needed(*n))
        .map(|(name, _, why)| PlannedPackage {
            name: (*name).into(),
            why: (*why).into(),
        })
        .collect();
    for p in &answer.system.packages {
        if !out.iter().any(|o| &o.name == p) {
            out.push(PlannedPackage {
                name: p.clone(),
                why: "system.packages".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::PACKAGES;

    /// Every package a plan can ask for must be in the default image, or a node that needs
    /// it is refused at the medium check (as a firmware = "uefi" node was, for
    /// grub-efi-amd64, until an install needed it). `tandem` is the build's own package.
    #[test]
    fn the_default_image_carries_every_planned_package() {
        let profile: toml::Table = include_str!("../../../image-build/profiles/default.toml")
            .parse()
            .unwrap();
        let listed: Vec<&str> = profile["sets"]
            .as_table()
            .unwrap()
            .values()
            .flat_map(|s| s["packages"].as_array().unwrap())
            .map(|p| p.as_str().unwrap())
            .collect();
        let missing: Vec<&str> = PACKAGES
            .iter()
            .map(|(name, _, _)| *name)
            .filter(|n| *n != "tandem" && !listed.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "not in any set of default.toml: {missing:?}"
        );
    }
}
