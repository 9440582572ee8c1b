//! Disks → GPT partitions → md arrays → LVM → filesystems → mounts. Pure arithmetic on the
//! inventory: every byte offset the executor writes is decided here and shown in the plan.

use crate::answer::{
    Answer, Filesystem, Issue, Raid10Layout, RaidLevel, Size, Storage, VolumeSize, MIB,
};
use crate::hardware::select::DiskMatch;
use crate::hardware::Disk;
use serde::Serialize;
use std::fmt;

/// LVM extent size (lvcreate's default). Volume sizes round up to whole extents.
pub const EXTENT: u64 = 4 * MIB;
/// Where the first partition starts: 1 MiB, the alignment every tool agrees on.
const FIRST_START: u64 = MIB;
/// The BIOS-boot partition GRUB embeds its core image in; 1 MiB is ample.
const BIOS_BOOT: u64 = MIB;
/// Slack left unpartitioned at the end of each disk, after the backup GPT, so a replacement
/// disk a few sectors smaller than the original still takes the same layout.
const END_SLACK: u64 = MIB;
/// The smallest data member worth building an array on.
pub const MIN_DATA_MEMBER: u64 = 1024 * MIB;
/// A "4Kn" disk: 4096-byte logical sectors (not 512e, which emulates 512 for the host).
const SECTOR_4KN: u32 = 4096; // what hardware::Disk::is_4kn tests
/// The smallest FAT32 volume, in clusters: the FAT specification (fatgen103) decides the
/// type by the cluster count, so below it a firmware's FAT driver that follows the
/// specification reads the ESP as FAT16 and finds no boot loader; mkfs.vfat -F 32 only
/// warns ("less than suggested minimum") and makes it anyway.
const FAT32_MIN_CLUSTERS: u64 = 65525;
/// mkfs.fat's reserved area on FAT32 (boot sector, FSInfo, backup boot sector), in sectors.
const FAT32_RESERVED_SECTORS: u64 = 32;
/// The smallest ESP mkfs.vfat -F 32 makes on a 4Kn disk. Its clusters cannot be smaller
/// than a sector, so the 65525 clusters alone take 256 MiB; the reserved area and two FATs
/// of 4 bytes per cluster (plus the two reserved entries), whole sectors each, come on
/// top: 65685 sectors, 256.6 MiB. On 512-byte sectors the 64M floor of validation is
/// enough, as clusters can be 512 bytes there.
pub const ESP_MIN_4KN: u64 = (FAT32_RESERVED_SECTORS
    + 2 * ((FAT32_MIN_CLUSTERS + 2) * 4).div_ceil(SECTOR_4KN as u64)
    + FAT32_MIN_CLUSTERS)
    * SECTOR_4KN as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartRole {
    BiosBoot,
    Esp,
    Boot,
    Data,
}

impl PartRole {
    /// sgdisk type code.
    pub fn type_code(self) -> &'static str {
        match self {
            Self::BiosBoot => "EF02",
            Self::Esp => "EF00",
            Self::Boot | Self::Data => "FD00",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Self::BiosBoot => "bios",
            Self::Esp => "esp",
            Self::Boot => "boot",
            Self::Data => "data",
        }
    }
}

/// A device node's path as the plan names it (/dev/vda2, /dev/md/boot, /dev/pve/root):
/// what the install writes to and what fstab, mdadm.conf and the steps name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DevPath(String);

impl DevPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DevPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DevPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl AsRef<str> for DevPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for DevPath {
    fn as_ref(&self) -> &std::ffi::OsStr {
        std::ffi::OsStr::new(&self.0)
    }
}

impl AsRef<std::path::Path> for DevPath {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl From<String> for DevPath {
    fn from(s: String) -> Self {
        DevPath(s)
    }
}

impl From<&str> for DevPath {
    fn from(s: &str) -> Self {
        DevPath(s.to_string())
    }
}

impl From<DevPath> for String {
    fn from(d: DevPath) -> Self {
        d.0
    }
}

impl From<&DevPath> for String {
    fn from(d: &DevPath) -> Self {
        d.0.clone()
    }
}

impl PartialEq<str> for DevPath {
    fn eq(&self, o: &str) -> bool {
        self.0 == o
    }
}

impl PartialEq<&str> for DevPath {
    fn eq(&self, o: &&str) -> bool {
        self.0 == *o
    }
}

impl PartialEq<String> for DevPath {
    fn eq(&self, o: &String) -> bool {
        &self.0 == o
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedPartition {
    pub number: u32,
    /// Kernel device path, e.g. /dev/sda2 or /dev/nvme0n1p2.
    pub dev: DevPath,
    pub role: PartRole,
    /// sgdisk type code (EF02, EF00, FD00).
    pub type_code: String,
    /// GPT partition name, unique per disk index: tandem-<role>-<disk index>.
    pub label: String,
    pub start_bytes: u64,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedDisk {
    pub name: String,
    pub dev: DevPath,
    /// /dev/disk/by-id path: what GRUB's debconf and the plan's targets name.
    pub stable_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub size_bytes: u64,
    /// Bytes per logical sector: what mkfs.vfat is told for the disk's ESP.
    pub logical_sector: u32,
    /// Room past the last partition that the layout leaves unused: the members are sized
    /// for the smallest disk, so a larger disk keeps the difference.
    pub unused_bytes: u64,
    pub partitions: Vec<PlannedPartition>,
}

impl PlannedDisk {
    pub fn partition(&self, role: PartRole) -> Option<&PlannedPartition> {
        self.partitions.iter().find(|p| p.role == role)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LeftOutDisk {
    pub name: String,
    pub size_bytes: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MdArray {
    /// "boot" or "data".
    pub role: String,
    /// /dev/md/<role>; mdadm.conf's ARRAY line makes the name stick.
    pub dev: DevPath,
    /// mdadm --name: <hostname>:<role>.
    pub md_name: String,
    /// mdadm --create --uuid: fixed by the plan (see [`md_uuid`]) so mdadm.conf can name
    /// the array before it exists.
    pub uuid: String,
    pub level: RaidLevel,
    /// 1.2: the superblock 4 KiB from the start; GRUB's mdraid1x module reads it.
    pub metadata: String,
    /// Internal write-intent bitmap: a member that drops out briefly resyncs only what
    /// changed.
    pub bitmap: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<Size>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<Raid10Layout>,
    pub members: Vec<DevPath>,
    /// Size of each member partition.
    pub member_bytes: u64,
    /// Capacity of the array after md's per-member reserve.
    pub usable_bytes: u64,
    pub failures_tolerated: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LogicalVolume {
    pub name: String,
    pub dev: DevPath,
    /// What the answer asked for: "32G", "10%", "rest".
    pub requested: String,
    pub extents: u64,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VolumeGroup {
    pub name: String,
    pub pv: DevPath,
    pub extent_bytes: u64,
    pub extents: u64,
    pub size_bytes: u64,
    pub free_bytes: u64,
    pub volumes: Vec<LogicalVolume>,
}

/// A filesystem type the plan makes or mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    Ext4,
    Xfs,
    Swap,
    /// An ESP.
    Vfat,
    /// `/tmp` in memory (mounted, never made).
    Tmpfs,
}

impl From<Filesystem> for FsType {
    fn from(f: Filesystem) -> Self {
        match f {
            Filesystem::Ext4 => FsType::Ext4,
            Filesystem::Xfs => FsType::Xfs,
            Filesystem::Swap => FsType::Swap,
        }
    }
}

/// Pads to a width, as the plan's text columns ask.
impl fmt::Display for FsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
            FsType::Swap => "swap",
            FsType::Vfat => "vfat",
            FsType::Tmpfs => "tmpfs",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedFs {
    pub dev: DevPath,
    pub fstype: FsType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Filesystem UUID fixed up front (vfat volume id of an ESP), so fstab needs no
    /// placeholder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
}

/// One fstab line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Mount {
    pub spec: String,
    pub mountpoint: String,
    pub fstype: FsType,
    pub options: String,
    pub dump: u8,
    pub pass: u8,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct StoragePlan {
    pub disks: Vec<PlannedDisk>,
    pub left_out: Vec<LeftOutDisk>,
    pub arrays: Vec<MdArray>,
    pub lvm: VolumeGroup,
    pub filesystems: Vec<PlannedFs>,
    pub mounts: Vec<Mount>,
}

impl StoragePlan {
    pub fn array(&self, role: &str) -> Option<&MdArray> {
        self.arrays.iter().find(|a| a.role == role)
    }

    /// The disk a partition of the plan is on.
    pub fn disk_of(&self, part: &DevPath) -> Option<&PlannedDisk> {
        self.disks
            .iter()
            .find(|d| d.partitions.iter().any(|p| &p.dev == part))
    }
}

/// The kernel's name for partition `n` of `disk`: a digit-final disk name takes a `p`
/// (nvme0n1p1, mmcblk0p1), others do not (sda1, vda1).
pub fn partition_name(disk: &str, n: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

fn align_down(v: u64, a: u64) -> u64 {
    v / a * a
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// The end of the usable area: before the backup GPT (33 logical sectors: 32 of entries
/// and the header, for 512-byte sectors; generous for 4Kn) and a MiB of slack, MiB-aligned.
fn usable_end(d: &Disk) -> u64 {
    let backup = 33 * u64::from(d.logical_sector.max(512));
    align_down(d.size_bytes.saturating_sub(backup), MIB).saturating_sub(END_SLACK)
}

/// The same prefix on every disk: [BIOS-boot] [ESP] /boot member, then the data member.
fn boot_prefix(st: &Storage) -> Vec<(PartRole, u64)> {
    let mut prefix: Vec<(PartRole, u64)> = Vec::new();
    if st.firmware.bios() {
        prefix.push((PartRole::BiosBoot, BIOS_BOOT));
    }
    if st.firmware.uefi() {
        prefix.push((PartRole::Esp, align_up(st.esp_size.0, MIB)));
    }
    prefix.push((PartRole::Boot, align_up(st.boot_size.0, MIB)));
    prefix
}

/// What is left on `d` for its data member after the boot partitions `st` asks for.
fn data_room(st: &Storage, d: &Disk) -> u64 {
    align_down(
        usable_end(d).saturating_sub(data_start(&boot_prefix(st))),
        MIB,
    )
}

/// Where the data member starts, after the boot partitions.
fn data_start(prefix: &[(PartRole, u64)]) -> u64 {
    FIRST_START + prefix.iter().map(|(_, s)| s).sum::<u64>()
}

/// Whether `d` can be a member at all under `st`'s boot partitions: the disk the plan
/// refuses as too small is the one this says no to.
pub fn holds_a_member(st: &Storage, d: &Disk) -> bool {
    data_room(st, d) >= MIN_DATA_MEMBER
}

/// What mdadm keeps at the front of each 1.2-metadata member before the data starts:
/// reshape headroom of 128 MiB, halved while it is above 1/1024 of the member (mdadm's own
/// rule for small devices), plus 4 MiB for the superblock and the internal bitmap. An
/// estimate on the safe side, so the sizes in the plan fit what mdadm gives.
fn md_overhead(member: u64) -> u64 {
    let mut headroom = 128 * MIB;
    while headroom > member / 1024 && headroom > MIB {
        headroom /= 2;
    }
    headroom + 4 * MIB
}

/// The UUID an array is created with. mdadm ≥ 4.3 identifies arrays in mdadm.conf only by
/// UUID (`name=` is ignored), and the UUID mdadm would pick exists only after creation; a
/// plan-fixed one lets `tandem render` write the file the install writes. Derived like
/// [`esp_volume_id`] from the host, the array's role and its disks' stable names (two
/// FNV-1a 64-bit hashes with different offsets): arrays of one machine differ by role,
/// machines by host name; a reinstall over the same disks repeats it after wiping the old
/// superblocks.
pub fn md_uuid(hostname: &str, role: &str, disks_stable: &[&str]) -> String {
    let hash = |basis: u64| {
        let mut h = basis;
        let bytes = hostname.bytes().chain([0]).chain(role.bytes()).chain(
            disks_stable
                .iter()
                .flat_map(|d| std::iter::once(0).chain(d.bytes())),
        );
        for b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x6c62_272e_07bb_0142));
    format!(
        "{:08x}:{:08x}:{:08x}:{:08x}",
        a >> 32,
        a & 0xffff_ffff,
        b >> 32,
        b & 0xffff_ffff
    )
}

/// How long systemd waits for an array or a volume in fstab before emergency mode.
/// Its default, 90 s, counts from the start of the real root, and these devices appear
/// only when udev's coldplug has reached them (LVs other than root are activated then
/// too): a big HBA, or an emulated machine under load (the CI's first boots: coldplug
/// still loading modules 250 s in), takes longer, and the node booted to emergency
/// mode with healthy arrays. A device that never comes still ends there, later.
pub const DEVICE_WAIT: &str = "x-systemd.device-timeout=5min";

/// Mount options with [`DEVICE_WAIT`] added, unless the answer chose its own timeout.
fn with_device_wait(options: &str) -> String {
    if options.contains("x-systemd.device-timeout=") {
        options.to_string()
    } else {
        format!("{options},{DEVICE_WAIT}")
    }
}

/// A deterministic FAT volume id for a disk's ESP, so fstab and the ESP sync hook can name
/// the ESP before it exists (mkfs.vfat -i). FNV-1a over the host and the disk's stable name:
/// distinct disks get distinct ids; reinstalling the same machine repeats them, harmlessly.
fn esp_volume_id(hostname: &str, disk_stable: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in hostname
        .bytes()
        .chain(std::iter::once(0))
        .chain(disk_stable.bytes())
    {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:04X}-{:04X}", h >> 16, h & 0xffff)
}

pub(super) fn build(answer: &Answer, m: &DiskMatch<'_>) -> Result<StoragePlan, Vec<Issue>> {
    let st = &answer.storage;
    let host = &answer.system.hostname;
    let mut issues = Vec::new();
    let n = m.selected.len();
    issues.extend(sector_issues(answer, &m.selected));
    if n < st.level.min_disks() {
        issues.push(Issue::new(
            "storage.level",
            format!(
                "{} needs at least {} disks; {n} selected ({})",
                st.level,
                st.level.min_disks(),
                names(&m.selected)
            ),
        ));
    }

    let prefix = boot_prefix(st);
    let data_start = data_start(&prefix);

    // One data member size for all: the smallest disk's room. Larger disks keep the rest
    // free rather than make an array md would cut down to its smallest member anyway.
    let smallest = m.selected.iter().min_by_key(|d| usable_end(d));
    let data_size = smallest.map(|d| data_room(st, d)).unwrap_or(0);
    if let Some(d) = smallest {
        if data_size < MIN_DATA_MEMBER {
            issues.push(Issue::new(
                "storage.disks",
                format!(
                    "disk {} ({}) is too small: BIOS-boot, ESP and /boot take {} and leave {} \
                     for the data array, less than {}",
                    d.name,
                    Size(d.size_bytes).human(),
                    Size(data_start).human(),
                    Size(data_size).human(),
                    Size(MIN_DATA_MEMBER).human()
                ),
            ));
        }
    }

    let disks: Vec<PlannedDisk> = m
        .selected
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut start = FIRST_START;
            let mut parts = Vec::new();
            let all = prefix.iter().copied().chain([(PartRole::Data, data_size)]);
            for (k, (role, size)) in all.enumerate() {
                let number = k as u32 + 1;
                parts.push(PlannedPartition {
                    number,
                    dev: format!("/dev/{}", partition_name(&d.name, number)).into(),
                    role,
                    type_code: role.type_code().into(),
                    label: format!("{}{}-{i}", crate::hardware::PARTLABEL_PREFIX, role.label()),
                    start_bytes: start,
                    size_bytes: size,
                });
                start += size;
            }
            PlannedDisk {
                name: d.name.clone(),
                dev: d.dev_path().into(),
                stable_path: d.stable_path(),
                model: d.model.clone(),
                size_bytes: d.size_bytes,
                logical_sector: d.logical_sector,
                unused_bytes: usable_end(d).saturating_sub(start),
                partitions: parts,
            }
        })
        .collect();
    let left_out = m
        .left_out
        .iter()
        .map(|(d, why)| LeftOutDisk {
            name: d.name.clone(),
            size_bytes: d.size_bytes,
            reason: why.clone(),
        })
        .collect();

    let members = |role: PartRole| -> Vec<DevPath> {
        disks
            .iter()
            .filter_map(|d| d.partition(role).map(|p| p.dev.clone()))
            .collect()
    };
    let stable: Vec<&str> = disks.iter().map(|d| d.stable_path.as_str()).collect();
    let boot_member = align_up(st.boot_size.0, MIB);
    let boot = MdArray {
        role: "boot".into(),
        dev: "/dev/md/boot".into(),
        md_name: format!("{host}:boot"),
        uuid: md_uuid(host, "boot", &stable),
        level: RaidLevel::Raid1,
        metadata: "1.2".into(),
        bitmap: "internal".into(),
        chunk: None,
        layout: None,
        members: members(PartRole::Boot),
        member_bytes: boot_member,
        usable_bytes: boot_member.saturating_sub(md_overhead(boot_member)),
        failures_tolerated: RaidLevel::Raid1.failures_tolerated(n),
    };
    let level = st.level;
    let mut data_member = data_size.saturating_sub(md_overhead(data_size));
    if level.striped() {
        data_member = align_down(data_member, st.chunk.0.max(1));
    }
    let data = MdArray {
        role: "data".into(),
        dev: "/dev/md/data".into(),
        md_name: format!("{host}:data"),
        uuid: md_uuid(host, "data", &stable),
        level,
        metadata: "1.2".into(),
        bitmap: "internal".into(),
        chunk: level.striped().then_some(st.chunk),
        layout: (level == RaidLevel::Raid10).then(|| st.raid10_layout.unwrap_or(Raid10Layout::N2)),
        members: members(PartRole::Data),
        member_bytes: data_size,
        usable_bytes: level.usable(n, data_member),
        failures_tolerated: level.failures_tolerated(n),
    };

    let lvm = match volume_group(answer, &data, n) {
        Ok(vg) => vg,
        Err(mut e) => {
            issues.append(&mut e);
            VolumeGroup {
                name: st.vg.clone(),
                pv: data.dev.clone(),
                extent_bytes: EXTENT,
                extents: 0,
                size_bytes: 0,
                free_bytes: 0,
                volumes: vec![],
            }
        }
    };

    let (filesystems, mounts) = filesystems(answer, &disks, &lvm);
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(StoragePlan {
        disks,
        left_out,
        arrays: vec![boot, data],
        lvm,
        filesystems,
        mounts,
    })
}

/// What 4Kn disks (4096-byte logical sectors) rule out: booting them by BIOS, and an ESP
/// too small for FAT32 in 4 KiB clusters.
fn sector_issues(answer: &Answer, selected: &[&Disk]) -> Vec<Issue> {
    let st = &answer.storage;
    let four_k: Vec<&Disk> = selected.iter().copied().filter(|d| d.is_4kn()).collect();
    if four_k.is_empty() {
        return vec![];
    }
    let mut issues = Vec::new();
    let (disks, have) = match four_k.len() {
        1 => ("disk", "has"),
        _ => ("disks", "have"),
    };
    let list = format!("{disks} {}", names(&four_k));
    if st.firmware.bios() {
        issues.push(Issue::new(
            "storage.firmware",
            format!(
                "{list} {have} 4096-byte logical sectors (4Kn): BIOS GRUB cannot boot from \
                 them (its i386-pc boot.img and core.img read the disk through BIOS int13, \
                 which most firmware does not offer for 4K sectors), and firmware = {:?} \
                 includes BIOS; set firmware = \"uefi\"",
                crate::answer::enum_name(&st.firmware)
            ),
        ));
    }
    let esp = align_up(st.esp_size.0, MIB);
    if st.firmware.uefi() && esp < ESP_MIN_4KN {
        issues.push(Issue::new(
            "storage.esp-size",
            format!(
                "{} is too small for an ESP on 4Kn disks ({list} {have} 4096-byte logical \
                 sectors): FAT32 needs at least {FAT32_MIN_CLUSTERS} clusters, which in 4 KiB \
                 clusters with the FATs take {}; at least {}",
                st.esp_size,
                Size(ESP_MIN_4KN).human(),
                Size(align_up(ESP_MIN_4KN, MIB))
            ),
        ));
    }
    issues
}

fn names(disks: &[&Disk]) -> String {
    if disks.is_empty() {
        return "none".into();
    }
    disks
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves the volumes to extents: fixed sizes round up, percentages of the VG round down
/// (as `lvcreate -l N%VG`), `rest` takes what the others leave.
fn volume_group(answer: &Answer, data: &MdArray, n: usize) -> Result<VolumeGroup, Vec<Issue>> {
    let st = &answer.storage;
    // pvcreate aligns the first extent to the array's stripe width (chunk × data disks).
    let stripe = if st.level.striped() {
        st.level.usable(n, st.chunk.0)
    } else {
        MIB
    };
    let pe_start = align_up(MIB, stripe.max(1));
    if pe_start >= data.usable_bytes {
        // The volumes are not the problem: the chunk leaves no room for any.
        return Err(vec![Issue::new(
            "storage.chunk",
            format!(
                "{} makes a stripe of {} (LVM's first extent is aligned to it), but the {} \
                 data array of {n} × {} members holds {} in whole chunks: use a chunk like \"64K\", \
                 \"512K\" or \"1M\"",
                st.chunk,
                Size(stripe).human(),
                st.level,
                Size(data.member_bytes).human(),
                Size(data.usable_bytes).human()
            ),
        )]);
    }
    let extents = data.usable_bytes.saturating_sub(pe_start) / EXTENT;
    let mut issues = Vec::new();
    let mut sized: Vec<(String, VolumeSize, Option<u64>)> = Vec::new();
    let mut rest: Option<String> = None;
    for (name, v) in &st.volumes {
        let e = match v.size {
            VolumeSize::Fixed(s) => Some(s.0.div_ceil(EXTENT)),
            VolumeSize::Percent(p) => Some((extents as f64 * p / 100.0).floor() as u64),
            VolumeSize::Rest => {
                if let Some(first) = &rest {
                    issues.push(Issue::new(
                        format!("storage.volumes.{name}.size"),
                        format!("only one volume may be \"rest\"; {first} already is"),
                    ));
                }
                rest.get_or_insert_with(|| name.clone());
                None
            }
        };
        sized.push((name.clone(), v.size, e));
    }
    let fixed: u64 = sized.iter().filter_map(|(_, _, e)| *e).sum();
    let describe = || {
        format!(
            "the {} data array of {n} × {} members gives {}",
            st.level,
            Size(data.member_bytes).human(),
            Size(extents * EXTENT).human()
        )
    };
    if fixed > extents {
        issues.push(Issue::new(
            "storage.volumes",
            format!(
                "volumes need {} but {}",
                Size(fixed * EXTENT).human(),
                describe()
            ),
        ));
    } else if let Some(r) = &rest {
        if fixed == extents {
            issues.push(Issue::new(
                format!("storage.volumes.{r}.size"),
                format!(
                    "\"rest\" leaves nothing for {r}: the other volumes take all of what {}",
                    describe()
                ),
            ));
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let volumes: Vec<LogicalVolume> = sized
        .into_iter()
        .map(|(name, req, e)| {
            let e = e.unwrap_or(extents - fixed);
            LogicalVolume {
                dev: format!("/dev/{}/{name}", st.vg).into(),
                name,
                requested: req.to_string(),
                extents: e,
                size_bytes: e * EXTENT,
            }
        })
        .collect();
    let used: u64 = volumes.iter().map(|v| v.extents).sum();
    Ok(VolumeGroup {
        name: st.vg.clone(),
        pv: data.dev.clone(),
        extent_bytes: EXTENT,
        extents,
        size_bytes: extents * EXTENT,
        free_bytes: (extents - used) * EXTENT,
        volumes,
    })
}

/// mkfs jobs and fstab lines. fstab names LVs by /dev/<vg>/<lv> (LVM names are ours and
/// stable, as PVE's own installer writes them), /boot by /dev/md/boot (mdadm.conf pins
/// the name), ESPs by the volume id fixed in the plan: no line needs a UUID that exists only
/// after mkfs, so fstab is complete before anything is written.
fn filesystems(
    answer: &Answer,
    disks: &[PlannedDisk],
    vg: &VolumeGroup,
) -> (Vec<PlannedFs>, Vec<Mount>) {
    let st = &answer.storage;
    let host = &answer.system.hostname;
    let mut fss = Vec::new();
    let mut mounts = Vec::new();
    let mut swaps = Vec::new();
    for lv in &vg.volumes {
        let Some(v) = st.volumes.get(&lv.name) else {
            continue;
        };
        let (fs, mount) = v.effective(&lv.name);
        let Some(fs) = fs else { continue };
        fss.push(PlannedFs {
            dev: lv.dev.clone(),
            fstype: fs.into(),
            label: None,
            uuid: None,
            mount: mount.clone(),
        });
        if fs == Filesystem::Swap {
            swaps.push(Mount {
                spec: lv.dev.to_string(),
                mountpoint: "none".into(),
                fstype: FsType::Swap,
                options: with_device_wait(v.options.as_deref().unwrap_or("sw")),
                dump: 0,
                pass: 0,
            });
        } else if let Some(mp) = mount {
            let root = mp == "/";
            mounts.push(Mount {
                spec: lv.dev.to_string(),
                options: match (&v.options, root) {
                    (Some(o), _) => with_device_wait(o),
                    (None, true) => with_device_wait("errors=remount-ro"),
                    (None, false) => with_device_wait("defaults"),
                },
                mountpoint: mp,
                fstype: fs.into(),
                dump: 0,
                pass: if fs == Filesystem::Xfs {
                    0
                } else if root {
                    1
                } else {
                    2
                },
            });
        }
    }
    fss.push(PlannedFs {
        dev: "/dev/md/boot".into(),
        fstype: FsType::Ext4,
        label: Some("boot".into()),
        uuid: None,
        mount: Some("/boot".into()),
    });
    mounts.push(Mount {
        spec: "/dev/md/boot".into(),
        mountpoint: "/boot".into(),
        fstype: FsType::Ext4,
        options: with_device_wait("defaults"),
        dump: 0,
        pass: 2,
    });
    // An ESP on every disk. The first is mounted at /boot/efi (where grub-efi and kernel
    // hooks write); the others are kept identical by the ESP sync hook, which mounts them
    // by volume id. nofail: a dead first disk must not stop the boot in emergency mode.
    if st.firmware.uefi() {
        for (i, d) in disks.iter().enumerate() {
            let Some(p) = d.partition(PartRole::Esp) else {
                continue;
            };
            let id = esp_volume_id(host, &d.stable_path);
            let mp = (i == 0).then(|| "/boot/efi".to_string());
            fss.push(PlannedFs {
                dev: p.dev.clone(),
                fstype: FsType::Vfat,
                label: None,
                uuid: Some(id.clone()),
                mount: mp.clone(),
            });
            if let Some(mp) = mp {
                // `nofail`: the node boots without this disk (any ESP holds the same
                // files), so the boot does not wait for it, but the mount still gives up
                // when the device wait runs out: 10 s, then systemd's 90 s, ran out under a
                // slow first udev coldplug and left /boot/efi unmounted on a healthy
                // machine (CI, 2026-12). The same wait as the arrays.
                mounts.push(Mount {
                    spec: format!("UUID={id}"),
                    mountpoint: mp,
                    fstype: FsType::Vfat,
                    options: with_device_wait("umask=0077,nofail"),
                    dump: 0,
                    pass: 1,
                });
            }
        }
    }
    if let Some(t) = &st.tmp {
        mounts.push(Mount {
            spec: "tmpfs".into(),
            mountpoint: "/tmp".into(),
            fstype: FsType::Tmpfs,
            options: format!("nodev,nosuid,size={}", t.tmpfs),
            dump: 0,
            pass: 0,
        });
    }
    // Mount order: a parent before its children ("/" < "/boot" < "/boot/efi"); stable for
    // siblings. Swap lines go last.
    mounts.sort_by_key(|m| {
        if m.mountpoint == "/" {
            0
        } else {
            m.mountpoint.matches('/').count()
        }
    });
    mounts.extend(swaps);
    (fss, mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::GIB;

    #[test]
    fn partition_names_follow_the_kernel() {
        assert_eq!(partition_name("sda", 2), "sda2");
        assert_eq!(partition_name("vdb", 1), "vdb1");
        assert_eq!(partition_name("nvme0n1", 3), "nvme0n1p3");
        assert_eq!(partition_name("mmcblk0", 1), "mmcblk0p1");
    }

    #[test]
    fn md_overhead_shrinks_headroom_on_small_members() {
        assert_eq!(md_overhead(2048 * GIB), 132 * MIB);
        assert_eq!(md_overhead(GIB), 5 * MIB);
        // 20 GiB: headroom halves until at most 20 MiB.
        assert_eq!(md_overhead(20 * GIB), 20 * MIB);
    }

    #[test]
    fn esp_ids_are_stable_distinct_and_fat_shaped() {
        let u = md_uuid(
            "lxeon",
            "boot",
            &["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"],
        );
        assert!(
            u.len() == 35
                && u.split(':')
                    .all(|p| p.len() == 8 && p.chars().all(|c| c.is_ascii_hexdigit())),
            "{u}"
        );
        assert_eq!(
            u,
            md_uuid(
                "lxeon",
                "boot",
                &["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]
            )
        );
        assert_ne!(
            u,
            md_uuid(
                "lxeon",
                "data",
                &["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]
            )
        );
        assert_ne!(
            u,
            md_uuid(
                "nettop",
                "boot",
                &["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]
            )
        );
        assert_ne!(
            u,
            md_uuid(
                "lxeon",
                "boot",
                &["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-C"]
            )
        );
        let a = esp_volume_id("lxeon", "/dev/disk/by-id/ata-A");
        assert_eq!(a, esp_volume_id("lxeon", "/dev/disk/by-id/ata-A"));
        assert_ne!(a, esp_volume_id("lxeon", "/dev/disk/by-id/ata-B"));
        assert_ne!(a, esp_volume_id("nettop", "/dev/disk/by-id/ata-A"));
        assert_eq!(a.len(), 9);
        assert_eq!(&a[4..5], "-");
        assert!(a
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }

    #[test]
    fn usable_end_leaves_the_backup_gpt_and_slack() {
        let d = Disk {
            size_bytes: 20 * GIB,
            ..Default::default()
        };
        assert_eq!(usable_end(&d), 20 * GIB - 2 * MIB);
    }
}
