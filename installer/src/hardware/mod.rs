//! What the machine has. The inventory is plain data so that real machines' inventories
//! can be test fixtures and `tandem plan --hardware FILE` works anywhere.

pub mod detect;
pub mod exclusive;
pub mod report;
pub mod select;
pub mod signature;
pub mod speed;
pub mod udev;

pub use detect::detect;

use crate::answer::{MacAddr, Transport};
use serde::{Deserialize, Serialize};

/// The names in a sysfs (or any) directory, sorted so that every listing made from them
/// comes out in the same order; a directory that cannot be read has none.
pub fn dir_names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Inventory {
    #[serde(default)]
    pub machine: Machine,
    #[serde(default)]
    pub disks: Vec<Disk>,
    #[serde(default)]
    pub nics: Vec<Nic>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Machine {
    #[serde(default)]
    pub firmware: Firmware,
    #[serde(default)]
    pub secure_boot: bool,
    /// "GenuineIntel", "AuthenticAMD", … (picks the microcode package).
    #[serde(default)]
    pub cpu_vendor: String,
    #[serde(default)]
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Firmware {
    #[default]
    Bios,
    Uefi,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Disk {
    /// Kernel name, e.g. "sda", "nvme0n1", "vda".
    pub name: String,
    /// /dev/disk/by-id names (without the directory), most specific first.
    #[serde(default)]
    pub by_id: Vec<String>,
    /// /dev/disk/by-path names (without the directory).
    #[serde(default)]
    pub by_path: Vec<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub wwn: Option<String>,
    pub size_bytes: u64,
    #[serde(default = "default_sector")]
    pub logical_sector: u32,
    #[serde(default = "default_sector")]
    pub physical_sector: u32,
    #[serde(default)]
    pub rotational: bool,
    pub transport: Transport,
    #[serde(default)]
    pub removable: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub partitions: Vec<Partition>,
    /// Signatures on the whole disk (partition table, or a filesystem/md/LVM on the bare
    /// disk).
    #[serde(default)]
    pub signatures: Vec<Signature>,
    /// Neither udev nor the disk's own bytes could be read: an empty `signatures` does not
    /// mean blank. Treat the disk as holding data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signatures_unknown: bool,
    /// Mount points of the disk or any of its partitions.
    #[serde(default)]
    pub mounts: Vec<String>,
    /// The disk or one of its partitions is active swap.
    #[serde(default)]
    pub swap: bool,
    /// Devices stacked on the disk or its partitions (sysfs holders: md127, dm-0, …).
    #[serde(default)]
    pub holders: Vec<String>,
    /// The running live system came from this disk. Never selectable.
    #[serde(default)]
    pub boot_medium: bool,
    /// Sequential read speed measured by `tandem detect --speed`, MB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_mbps: Option<f64>,
}

fn default_sector() -> u32 {
    512
}

impl Disk {
    pub fn dev_path(&self) -> String {
        format!("/dev/{}", self.name)
    }

    /// 4096-byte logical sectors ("4Kn"; 512e disks report 512 here): BIOS GRUB cannot
    /// boot them and FAT32 needs a larger ESP on them.
    pub fn is_4kn(&self) -> bool {
        self.logical_sector == 4096
    }

    /// The stable name used in configs that outlive this boot (grub-pc/install_devices).
    pub fn stable_path(&self) -> String {
        match self.by_id.first() {
            Some(id) => format!("/dev/disk/by-id/{id}"),
            None => self.dev_path(),
        }
    }

    /// Every signature on the disk and its partitions, with the device each sits on.
    pub fn all_signatures(&self) -> Vec<(String, &Signature)> {
        let mut v: Vec<(String, &Signature)> = self
            .signatures
            .iter()
            .map(|s| (self.name.clone(), s))
            .collect();
        for p in &self.partitions {
            v.extend(p.signatures.iter().map(|s| (p.name.clone(), s)));
        }
        v
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Partition {
    /// Kernel name, e.g. "sda1", "nvme0n1p2".
    pub name: String,
    pub number: u32,
    pub size_bytes: u64,
    #[serde(default)]
    pub signatures: Vec<Signature>,
    /// Where this partition is mounted (also listed in the disk's `mounts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<String>,
    /// The GPT partition name (udev's ID_PART_ENTRY_NAME), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// GPT partition names are how a Tandem install is recognised on the next boot without
/// mounting anything: `tandem-<role>-<n>` once an install has finished, and
/// `tandem-unfinished-<role>-<n>` from partitioning until the install's last step renames
/// them, so a power cut or a failure in between leaves disks that say so.
pub const PARTLABEL_PREFIX: &str = "tandem-";
pub const PARTLABEL_UNFINISHED: &str = "tandem-unfinished-";

/// The name a partition carries while the install that made it is running.
pub fn unfinished_label(label: &str) -> String {
    match label.strip_prefix(PARTLABEL_PREFIX) {
        Some(rest) => format!("{PARTLABEL_UNFINISHED}{rest}"),
        None => format!("{PARTLABEL_UNFINISHED}{label}"),
    }
}

/// What a disk's partition names say about a Tandem install on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TandemInstall {
    Finished,
    /// At least one partition still has its in-progress name.
    Unfinished,
}

impl Disk {
    /// The partition names Tandem gave, finished or not.
    pub fn tandem_labels(&self) -> Vec<&str> {
        self.partitions
            .iter()
            .filter_map(|p| p.label.as_deref())
            .filter(|l| l.starts_with(PARTLABEL_PREFIX))
            .collect()
    }

    pub fn tandem_install(&self) -> Option<TandemInstall> {
        let labels = self.tandem_labels();
        if labels.iter().any(|l| l.starts_with(PARTLABEL_UNFINISHED)) {
            Some(TandemInstall::Unfinished)
        } else if labels.is_empty() {
            None
        } else {
            Some(TandemInstall::Finished)
        }
    }
}

/// Something on a device that means it holds data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
pub enum Signature {
    /// "gpt" or "dos".
    PartitionTable {
        table: String,
    },
    Filesystem {
        fstype: String,
        #[serde(default)]
        label: Option<String>,
        #[serde(default)]
        uuid: Option<String>,
    },
    /// An md RAID member superblock.
    MdMember {
        #[serde(default)]
        array_uuid: Option<String>,
        #[serde(default)]
        array_name: Option<String>,
    },
    LvmPv {
        #[serde(default)]
        vg: Option<String>,
    },
    Drbd,
    /// Any other signature blkid reports.
    Other {
        what: String,
    },
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signature::PartitionTable { table } => write!(f, "{table} partition table"),
            Signature::Filesystem { fstype, label, .. } => match label {
                Some(l) => write!(f, "{fstype} filesystem labelled {l:?}"),
                None => write!(f, "{fstype} filesystem"),
            },
            Signature::MdMember {
                array_uuid,
                array_name,
            } => {
                write!(f, "md RAID member")?;
                if let Some(n) = array_name {
                    write!(f, " of {n}")?;
                }
                if let Some(u) = array_uuid {
                    write!(f, " (array {u})")?;
                }
                Ok(())
            }
            Signature::LvmPv { vg } => match vg {
                Some(v) => write!(f, "LVM physical volume of VG {v}"),
                None => write!(f, "LVM physical volume"),
            },
            Signature::Drbd => write!(f, "DRBD metadata"),
            Signature::Other { what } => write!(f, "{what} signature"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Nic {
    pub name: String,
    /// Current MAC (a bond member's changes to the bond's).
    pub mac: MacAddr,
    /// Burned-in MAC, when the driver reports one; what selection and pinning use.
    #[serde(default)]
    pub permanent_mac: Option<MacAddr>,
    #[serde(default)]
    pub driver: Option<String>,
    /// PCI (or other bus) path, e.g. "pci-0000:01:00.0".
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub speed_mbps: Option<u32>,
    #[serde(default)]
    pub duplex: Option<String>,
    #[serde(default)]
    pub carrier: bool,
    /// Bridges, bonds, VLANs, veth, tun: not hardware, never selectable.
    #[serde(default)]
    pub is_virtual: bool,
}

impl Default for MacAddr {
    fn default() -> Self {
        MacAddr("00:00:00:00:00:00".into())
    }
}

impl Nic {
    /// The MAC that identifies the hardware across boots and bonding.
    pub fn hw_mac(&self) -> &MacAddr {
        self.permanent_mac.as_ref().unwrap_or(&self.mac)
    }
}

impl Inventory {
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// What no machine can report, in an inventory read from a file (`--hardware`): the
    /// plan turns disk and NIC names into device paths and file names, and sizes into
    /// partition tables, so a name that is a path or a sector size that does not exist
    /// must stop here. Every problem, each naming the entry.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        let mut serials = std::collections::BTreeMap::new();
        for (i, d) in self.disks.iter().enumerate() {
            let at = format!("disks[{i}] ({:?})", d.name);
            if let Some(why) = bad_kernel_name(&d.name, 32) {
                out.push(format!("{at}: name {why}"));
            }
            if !names.insert(d.name.as_str()) {
                out.push(format!("{at}: a second disk with this name"));
            }
            if let Some(s) = d.serial.as_deref().filter(|s| !s.is_empty()) {
                if let Some(first) = serials.insert(s, d.name.as_str()) {
                    out.push(format!(
                        "{at}: serial {s:?} is also disk {first:?}'s (one disk seen twice, \
                         as through two paths, must not become two RAID members)"
                    ));
                }
            }
            if !matches!(d.logical_sector, 512 | 4096) {
                out.push(format!(
                    "{at}: logical sector size {} (disks have 512 or 4096)",
                    d.logical_sector
                ));
            }
            if !d.physical_sector.is_power_of_two()
                || d.physical_sector < d.logical_sector
                || d.physical_sector > 65536
            {
                out.push(format!(
                    "{at}: physical sector size {} (a power of two from the logical size \
                     {} to 65536)",
                    d.physical_sector, d.logical_sector
                ));
            }
            if d.logical_sector != 0 && d.size_bytes % u64::from(d.logical_sector) != 0 {
                out.push(format!(
                    "{at}: size {} bytes is not a whole number of {}-byte sectors",
                    d.size_bytes, d.logical_sector
                ));
            }
            for p in &d.partitions {
                // GPT names are at most 36 UTF-16 units; they end up in messages.
                if let Some(l) = p.label.as_deref() {
                    if l.chars().any(char::is_control) || l.encode_utf16().count() > 36 {
                        out.push(format!(
                            "{at}: partition {:?} label {l:?} (a GPT name: at most 36 \
                             characters, no control character)",
                            p.name
                        ));
                    }
                }
            }
        }
        let mut nic_names = std::collections::BTreeSet::new();
        let mut macs = std::collections::BTreeMap::new();
        for (i, n) in self.nics.iter().enumerate() {
            let at = format!("nics[{i}] ({:?})", n.name);
            // IFNAMSIZ is 16 with the terminating NUL.
            if let Some(why) = bad_kernel_name(&n.name, 15) {
                out.push(format!("{at}: name {why}"));
            }
            if !nic_names.insert(n.name.as_str()) {
                out.push(format!("{at}: a second NIC with this name"));
            }
            if n.is_virtual {
                continue;
            }
            let mac = n.hw_mac();
            let first = u8::from_str_radix(mac.0.get(..2).unwrap_or("00"), 16).unwrap_or(0);
            if mac.0 == "00:00:00:00:00:00" || first & 1 == 1 {
                out.push(format!("{at}: MAC {mac} is not a unicast hardware address"));
            } else if let Some(other) = macs.insert(mac.0.as_str(), n.name.as_str()) {
                out.push(format!("{at}: MAC {mac} is also NIC {other:?}'s"));
            }
        }
        out
    }

    pub fn disk(&self, name: &str) -> Option<&Disk> {
        self.disks.iter().find(|d| d.name == name)
    }

    pub fn physical_nics(&self) -> impl Iterator<Item = &Nic> {
        self.nics.iter().filter(|n| !n.is_virtual)
    }
}

/// Why `name` cannot be a kernel device name that becomes a path component, if it cannot.
fn bad_kernel_name(name: &str, max: usize) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("is empty or a directory reference".into());
    }
    if name.len() > max {
        return Some(format!("is longer than {max} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '!' | '@')))
    {
        return Some(format!(
            "contains {c:?} (letters, digits and - _ . : ! @ only)"
        ));
    }
    None
}
