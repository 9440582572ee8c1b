//! Builds the [`Inventory`] from the running kernel's view: `/sys`, the udev database in
//! `/run/udev/data`, `/proc`. Everything is read under a sysroot so that tests run on
//! trees captured from real machines (qemu-tests/capture-hardware.sh). Nothing here
//! writes; device nodes are opened read-only, and only when the sysroot is `/`.

use super::{signature, udev, Disk, Firmware, Inventory, Machine, Nic, Partition, Signature};
use crate::answer::{MacAddr, Transport};
use crate::hardware::select::disk_has_id;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Where live-boot mounts the medium the live system came from, and (`findiso=`) the
/// filesystem holding the ISO image it was booted from.
pub const LIVE_MEDIUM_MOUNTS: [&str; 2] = ["/run/live/medium", "/run/live/findiso"];
/// Kernel command-line parameter naming the boot medium when it is not mounted there.
pub const MEDIUM_PARAM: &str = "tandem.medium=";
const SECURE_BOOT_VAR: &str =
    "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// The tree to read: `/` on a live machine, a captured copy in tests.
#[derive(Debug, Clone)]
pub struct Sysroot {
    root: PathBuf,
}

impl Sysroot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysroot { root: root.into() }
    }

    /// The running system itself: device nodes and ioctls may be used.
    fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn read(&self, abs: &str) -> Option<String> {
        fs::read_to_string(self.path(abs))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn read_num<T: std::str::FromStr>(&self, abs: &str) -> Option<T> {
        self.read(abs)?.parse().ok()
    }

    /// Where a symlink points, as an absolute path inside the sysroot, resolved lexically
    /// (sysfs links are relative; the captured tree holds only what detect reads).
    fn link(&self, abs: &str) -> Option<String> {
        let target = fs::read_link(self.path(abs)).ok()?;
        // The directory holding the link may itself be reached through links
        // (/sys/class/net/eth0/device): resolve it for real, then the link lexically.
        let parent = Path::new(abs).parent()?;
        let real_root = fs::canonicalize(&self.root).ok()?;
        let real_parent = fs::canonicalize(self.path(&parent.to_string_lossy())).ok()?;
        let parent = Path::new("/").join(real_parent.strip_prefix(&real_root).ok()?);
        let base = parent.join(target);
        let mut out = PathBuf::from("/");
        for c in base.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
        Some(out.to_string_lossy().into_owned())
    }

    fn entries(&self, abs: &str) -> Vec<String> {
        super::dir_names(&self.path(abs))
    }
}

/// Reads the whole inventory.
pub fn detect(root: &Path) -> Result<Inventory> {
    let sys = Sysroot::new(root);
    if !sys.path("/sys/block").is_dir() {
        anyhow::bail!(
            "{} has no sys/block: not a Linux system root",
            root.display()
        );
    }
    let mounts = Mounts::read(&sys).context("reading mountinfo")?;
    let swaps = read_swaps(&sys);
    let mut disks = Vec::new();
    for name in sys.entries("/sys/block") {
        if let Some(d) = read_disk(&sys, &name, &mounts, &swaps)? {
            disks.push(d);
        }
    }
    mark_boot_medium(&sys, &mounts, &mut disks);
    Ok(Inventory {
        machine: read_machine(&sys),
        disks,
        nics: read_nics(&sys),
    })
}

fn read_machine(sys: &Sysroot) -> Machine {
    let uefi = sys.path("/sys/firmware/efi").is_dir();
    // efivarfs files are 4 bytes of attributes, then the value.
    let secure_boot = uefi
        && fs::read(sys.path(SECURE_BOOT_VAR))
            .map(|b| b.get(4) == Some(&1))
            .unwrap_or(false);
    let cpu_vendor = sys
        .read("/proc/cpuinfo")
        .and_then(|t| field(&t, "vendor_id"))
        .unwrap_or_default();
    let memory_bytes = sys
        .read("/proc/meminfo")
        .and_then(|t| field(&t, "MemTotal"))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    Machine {
        firmware: if uefi { Firmware::Uefi } else { Firmware::Bios },
        secure_boot,
        cpu_vendor,
        memory_bytes,
    }
}

/// `key : value` from cpuinfo/meminfo style text, first occurrence.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Mounted devices by "major:minor" and by /dev source, from mountinfo.
#[derive(Debug, Default)]
struct Mounts {
    by_devnum: HashMap<String, Vec<String>>,
    by_source: HashMap<String, Vec<String>>,
}

impl Mounts {
    fn read(sys: &Sysroot) -> Result<Mounts> {
        let text = sys
            .read("/proc/self/mountinfo")
            .or_else(|| sys.read("/proc/1/mountinfo"))
            .unwrap_or_default();
        let mut m = Mounts::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let Some(sep) = f.iter().position(|x| *x == "-") else {
                continue;
            };
            if f.len() < 5 || f.len() < sep + 3 {
                continue;
            }
            let point = unescape_mount(f[4]);
            m.by_devnum
                .entry(f[2].to_string())
                .or_default()
                .push(point.clone());
            m.by_source
                .entry(f[sep + 2].to_string())
                .or_default()
                .push(point);
        }
        Ok(m)
    }

    fn of(&self, devnum: &str, name: &str) -> Vec<String> {
        let mut v = self.by_devnum.get(devnum).cloned().unwrap_or_default();
        for p in self
            .by_source
            .get(&format!("/dev/{name}"))
            .into_iter()
            .flatten()
        {
            if !v.contains(p) {
                v.push(p.clone());
            }
        }
        v
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Kernel names of active swap devices.
fn read_swaps(sys: &Sysroot) -> Vec<String> {
    sys.read("/proc/swaps")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|f| f.strip_prefix("/dev/"))
        .map(str::to_string)
        .collect()
}

fn read_disk(sys: &Sysroot, name: &str, mounts: &Mounts, swaps: &[String]) -> Result<Option<Disk>> {
    let base = format!("/sys/block/{name}");
    // Only disks backed by a device: no loop, ram, zram, md, dm, nbd; no optical drives;
    // no floppy drives (block major 2; QEMU gives every PC one); not an eMMC's boot or
    // RPMB areas (mmcblk0boot0, mmcblk0rpmb), which belong to the user area next to them.
    let emmc_area = name.starts_with("mmcblk") && (name.contains("boot") || name.ends_with("rpmb"));
    let floppy = sys
        .read(&format!("{base}/dev"))
        .is_some_and(|d| d.trim().starts_with("2:"));
    if sys.link(&format!("{base}/device")).is_none()
        || name.starts_with("sr")
        || emmc_area
        || floppy
    {
        return Ok(None);
    }
    // sysfs counts 512-byte units whatever the sector size; a count no disk can have
    // (it overflows in bytes) is treated like no medium.
    let size_bytes = sys
        .read_num::<u64>(&format!("{base}/size"))
        .and_then(|n| n.checked_mul(512))
        .unwrap_or(0);
    if size_bytes == 0 {
        // A card reader without a card, an empty virtual drive.
        return Ok(None);
    }
    let devnum = sys.read(&format!("{base}/dev")).unwrap_or_default();
    let rec = udev::block(sys.root(), &devnum).unwrap_or_default();
    let devpath = sys.link(&base).unwrap_or_default();
    let logical_sector = sys
        .read_num(&format!("{base}/queue/logical_block_size"))
        .unwrap_or(512);

    let mut by_id = rec.links_in("disk/by-id");
    by_id.sort_by_key(|i| (id_rank(i), i.clone()));
    let mut by_path = rec.links_in("disk/by-path");
    by_path.sort();

    // SCSI: the unit serial (VPD page 0x80); ID_SERIAL_SHORT there is the WWN-based id.
    let serial = rec
        .get("ID_SCSI_SERIAL")
        .or_else(|| rec.get("ID_SERIAL_SHORT"))
        .map(str::to_string)
        .or_else(|| sys.read(&format!("{base}/serial")))
        .or_else(|| sys.read(&format!("{base}/device/serial")))
        .or_else(|| rec.get("ID_SERIAL").map(str::to_string))
        .filter(|s| !s.is_empty());
    let model = rec
        .get_decoded("ID_MODEL_ENC")
        .or_else(|| sys.read(&format!("{base}/device/model")))
        .or_else(|| rec.get("ID_MODEL").map(|m| m.replace('_', " ")))
        .filter(|s| !s.is_empty());
    let wwn = rec
        .get("ID_WWN_WITH_EXTENSION")
        .or_else(|| rec.get("ID_WWN"))
        .map(str::to_string)
        .or_else(|| sys.read(&format!("{base}/wwid")))
        .or_else(|| sys.read(&format!("{base}/device/wwid")))
        .filter(|s| !s.is_empty());

    let mut d = Disk {
        name: name.to_string(),
        by_id,
        by_path,
        serial,
        model,
        wwn,
        size_bytes,
        logical_sector,
        physical_sector: sys
            .read_num(&format!("{base}/queue/physical_block_size"))
            .unwrap_or(logical_sector),
        rotational: sys.read(&format!("{base}/queue/rotational")).as_deref() == Some("1"),
        transport: transport(name, &devpath, &rec),
        removable: sys.read(&format!("{base}/removable")).as_deref() == Some("1"),
        read_only: sys.read(&format!("{base}/ro")).as_deref() == Some("1"),
        signatures: Vec::new(),
        mounts: mounts.of(&devnum, name),
        swap: swaps.iter().any(|s| s == name),
        holders: sys.entries(&format!("{base}/holders")),
        ..Disk::default()
    };
    (d.signatures, d.signatures_unknown) =
        device_signatures(sys, name, &rec, false, size_bytes, logical_sector);
    for part in sys.entries(&base) {
        let pbase = format!("{base}/{part}");
        let Some(number) = sys.read_num::<u32>(&format!("{pbase}/partition")) else {
            continue;
        };
        let pdev = sys.read(&format!("{pbase}/dev")).unwrap_or_default();
        let prec = udev::block(sys.root(), &pdev).unwrap_or_default();
        let psize = sys
            .read_num::<u64>(&format!("{pbase}/size"))
            .and_then(|n| n.checked_mul(512))
            .unwrap_or(0);
        let pmounts = mounts.of(&pdev, &part);
        for m in &pmounts {
            if !d.mounts.contains(m) {
                d.mounts.push(m.clone());
            }
        }
        d.swap |= swaps.contains(&part);
        for h in sys.entries(&format!("{pbase}/holders")) {
            if !d.holders.contains(&h) {
                d.holders.push(h);
            }
        }
        let (signatures, unknown) =
            device_signatures(sys, &part, &prec, true, psize, logical_sector);
        d.signatures_unknown |= unknown;
        d.partitions.push(Partition {
            name: part.clone(),
            number,
            size_bytes: psize,
            signatures,
            mounts: pmounts,
            // Only shown in messages: a name with a control character is not kept.
            label: prec
                .get_decoded("ID_PART_ENTRY_NAME")
                .filter(|l| !l.chars().any(char::is_control)),
        });
    }
    d.partitions.sort_by_key(|p| p.number);
    Ok(Some(d))
}

/// by-id names that name the drive by bus, model and serial come first; world-wide names
/// and namespace EUIs after (both are stable, the first is what an admin recognises).
fn id_rank(id: &str) -> u8 {
    if id.starts_with("wwn-")
        || id.starts_with("nvme-eui.")
        || id.starts_with("nvme-nvme.")
        || id.starts_with("scsi-3")
    {
        1
    } else {
        0
    }
}

fn transport(name: &str, devpath: &str, rec: &udev::Record) -> Transport {
    let bus = rec.get("ID_BUS").unwrap_or("");
    let p = devpath;
    if p.contains("/usb") || bus == "usb" {
        Transport::Usb
    } else if p.contains("/nvme") || name.starts_with("nvme") || bus == "nvme" {
        Transport::Nvme
    } else if name.starts_with("vd") && p.contains("/virtio") {
        Transport::Virtio
    } else if name.starts_with("mmcblk") || p.contains("/mmc_host/") {
        Transport::Mmc
    } else if p.contains("/end_device-") || p.contains("/sas_") || p.contains("/expander-") {
        Transport::Sas
    } else if p.contains("/ata") || bus == "ata" {
        Transport::Sata
    } else if p.contains("/host") || bus == "scsi" {
        Transport::Scsi
    } else {
        Transport::Unknown
    }
}

/// udev's view, completed by reading the device itself when it is the live system. The
/// flag is set when neither source could tell (no udev record, device unreadable): then
/// "no signature" means "unknown", not "blank".
fn device_signatures(
    sys: &Sysroot,
    name: &str,
    rec: &udev::Record,
    is_partition: bool,
    size: u64,
    sector: u32,
) -> (Vec<Signature>, bool) {
    let from_udev = signature::from_udev(rec, is_partition);
    let udev_knows = !rec.props.is_empty();
    if !sys.is_live() {
        return (from_udev, !udev_knows);
    }
    let probed = fs::File::open(format!("/dev/{name}"))
        .and_then(|mut f| signature::probe(&mut f, size, sector));
    let unknown = probed.is_err() && !udev_knows;
    let probed = probed.unwrap_or_default();
    let probed = if is_partition {
        probed
            .into_iter()
            .filter(|s| !matches!(s, Signature::PartitionTable { .. }))
            .collect()
    } else {
        probed
    };
    (signature::merge(from_udev, probed), unknown)
}

/// Marks the disk the live system came from: the device mounted at /run/live/medium (or
/// /run/live/findiso when the ISO is a file on a disk), or the one `tandem.medium=` on the
/// kernel command line names. PXE and toram boots have none.
fn mark_boot_medium(sys: &Sysroot, mounts: &Mounts, disks: &mut [Disk]) {
    let param = sys.read("/proc/cmdline").and_then(|c| {
        c.split_whitespace()
            .find_map(|w| w.strip_prefix(MEDIUM_PARAM))
            .map(str::to_string)
    });
    let medium_devnums: Vec<&String> = mounts
        .by_devnum
        .iter()
        .filter(|(_, points)| {
            points
                .iter()
                .any(|p| LIVE_MEDIUM_MOUNTS.contains(&p.as_str()))
        })
        .map(|(dn, _)| dn)
        .collect();
    for d in disks.iter_mut() {
        let mut devnums = vec![sys.read(&format!("/sys/block/{}/dev", d.name))];
        for p in &d.partitions {
            devnums.push(sys.read(&format!("/sys/block/{}/{}/dev", d.name, p.name)));
        }
        let mounted_medium = devnums
            .iter()
            .flatten()
            .any(|dn| medium_devnums.contains(&dn));
        let named = param.as_deref().is_some_and(|id| {
            disk_has_id(d, id)
                || d.partitions
                    .iter()
                    .any(|p| id.trim_start_matches("/dev/") == p.name)
        });
        d.boot_medium = mounted_medium || named;
    }
}

fn read_nics(sys: &Sysroot) -> Vec<Nic> {
    let bonding = bond_permanent_macs(sys);
    let mut v = Vec::new();
    for name in sys.entries("/sys/class/net") {
        let base = format!("/sys/class/net/{name}");
        if !sys.path(&base).is_dir() {
            continue; // bonding_masters and the like
        }
        // ARPHRD_LOOPBACK
        if sys.read(&format!("{base}/type")).as_deref() == Some("772") {
            continue;
        }
        let Some(mac) = sys
            .read(&format!("{base}/address"))
            .and_then(|a| a.parse::<MacAddr>().ok())
        else {
            continue;
        };
        let devpath = sys.link(&base).unwrap_or_default();
        let device = sys.link(&format!("{base}/device"));
        let is_virtual = device.is_none() || devpath.starts_with("/sys/devices/virtual/");
        let ifindex = sys.read_num::<u32>(&format!("{base}/ifindex"));
        let rec = ifindex
            .and_then(|i| udev::net(sys.root(), i))
            .unwrap_or_default();
        let driver = sys
            .link(&format!("{base}/device/driver"))
            .and_then(|l| l.rsplit('/').next().map(str::to_string))
            .or_else(|| rec.get("ID_NET_DRIVER").map(str::to_string));
        let path = rec
            .get("ID_PATH")
            .map(str::to_string)
            .or_else(|| device.as_deref().and_then(pci_path));
        let enslaved = sys.link(&format!("{base}/master")).is_some();
        let permanent_mac = if is_virtual {
            None
        } else {
            let live = sys.is_live().then(|| ethtool_perm_addr(&name)).flatten();
            live.or_else(|| bonding.get(&name).cloned()).or_else(|| {
                // NET_ADDR_PERM: the address is the burned-in one, unless a bond has
                // rewritten it (then bonding's file above knew better).
                (!enslaved && sys.read(&format!("{base}/addr_assign_type")).as_deref() == Some("0"))
                    .then(|| mac.clone())
            })
        };
        v.push(Nic {
            name: name.clone(),
            mac,
            permanent_mac,
            driver,
            path,
            speed_mbps: sys
                .read_num::<i64>(&format!("{base}/speed"))
                .filter(|s| *s > 0)
                .and_then(|s| u32::try_from(s).ok()),
            duplex: sys
                .read(&format!("{base}/duplex"))
                .filter(|d| d == "full" || d == "half"),
            carrier: sys.read(&format!("{base}/carrier")).as_deref() == Some("1"),
            is_virtual,
        });
    }
    v
}

/// "pci-0000:00:04.0" from a device path: its last PCI address component.
fn pci_path(devpath: &str) -> Option<String> {
    devpath
        .split('/')
        .rfind(|c| {
            c.len() == 12 && c.as_bytes()[4] == b':' && c.as_bytes()[7] == b':' && c.contains('.')
        })
        .map(|c| format!("pci-{c}"))
}

/// Bond members' burned-in MACs from /proc/net/bonding/* ("Slave Interface:" followed by
/// "Permanent HW addr:").
fn bond_permanent_macs(sys: &Sysroot) -> BTreeMap<String, MacAddr> {
    let mut m = BTreeMap::new();
    for bond in sys.entries("/proc/net/bonding") {
        let text = sys
            .read(&format!("/proc/net/bonding/{bond}"))
            .unwrap_or_default();
        let mut slave: Option<String> = None;
        for line in text.lines() {
            if let Some(s) = line.strip_prefix("Slave Interface:") {
                slave = Some(s.trim().to_string());
            } else if let Some(a) = line.strip_prefix("Permanent HW addr:") {
                if let (Some(s), Ok(mac)) = (slave.take(), a.trim().parse::<MacAddr>()) {
                    m.insert(s, mac);
                }
            }
        }
    }
    m
}

/// The burned-in MAC via the SIOCETHTOOL ETHTOOL_GPERMADDR ioctl; None when the driver
/// has none (all zero) or the call fails.
fn ethtool_perm_addr(ifname: &str) -> Option<MacAddr> {
    const ETHTOOL_GPERMADDR: u32 = 0x20;
    #[repr(C)]
    struct PermAddr {
        cmd: u32,
        size: u32,
        data: [u8; 32],
    }
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        data: *mut PermAddr,
        _pad: [u8; 16],
    }
    if ifname.len() >= 16 {
        return None;
    }
    let mut pa = PermAddr {
        cmd: ETHTOOL_GPERMADDR,
        size: 32,
        data: [0; 32],
    };
    let mut req = IfReq {
        name: [0; 16],
        data: &mut pa,
        _pad: [0; 16],
    };
    req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: a plain datagram socket used for one ioctl and closed; `req` and `pa` live
    // across the call and have the layout the kernel expects (struct ifreq with
    // ifr_data, struct ethtool_perm_addr with room for 32 bytes).
    let ok = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let r = libc::ioctl(fd, libc::SIOCETHTOOL, &mut req as *mut IfReq);
        libc::close(fd);
        r == 0
    };
    let n = pa.size as usize;
    if !ok || n != 6 || pa.data[..n].iter().all(|&b| b == 0) {
        return None;
    }
    let s: Vec<String> = pa.data[..n].iter().map(|b| format!("{b:02x}")).collect();
    s.join(":").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mount("/mnt/my\\040disk"), "/mnt/my disk");
        assert_eq!(unescape_mount("/a\\b"), "/a\\b");
    }

    #[test]
    fn pci_paths() {
        assert_eq!(
            pci_path("/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0").as_deref(),
            Some("pci-0000:01:00.0")
        );
        assert_eq!(pci_path("/sys/devices/virtual/net/bond0"), None);
    }

    #[test]
    fn id_ranks() {
        let mut ids = [
            "wwn-0x5000c500a1b2c301".to_string(),
            "ata-QEMU_HARDDISK_SATA0001".to_string(),
        ];
        ids.sort_by_key(|i| (id_rank(i), i.clone()));
        assert_eq!(ids[0], "ata-QEMU_HARDDISK_SATA0001");
    }

    /// QEMU gives every PC a floppy drive; it is never an install target.
    #[test]
    fn floppy_drives_are_not_disks() {
        let t = std::env::temp_dir().join(format!("tandem-fd0-{}", std::process::id()));
        let dev = t.join("sys/devices/platform/floppy.0/block/fd0");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("dev"), "2:0\n").unwrap();
        std::fs::write(dev.join("size"), "8\n").unwrap();
        std::fs::create_dir_all(t.join("sys/block")).unwrap();
        std::os::unix::fs::symlink(
            "../devices/platform/floppy.0/block/fd0",
            t.join("sys/block/fd0"),
        )
        .unwrap();
        std::os::unix::fs::symlink("../../../floppy.0", dev.join("device")).unwrap();
        std::fs::create_dir_all(t.join("proc/self")).unwrap();
        std::fs::write(t.join("proc/self/mountinfo"), "").unwrap();
        std::fs::write(t.join("proc/swaps"), "Filename Type Size Used Priority\n").unwrap();
        let inv = detect(&t).unwrap();
        std::fs::remove_dir_all(&t).unwrap();
        assert!(inv.disks.is_empty(), "{:?}", inv.disks);
    }
}
