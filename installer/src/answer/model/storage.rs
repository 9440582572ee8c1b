//! `[storage]`: disks, RAID, LVM volumes and filesystems.

use super::*;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Storage {
    /// Which disks to use: an explicit list, filters, or both (a disk must pass all).
    pub disks: DiskSelection,
    /// When a selected disk may be wiped.
    #[serde(default)]
    pub wipe: WipePolicy,
    /// The boot layout. `raid1`: BIOS-boot + ESP on every disk, `/boot` on an md RAID1
    /// across every disk.
    #[serde(default)]
    pub boot: BootLayout,
    /// Which firmware the disks are made bootable for. `both` works on either and survives
    /// a firmware setting change.
    #[serde(default)]
    pub firmware: FirmwareTarget,
    /// Size of the `/boot` RAID1 member on each disk.
    #[serde(default = "default_boot_size")]
    pub boot_size: Size,
    /// Size of the EFI system partition on each disk.
    #[serde(default = "default_esp_size")]
    pub esp_size: Size,
    /// RAID level of the data array.
    pub level: RaidLevel,
    /// md chunk size of the data array (not used by raid1).
    #[serde(default = "default_chunk")]
    pub chunk: Size,
    /// RAID10 layout: near copies (`n2`, the mdadm default), far (`f2`) or offset (`o2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raid10_layout: Option<Raid10Layout>,
    /// Name of the LVM volume group on the data array.
    #[serde(default = "default_vg")]
    pub vg: String,
    /// `/tmp` as tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmp: Option<Tmp>,
    /// LVM logical volumes on the data array, in order. `root` defaults to ext4 on `/`,
    /// `swap` to swap; every other volume needs `fs` and `mount`, or neither (a raw volume,
    /// e.g. a DRBD backing device).
    pub volumes: IndexMap<String, Volume>,
}

fn default_boot_size() -> Size {
    Size(1024 * 1024 * 1024)
}
fn default_esp_size() -> Size {
    Size(512 * 1024 * 1024)
}
fn default_chunk() -> Size {
    Size(512 * 1024)
}
fn default_vg() -> String {
    "pve".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DiskSelection {
    /// Explicit disks. Each entry matches a kernel name ("sda"), a /dev path, a
    /// /dev/disk/by-id or by-path name or path, a serial number or a WWN.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "non_empty_ids"
    )]
    #[schemars(length(min = 1))]
    pub ids: Vec<String>,
    /// Smallest disk size to select.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<Size>,
    /// Largest disk size to select.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<Size>,
    /// Only spinning (true) or only solid-state (false) disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    /// Only disks on these transports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport: Vec<Transport>,
    /// Shell glob on the disk model, e.g. "SAMSUNG MZ7*".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Leave out removable disks (USB sticks, card readers).
    #[serde(default = "default_true")]
    pub exclude_removable: bool,
    /// Exactly this many disks must match; a different count is an error, not a guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

/// An absent `ids` selects by the other filters; an empty one would too, silently taking
/// every eligible disk where the writer meant none or forgot to fill it in.
fn non_empty_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    if ids.is_empty() {
        return Err(serde::de::Error::custom(
            "an empty list selects no disk; list the disks, or leave `ids` out to select \
             by size, model or transport",
        ));
    }
    Ok(ids)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Sata,
    Sas,
    Nvme,
    Virtio,
    Usb,
    Scsi,
    Mmc,
    #[default]
    Unknown,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(enum_name(self).as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WipePolicy {
    /// Every selected disk must be entirely blank: not even an empty partition table.
    Never,
    /// Blank disks and disks with an empty partition table are used; any filesystem, md,
    /// LVM or DRBD signature, or any partition, stops the install before a write.
    #[default]
    IfEmpty,
    /// Wipe whatever is on the selected disks.
    Force,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BootLayout {
    #[default]
    Raid1,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FirmwareTarget {
    Bios,
    Uefi,
    #[default]
    Both,
}

impl FirmwareTarget {
    pub fn bios(self) -> bool {
        matches!(self, Self::Bios | Self::Both)
    }
    pub fn uefi(self) -> bool {
        matches!(self, Self::Uefi | Self::Both)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RaidLevel {
    Raid1,
    Raid5,
    Raid6,
    Raid10,
}

impl RaidLevel {
    pub const ALL: [RaidLevel; 4] = [Self::Raid1, Self::Raid5, Self::Raid6, Self::Raid10];

    /// The fewest members mdadm (and good sense) accept for this level.
    pub fn min_disks(self) -> usize {
        match self {
            Self::Raid1 => 2,
            Self::Raid5 => 3,
            Self::Raid6 | Self::Raid10 => 4,
        }
    }

    /// The number mdadm takes for `--level`.
    pub fn md_level(self) -> u8 {
        match self {
            Self::Raid1 => 1,
            Self::Raid5 => 5,
            Self::Raid6 => 6,
            Self::Raid10 => 10,
        }
    }

    /// Usable capacity of `n` members of `member` bytes each (2 copies for raid10).
    pub fn usable(self, n: usize, member: u64) -> u64 {
        let n = n as u64;
        match self {
            Self::Raid1 => member,
            Self::Raid5 => member * n.saturating_sub(1),
            Self::Raid6 => member * n.saturating_sub(2),
            Self::Raid10 => member * n / 2,
        }
    }

    /// Disk failures the array survives whichever disks fail (raid10 with 2 copies: one,
    /// though it may survive one per mirror pair).
    pub fn failures_tolerated(self, n: usize) -> usize {
        match self {
            Self::Raid1 => n.saturating_sub(1),
            Self::Raid5 => 1,
            Self::Raid6 => 2,
            Self::Raid10 => 1,
        }
    }

    /// Whether the level uses a chunk size.
    pub fn striped(self) -> bool {
        !matches!(self, Self::Raid1)
    }
}

impl fmt::Display for RaidLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(enum_name(self).as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Raid10Layout {
    N2,
    F2,
    O2,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Tmp {
    /// Size limit of the tmpfs mounted on /tmp (nodev,nosuid).
    pub tmpfs: Size,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Volume {
    /// "32G", "10%" (of the volume group) or "rest" (what is left, once per file).
    pub size: VolumeSize,
    /// Filesystem; `swap` makes a swap volume. Defaults: root → ext4, swap → swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<Filesystem>,
    /// Mount point. Defaults: root → "/".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// Mount options for fstab; defaults to "defaults" ("errors=remount-ro" for /).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

impl Volume {
    /// The filesystem and mount point once the defaults for the volume names `root`
    /// (ext4 on /) and `swap` (swap) apply. Validation, the plan and the wizard all ask here.
    pub fn effective(&self, name: &str) -> (Option<Filesystem>, Option<String>) {
        let fs = self.fs.or(match name {
            "root" => Some(Filesystem::Ext4),
            "swap" => Some(Filesystem::Swap),
            _ => None,
        });
        let mount = self
            .mount
            .clone()
            .or_else(|| (name == "root").then(|| "/".to_string()));
        (fs, mount)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Filesystem {
    Ext4,
    Xfs,
    Swap,
}

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(enum_name(self).as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VolumeSize {
    Fixed(Size),
    /// Percent of the volume group.
    Percent(f64),
    Rest,
}

impl fmt::Display for VolumeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(s) => write!(f, "{s}"),
            Self::Percent(p) => write!(f, "{p}%"),
            Self::Rest => f.write_str("rest"),
        }
    }
}

impl std::str::FromStr for VolumeSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "rest" {
            return Ok(Self::Rest);
        }
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("invalid percentage {s:?}"))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!("percentage {s:?} must be above 0 and at most 100"));
            }
            return Ok(Self::Percent(v));
        }
        t.parse::<Size>().map(Self::Fixed).map_err(|e| {
            format!("{e}; a volume size may also be a percentage (\"10%\") or \"rest\"")
        })
    }
}

impl Serialize for VolumeSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for VolumeSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for VolumeSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VolumeSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"32G\", a percentage of the volume group (\"10%\") or \"rest\".",
            "type": "string"
        })
    }
}
