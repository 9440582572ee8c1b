//! The answer file's schema. Every front end (TOML file, PXE-fetched file, wizard) produces
//! this one type. Strict: unknown keys are errors, so a typo never silently becomes a default.

use super::size::Size;
use indexmap::IndexMap;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

fn default_true() -> bool {
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
}

// ───────────────────────────── system ─────────────────────────────

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct System {
    /// Short host name (RFC 1123 label). In a cluster file it defaults to the node's name.
    #[serde(default)]
    pub hostname: String,
    /// DNS domain; the FQDN is `hostname.domain`.
    pub domain: String,
    /// IANA time zone, e.g. "Europe/Moscow".
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Default locale, e.g. "ru_RU.UTF-8". `en_US.UTF-8` is always generated too.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Console keyboard layouts, comma-separated as in XKBLAYOUT: "us" or "us,ru".
    #[serde(default = "default_keyboard")]
    pub keyboard: String,
    /// Root password as a crypt(3) hash: yescrypt `$y$`, SHA-512 `$6$` or SHA-256 `$5$`.
    /// The plain password never appears in an answer file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password_hash: Option<String>,
    /// OpenSSH public keys written to /root/.ssh/authorized_keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_ssh_keys: Vec<String>,
    /// Default editor, set with update-alternatives (e.g. "vim.basic", "nano").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub editor: Option<String>,
    /// Extra packages installed from the medium's package cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_locale() -> String {
    "en_US.UTF-8".into()
}
fn default_keyboard() -> String {
    "us".into()
}

// ───────────────────────────── storage ─────────────────────────────

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

// ───────────────────────────── network ─────────────────────────────

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Network {
    /// Name servers for /etc/resolv.conf.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<IpAddr>,
    /// DNS search domains; the system domain is always searched first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Write a systemd .link file for every NIC the config uses, keyed by its permanent MAC,
    /// so names never move between boots or kernels.
    #[serde(default = "default_true")]
    pub pin_names: bool,
    /// Named NICs: give a NIC found by MAC, driver or name a stable name of your own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<NicDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonds: Vec<Bond>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<Vlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<Bridge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
}

/// Picks NICs from the inventory. Criteria combine (a NIC must pass all that are given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NicSelector {
    /// Permanent MAC addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mac: Vec<MacAddr>,
    /// Kernel driver glob, e.g. "e1000e" or "mlx5*".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Interface name glob, e.g. "enp1s0f*", or a name from `network.nics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Exactly this many NICs must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NicDef {
    /// The name the NIC gets (pinned by a .link file), at most 15 characters.
    pub name: String,
    /// How to find it; must match exactly one NIC.
    #[serde(rename = "match")]
    pub matches: NicSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Offload::is_empty")]
    pub offload: Offload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Bond {
    pub name: String,
    /// The member NICs.
    pub members: NicSelector,
    #[serde(default)]
    pub mode: BondMode,
    /// Link monitoring interval in milliseconds.
    #[serde(default = "default_miimon")]
    pub miimon: u32,
    /// LACP rate, 802.3ad only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_rate: Option<LacpRate>,
    /// Transmit hash policy, for balance-xor and 802.3ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<XmitHashPolicy>,
    /// Preferred member for active-backup (a member's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Offload settings applied to every member (the seed turned TSO off on Intel NICs).
    #[serde(default, skip_serializing_if = "Offload::is_empty")]
    pub offload: Offload,
}

fn default_miimon() -> u32 {
    100
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BondMode {
    #[serde(rename = "balance-rr")]
    BalanceRr,
    #[default]
    #[serde(rename = "active-backup")]
    ActiveBackup,
    #[serde(rename = "balance-xor")]
    BalanceXor,
    #[serde(rename = "broadcast")]
    Broadcast,
    #[serde(rename = "802.3ad")]
    Lacp,
    #[serde(rename = "balance-tlb")]
    BalanceTlb,
    #[serde(rename = "balance-alb")]
    BalanceAlb,
}

impl fmt::Display for BondMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(enum_name(self).as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LacpRate {
    Slow,
    Fast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum XmitHashPolicy {
    #[serde(rename = "layer2")]
    Layer2,
    #[serde(rename = "layer2+3")]
    Layer23,
    #[serde(rename = "layer3+4")]
    Layer34,
    #[serde(rename = "encap2+3")]
    Encap23,
    #[serde(rename = "encap3+4")]
    Encap34,
}

/// Offload switches (ethtool -K). Unset means leave the driver's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Offload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tso: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gso: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gro: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lro: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<bool>,
}

impl Offload {
    pub fn is_empty(&self) -> bool {
        self == &Offload::default()
    }
    /// The set switches as (ethtool feature name, on) pairs, in a fixed order.
    pub fn settings(&self) -> Vec<(&'static str, bool)> {
        [
            ("tso", self.tso),
            ("gso", self.gso),
            ("gro", self.gro),
            ("lro", self.lro),
            ("rx", self.rx),
            ("tx", self.tx),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Vlan {
    /// The interface carrying the tagged frames: a bond, a named NIC or a NIC name.
    pub parent: String,
    /// VLAN ids, 1–4094; each becomes `<parent>.<id>`.
    pub ids: Vec<u16>,
    /// Put each VLAN in its own bridge named by this template; `{id}` is the VLAN id
    /// (e.g. "vmbr{id}"). Bridges get stp off and forward delay 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Bridge {
    pub name: String,
    /// Ports: bonds, VLAN interfaces, named NICs or NIC names. Empty for a host-only bridge.
    #[serde(default)]
    pub ports: Vec<String>,
    /// VLAN-aware bridge (PVE's per-VM VLAN tags), instead of one bridge per VLAN.
    #[serde(default)]
    pub vlan_aware: bool,
    /// VLAN ids a VLAN-aware bridge carries, e.g. "2-4094".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vids: Option<String>,
    #[serde(default)]
    pub stp: bool,
    /// Forward delay in seconds.
    #[serde(default)]
    pub fd: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Address {
    /// The interface that holds the address (usually a bridge).
    pub interface: String,
    /// A static address with prefix ("10.7.4.45/24", "2001:db8::5/64"), "dhcp" (IPv4),
    /// "dhcp6" or "auto6" (SLAAC).
    pub address: AddressMethod,
    /// Default gateway; must lie inside the address's subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressMethod {
    Static(IpNet),
    Dhcp,
    Dhcp6,
    Auto6,
}

impl fmt::Display for AddressMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(n) => write!(f, "{n}"),
            Self::Dhcp => f.write_str("dhcp"),
            Self::Dhcp6 => f.write_str("dhcp6"),
            Self::Auto6 => f.write_str("auto6"),
        }
    }
}

impl std::str::FromStr for AddressMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dhcp" => Ok(Self::Dhcp),
            "dhcp6" => Ok(Self::Dhcp6),
            "auto6" => Ok(Self::Auto6),
            _ => s.parse::<IpNet>().map(Self::Static).map_err(|_| {
                format!(
                    "invalid address {s:?}; expected an address with prefix length \
                     (\"10.7.4.45/24\", \"2001:db8::5/64\"), \"dhcp\", \"dhcp6\" or \"auto6\""
                )
            }),
        }
    }
}

impl Serialize for AddressMethod {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for AddressMethod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for AddressMethod {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AddressMethod".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An address with prefix length, \"dhcp\", \"dhcp6\" or \"auto6\".",
            "type": "string"
        })
    }
}

/// A MAC address, stored lower-case with colons.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub String);

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6
            || !parts
                .iter()
                .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(format!(
                "invalid MAC address {s:?}; expected six hex pairs like \"52:54:00:12:34:56\""
            ));
        }
        Ok(MacAddr(parts.join(":").to_ascii_lowercase()))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for MacAddr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MacAddr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$"
        })
    }
}

// ───────────────────────────── drbd ─────────────────────────────

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Drbd {
    pub resources: Vec<DrbdResource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DrbdResource {
    /// Resource name, e.g. "r0".
    pub name: String,
    /// The DRBD device, /dev/drbdN.
    pub device: String,
    /// The backing device: "volume:<name>" for a volume of `storage.volumes`, or a path.
    pub backing: String,
    /// TCP port on every node.
    #[serde(default = "default_drbd_port")]
    pub port: u16,
    #[serde(default)]
    pub protocol: DrbdProtocol,
    /// Both nodes primary at once (allow-two-primaries, become-primary-on both), for live
    /// migration. Needs protocol C.
    #[serde(default)]
    pub dual_primary: bool,
    /// Seconds to wait for the peer at boot (0 waits forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wfc_timeout: Option<u32>,
    /// Seconds to wait for the peer at boot when the cluster was degraded before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degr_wfc_timeout: Option<u32>,
    /// Split-brain recovery policies.
    #[serde(default)]
    pub after_sb: AfterSb,
    /// Resync rate: "auto" (from the replication link's speed) or a rate like "110M"
    /// (bytes per second).
    #[serde(default)]
    pub sync_rate: SyncRate,
    /// Shared secret for cram-hmac-alg: "generate" (replaced once per cluster by
    /// `tandem prepare`) or the secret itself (at least 16 characters).
    #[serde(default = "default_secret")]
    pub secret: String,
    /// HMAC algorithm for peer authentication.
    #[serde(default = "default_hmac")]
    pub hmac_alg: String,
    /// Fencing policy: `resource-and-stonith` (with handlers) for dual-primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing: Option<DrbdFencing>,
    /// Create an LVM volume group on the DRBD device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvm: Option<DrbdLvm>,
}

fn default_drbd_port() -> u16 {
    7788
}
fn default_secret() -> String {
    "generate".into()
}
fn default_hmac() -> String {
    "sha1".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DrbdProtocol {
    A,
    B,
    #[default]
    C,
}

impl fmt::Display for DrbdProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(enum_name(self).as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AfterSb {
    #[serde(default = "default_sb0")]
    pub zero_primaries: AfterSb0,
    #[serde(default = "default_sb1")]
    pub one_primary: AfterSb1,
    #[serde(default = "default_sb2")]
    pub two_primaries: AfterSb2,
}

impl Default for AfterSb {
    fn default() -> Self {
        AfterSb {
            zero_primaries: default_sb0(),
            one_primary: default_sb1(),
            two_primaries: default_sb2(),
        }
    }
}

fn default_sb0() -> AfterSb0 {
    AfterSb0::DiscardZeroChanges
}
fn default_sb1() -> AfterSb1 {
    AfterSb1::DiscardSecondary
}
fn default_sb2() -> AfterSb2 {
    AfterSb2::Disconnect
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterSb0 {
    Disconnect,
    DiscardYoungerPrimary,
    DiscardOlderPrimary,
    DiscardZeroChanges,
    DiscardLeastChanges,
    DiscardNodeName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterSb1 {
    Disconnect,
    Consensus,
    ViolentlyAs0p,
    DiscardSecondary,
    CallPriLostAfterSb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterSb2 {
    Disconnect,
    ViolentlyAs0p,
    CallPriLostAfterSb,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum SyncRate {
    #[default]
    Auto,
    /// Bytes per second.
    Fixed(Size),
}

impl Serialize for SyncRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::Fixed(r) => s.serialize_str(&r.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for SyncRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "auto" {
            return Ok(Self::Auto);
        }
        s.parse::<Size>()
            .map(Self::Fixed)
            .map_err(|e| serde::de::Error::custom(format!("{e}; sync-rate may also be \"auto\"")))
    }
}

impl JsonSchema for SyncRate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SyncRate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"auto\" or bytes per second like \"110M\".",
            "type": "string"
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DrbdFencing {
    DontCare,
    ResourceOnly,
    ResourceAndStonith,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DrbdLvm {
    /// Volume group created on the DRBD device (pvcreate + vgcreate).
    pub vg: String,
}

// ───────────────────────────── cluster ─────────────────────────────

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

// ───────────────────────────── apt & install ─────────────────────────────

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

/// The serde name of a unit enum variant, so Display and error texts say what the file says.
pub fn enum_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
