//! `detect` on trees captured from real QEMU guests (qemu-tests/capture-hardware.sh).
//! The expected values are what the capture script gave QEMU: serials, MACs, sizes,
//! controllers, and what each guest set up (old md member, PV, bond, swap, mounts).

use std::path::{Path, PathBuf};
use std::process::Command;
use tandem::answer::{MacAddr, Transport};
use tandem::hardware::exclusive::{check, ExclusiveError};
use tandem::hardware::{detect, Disk, Firmware, Inventory, Nic, Signature};

const GIB: u64 = 1 << 30;

fn root(machine: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sysroot")
        .join(machine)
}

fn inv(machine: &str) -> Inventory {
    detect(&root(machine)).unwrap_or_else(|e| panic!("{machine}: {e:#}"))
}

fn disk<'a>(inv: &'a Inventory, name: &str) -> &'a Disk {
    inv.disk(name)
        .unwrap_or_else(|| panic!("no disk {name} in {:?}", names(inv)))
}

fn nic<'a>(inv: &'a Inventory, name: &str) -> &'a Nic {
    inv.nics
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no NIC {name}"))
}

fn names(inv: &Inventory) -> Vec<&str> {
    inv.disks.iter().map(|d| d.name.as_str()).collect()
}

/// SCSI-family kernel names (sd*) and NVMe controller numbers follow probe order, which
/// differs between boots; the serials QEMU was given do not.
fn by_serial<'a>(inv: &'a Inventory, serial: &str) -> &'a Disk {
    let hits: Vec<&Disk> = inv
        .disks
        .iter()
        .filter(|d| d.serial.as_deref() == Some(serial))
        .collect();
    assert_eq!(hits.len(), 1, "serial {serial} in {:?}", names(inv));
    hits[0]
}

fn sorted_serials(inv: &Inventory) -> Vec<&str> {
    let mut v: Vec<&str> = inv
        .disks
        .iter()
        .filter_map(|d| d.serial.as_deref())
        .collect();
    v.sort();
    v
}

const STICK: &str = "TANDEMUSB01";

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// The USB stick every guest but the PXE one booted from: GPT, FAT labelled TANDEM,
/// mounted at /run/live/medium.
fn assert_usb_medium(d: &Disk) {
    assert_eq!(d.transport, Transport::Usb);
    assert!(d.removable, "usb-storage removable=on");
    assert!(d.boot_medium);
    assert_eq!(d.serial.as_deref(), Some("TANDEMUSB01"));
    assert_eq!(d.model.as_deref(), Some("QEMU HARDDISK"));
    assert_eq!(d.size_bytes, 256 << 20);
    assert_eq!(
        d.by_id,
        vec!["usb-QEMU_QEMU_HARDDISK_TANDEMUSB01-0:0".to_string()]
    );
    assert!(
        d.by_path[0].contains("-usb-0:1:1.0-scsi-0:0:0:0"),
        "{:?}",
        d.by_path
    );
    assert_eq!(
        d.signatures,
        vec![Signature::PartitionTable {
            table: "gpt".into()
        }]
    );
    assert_eq!(d.partitions.len(), 1);
    let p = &d.partitions[0];
    assert_eq!(p.number, 1);
    assert_eq!(
        p.signatures,
        vec![Signature::Filesystem {
            fstype: "vfat".into(),
            label: Some("TANDEM".into()),
            uuid: Some("7A4D-0001".into())
        }]
    );
    assert_eq!(p.mounts, vec!["/run/live/medium".to_string()]);
    assert_eq!(d.mounts, vec!["/run/live/medium".to_string()]);
    assert!(tandem::hardware::select::disk_busy(d)
        .unwrap()
        .contains("boot medium"));
}

fn assert_machine_bios(inv: &Inventory) {
    assert_eq!(inv.machine.firmware, Firmware::Bios);
    assert!(!inv.machine.secure_boot);
    // QEMU's TCG CPU model identifies as AMD; -m 1024 leaves a little under 1 GiB.
    assert_eq!(inv.machine.cpu_vendor, "AuthenticAMD");
    assert!(
        (900 << 20..1 << 30).contains(&inv.machine.memory_bytes),
        "{}",
        inv.machine.memory_bytes
    );
}

#[test]
fn virtio_disks_one_nic_usb_boot() {
    let inv = inv("virtio-1nic");
    assert_machine_bios(&inv);
    assert_eq!(names(&inv), ["sda", "vda", "vdb", "vdc"]);
    assert_usb_medium(by_serial(&inv, STICK));

    let vda = disk(&inv, "vda");
    assert_eq!(vda.transport, Transport::Virtio);
    assert_eq!(vda.serial.as_deref(), Some("VIRTA0001"));
    assert_eq!(vda.by_id, vec!["virtio-VIRTA0001".to_string()]);
    assert_eq!(
        vda.by_path,
        vec![
            "pci-0000:00:02.0".to_string(),
            "virtio-pci-0000:00:02.0".to_string()
        ]
    );
    assert_eq!(vda.stable_path(), "/dev/disk/by-id/virtio-VIRTA0001");
    assert_eq!(vda.size_bytes, 8 * GIB);
    assert_eq!((vda.logical_sector, vda.physical_sector), (512, 512));
    assert!(!vda.removable && !vda.read_only && !vda.boot_medium);
    assert!(vda.signatures.is_empty() && vda.partitions.is_empty());
    assert!(vda.mounts.is_empty() && !vda.swap && vda.holders.is_empty());
    assert_eq!(tandem::hardware::select::disk_busy(vda), None);

    let vdb = disk(&inv, "vdb");
    assert_eq!(
        vdb.signatures,
        vec![Signature::PartitionTable {
            table: "gpt".into()
        }]
    );
    assert_eq!(vdb.partitions.len(), 1);
    assert_eq!(vdb.partitions[0].name, "vdb1");
    assert_eq!(vdb.partitions[0].size_bytes, (16_777_216 - 2048 - 33) * 512);
    assert_eq!(
        vdb.partitions[0].signatures,
        vec![Signature::Filesystem {
            fstype: "ext4".into(),
            label: Some("olddata".into()),
            uuid: Some("5a1e0000-0000-4000-8000-00000000e4e4".into())
        }]
    );
    assert!(vdb.mounts.is_empty(), "an old filesystem, not mounted");

    // drbdmeta create-md (v09, internal) on the bare disk.
    let vdc = disk(&inv, "vdc");
    assert_eq!(vdc.serial.as_deref(), Some("VIRTC0003"));
    assert_eq!(vdc.size_bytes, 2 * GIB);
    assert_eq!(vdc.signatures, vec![Signature::Drbd]);
    assert_eq!(
        tandem::hardware::select::disk_busy(vdc),
        None,
        "metadata only, not attached"
    );

    assert_eq!(inv.nics.len(), 1);
    // QEMU places devices in command-line order: three disks in PCI slots 2-4, the NIC in
    // slot 5, which udev's net_id names ens5.
    let n = nic(&inv, "ens5");
    assert_eq!(n.mac, mac("52:54:00:10:00:01"));
    assert_eq!(n.permanent_mac, Some(mac("52:54:00:10:00:01")));
    assert_eq!(n.driver.as_deref(), Some("virtio_net"));
    assert_eq!(n.path.as_deref(), Some("pci-0000:00:05.0"));
    assert!(n.carrier && !n.is_virtual);
}

#[test]
fn sata_disks_with_an_old_md_array() {
    let inv = inv("sata-oldmd-2nic");
    assert_machine_bios(&inv);
    let mut kernel_names = names(&inv);
    kernel_names.sort();
    assert_eq!(kernel_names, ["sda", "sdb", "sdc", "sdd"]);
    assert_eq!(
        sorted_serials(&inv),
        ["SATA0001", "SATA0002", "SSD00003", STICK]
    );
    let mut uuids = Vec::new();
    for serial in ["SATA0001", "SATA0002"] {
        let d = by_serial(&inv, serial);
        let name = &d.name;
        assert_eq!(d.transport, Transport::Sata);
        assert_eq!(d.serial.as_deref(), Some(serial));
        assert_eq!(d.model.as_deref(), Some("QEMU HARDDISK"));
        assert_eq!(d.by_id[0], format!("ata-QEMU_HARDDISK_{serial}"));
        assert!(d.by_path[0].starts_with("pci-0000:00:"), "{:?}", d.by_path);
        assert!(d.by_path[0].contains("-ata-"), "{:?}", d.by_path);
        assert!(d.rotational, "rotation_rate=7200");
        assert_eq!((d.logical_sector, d.physical_sector), (512, 4096));
        assert_eq!(d.size_bytes, 6 * GIB);
        assert_eq!(d.partitions.len(), 1);
        match &d.partitions[0].signatures[..] {
            [Signature::MdMember {
                array_uuid: Some(u),
                array_name: Some(n),
            }] => {
                assert_eq!(n, "oldhost:0");
                assert_eq!(u.len(), 35, "{u}");
                assert_eq!(u.matches(':').count(), 3, "mdadm notation: {u}");
                uuids.push(u.clone());
            }
            other => panic!("{name}1: {other:?}"),
        }
        // A stopped array: a member superblock, but nothing holds the disk.
        assert!(d.holders.is_empty());
        assert_eq!(tandem::hardware::select::disk_busy(d), None);
    }
    assert_eq!(uuids[0], uuids[1], "both members of one array");

    let ssd = by_serial(&inv, "SSD00003");
    assert!(!ssd.rotational, "rotation_rate=1");
    assert_eq!(ssd.model.as_deref(), Some("Samsung_SSD_870"));
    assert_eq!(ssd.wwn.as_deref(), Some("0x5002538e40a1b2c3"));
    assert_eq!(
        ssd.by_id.first().map(String::as_str),
        Some("ata-Samsung_SSD_870_SSD00003")
    );
    assert_eq!(
        ssd.by_id.last().map(String::as_str),
        Some("wwn-0x5002538e40a1b2c3")
    );
    assert_usb_medium(by_serial(&inv, STICK));

    let up = nic(&inv, "ens3");
    assert_eq!(up.driver.as_deref(), Some("e1000e"));
    assert_eq!(up.permanent_mac, Some(mac("52:54:00:20:00:01")));
    assert!(up.carrier);
    assert_eq!(up.speed_mbps, Some(1000));
    assert_eq!(up.duplex.as_deref(), Some("full"));
    let down = nic(&inv, "ens4");
    assert_eq!(down.mac, mac("52:54:00:20:00:02"));
    assert!(!down.carrier);
    assert_eq!(down.speed_mbps, None);
}

#[test]
fn nvme_with_an_lvm_pv_on_uefi() {
    let inv = inv("nvme-lvm-uefi-2nic");
    assert_eq!(inv.machine.firmware, Firmware::Uefi);
    assert!(!inv.machine.secure_boot, "OVMF without Secure Boot");
    assert_eq!(names(&inv).len(), 4);
    assert_eq!(
        sorted_serials(&inv),
        ["NVME0001", "NVME0002", "SATA0101", STICK]
    );
    for serial in ["NVME0001", "NVME0002"] {
        let d = by_serial(&inv, serial);
        assert!(
            d.name.starts_with("nvme") && d.name.ends_with("n1"),
            "{}",
            d.name
        );
        assert_eq!(d.transport, Transport::Nvme);
        assert_eq!(d.serial.as_deref(), Some(serial));
        assert_eq!(d.model.as_deref(), Some("QEMU NVMe Ctrl"));
        assert_eq!(d.size_bytes, 10 * GIB);
        assert!(!d.rotational);
        assert!(
            d.by_id.contains(&format!("nvme-QEMU_NVMe_Ctrl_{serial}")),
            "{:?}",
            d.by_id
        );
    }
    assert!(by_serial(&inv, "NVME0001").signatures.is_empty());
    assert_eq!(
        by_serial(&inv, "NVME0002").signatures,
        vec![Signature::LvmPv { vg: None }],
        "udev knows the PV, not its VG"
    );
    let sata = by_serial(&inv, "SATA0101");
    assert_eq!(sata.transport, Transport::Sata);
    assert!(sata.name.starts_with("sd"), "{}", sata.name);
    assert_usb_medium(by_serial(&inv, STICK));
    let nics: Vec<(&str, &MacAddr)> = inv
        .nics
        .iter()
        .map(|n| (n.name.as_str(), n.hw_mac()))
        .collect();
    assert_eq!(
        nics,
        [
            ("ens5", &mac("52:54:00:30:00:01")),
            ("ens6", &mac("52:54:00:30:00:02"))
        ]
    );
}

#[test]
fn four_nics_and_a_bond_that_is_up() {
    let inv = inv("bond-4nic");
    assert_eq!(names(&inv), ["sda", "vda"]);
    assert_usb_medium(by_serial(&inv, STICK));
    assert_eq!(inv.physical_nics().count(), 4);
    let bond = nic(&inv, "bond0");
    assert!(bond.is_virtual);
    assert_eq!(bond.permanent_mac, None);
    // active-backup: the bond takes the first member's MAC and gives it to the second.
    let m1 = nic(&inv, "ens3");
    let m2 = nic(&inv, "ens4");
    assert_eq!(bond.mac, mac("52:54:00:40:00:01"));
    assert_eq!(m1.mac, mac("52:54:00:40:00:01"));
    assert_eq!(
        m2.mac,
        mac("52:54:00:40:00:01"),
        "current MAC rewritten by the bond"
    );
    assert_eq!(m1.permanent_mac, Some(mac("52:54:00:40:00:01")));
    assert_eq!(
        m2.permanent_mac,
        Some(mac("52:54:00:40:00:02")),
        "from /proc/net/bonding"
    );
    for m in [m1, m2] {
        assert_eq!(m.driver.as_deref(), Some("e1000e"));
        assert!(m.carrier && !m.is_virtual);
    }
    let v1 = nic(&inv, "ens5");
    let v2 = nic(&inv, "ens6");
    assert_eq!(v1.driver.as_deref(), Some("virtio_net"));
    assert_eq!(v1.path.as_deref(), Some("pci-0000:00:05.0"));
    assert!(v1.carrier && !v2.carrier);
    assert_eq!(v2.hw_mac(), &mac("52:54:00:40:00:04"));

    // The bond's members are found by their permanent MACs, the bond itself never.
    let sel = tandem::answer::NicSelector {
        mac: vec![mac("52:54:00:40:00:01"), mac("52:54:00:40:00:02")],
        ..Default::default()
    };
    let hits = tandem::hardware::select::match_nics(&sel, &inv, &Default::default(), "m").unwrap();
    let hit_names: Vec<&str> = hits.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(hit_names, ["ens3", "ens4"]);
}

#[test]
fn busy_disks_are_named_with_the_reason() {
    let inv = inv("busy-md-swap-mount");
    assert_eq!(names(&inv), ["sda", "vda", "vdb", "vdc"]);
    for name in ["vda", "vdb"] {
        let d = disk(&inv, name);
        assert_eq!(d.holders, vec!["md127".to_string()], "{name}");
        assert!(matches!(
            &d.partitions[0].signatures[..],
            [Signature::MdMember { array_name: Some(n), .. }] if n == "thishost:busy"
        ));
    }
    let vdc = disk(&inv, "vdc");
    assert!(vdc.swap);
    assert_eq!(vdc.mounts, vec!["/mnt/data".to_string()]);
    assert_eq!(vdc.partitions[1].mounts, vec!["/mnt/data".to_string()]);
    assert!(matches!(
        &vdc.partitions[0].signatures[..],
        [Signature::Filesystem { fstype, label: Some(l), .. }] if fstype == "swap" && l == "busyswap"
    ));

    let stick = by_serial(&inv, STICK).name.clone();
    let err = check(
        &["vda".into(), "/dev/vdc".into(), stick.clone()],
        &root("busy-md-swap-mount"),
    )
    .unwrap_err();
    let ExclusiveError::Busy(ref refused) = err else {
        panic!("{err}")
    };
    assert_eq!(refused.len(), 3);
    let text = err.to_string();
    assert!(text.contains("/dev/vda: it is held by md127"), "{text}");
    assert!(
        text.contains("/dev/vdc: it is mounted at /mnt/data"),
        "{text}"
    );
    assert!(
        text.contains(&format!("/dev/{stick}: it is the boot medium")),
        "{text}"
    );
    assert_eq!(
        check(&["vdz".into()], &root("busy-md-swap-mount")),
        Err(ExclusiveError::Missing("vdz".into()))
    );
    // The SAS disks of another machine are free.
    assert_eq!(
        check(&["sda".into(), "sdb".into()], &root("pxe-sas-nomedium")),
        Ok(())
    );
}

#[test]
fn pxe_boot_has_no_medium_and_sas_disks() {
    let inv = inv("pxe-sas-nomedium");
    assert!(inv.disks.iter().all(|d| !d.boot_medium));
    assert_eq!(sorted_serials(&inv), ["SAS00001", "SAS00002"]);
    for (serial, wwn) in [
        ("SAS00001", "5000c500a1b2c301"),
        ("SAS00002", "5000c500a1b2c302"),
    ] {
        let d = by_serial(&inv, serial);
        assert_eq!(d.transport, Transport::Sas);
        assert_eq!(d.serial.as_deref(), Some(serial));
        assert!(d.wwn.as_deref().unwrap().contains(wwn), "{:?}", d.wwn);
        assert!(d.rotational, "rotation_rate=10000");
        assert_eq!(d.size_bytes, 6 * GIB);
        assert!(d.by_path[0].contains("-sas-"), "{:?}", d.by_path);
    }
    assert_eq!(nic(&inv, "ens3").hw_mac(), &mac("52:54:00:60:00:01"));
}

/// Each guest also ran `tandem detect --json` live (device probing, the permanent-MAC
/// ioctl). Reading the captured tree must give the same inventory, except what only the
/// device's bytes tell: the VG name of a PV.
#[test]
fn captured_trees_read_like_the_live_guests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysroot");
    let mut compared = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let Some(machine) = p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_suffix(".live-detect.json")
        else {
            continue;
        };
        let mut live = Inventory::from_json(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let mut vgs = Vec::new();
        for d in &mut live.disks {
            for s in d.signatures.iter_mut().chain(
                d.partitions
                    .iter_mut()
                    .flat_map(|p| p.signatures.iter_mut()),
            ) {
                if let Signature::LvmPv { vg } = s {
                    vgs.push(vg.take());
                }
            }
        }
        if machine == "nvme-lvm-uefi-2nic" {
            assert_eq!(vgs, vec![Some("oldvg".to_string())]);
        }
        // Most live captures predate partition labels: those are compared without them,
        // and the labels read from the trees' udev records checked on their own.
        let take_labels = |inv: &mut Inventory| {
            let mut labels = Vec::new();
            for d in &mut inv.disks {
                for p in &mut d.partitions {
                    if let Some(l) = p.label.take() {
                        labels.push(format!("{}={l}", p.name));
                    }
                }
            }
            labels
        };
        let mut read = inv(machine);
        let labels = take_labels(&mut read);
        let live_labels = take_labels(&mut live);
        assert!(
            live_labels.is_empty() || live_labels == labels,
            "{machine}: {live_labels:?} {labels:?}"
        );
        if machine == "oldmd-formats" {
            assert_eq!(labels, vec!["sda1=TANDEM".to_string()]);
        }
        if machine == "sb-sata-e1000e-uefi" {
            assert_eq!(live_labels, vec!["sdc1=TANDEM".to_string()]);
        }
        assert_eq!(read, live, "{machine}");
        compared += 1;
    }
    assert!(compared >= 6, "{compared}");
}

/// The guests also ran `detect` with udev's database hidden, so every signature came from
/// reading the device (md superblocks by mdadm, PVs by lvm, DRBD metadata by drbdmeta,
/// ext4/vfat/swap by mkfs, GPT by sgdisk). It must find what udev's blkid found, and the
/// VG name besides.
#[test]
fn probing_the_bytes_finds_what_blkid_found() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysroot");
    let mut kinds = std::collections::HashSet::new();
    let mut machines = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let Some(machine) = name.strip_suffix(".probe-detect.json") else {
            continue;
        };
        let probed = Inventory::from_json(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let udev = inv(machine);
        assert_eq!(names(&probed), names(&udev), "{machine}");
        for (pd, ud) in probed.disks.iter().zip(&udev.disks) {
            assert!(
                !pd.signatures_unknown,
                "{machine}/{}: device was readable",
                pd.name
            );
            assert!(pd.by_id.is_empty(), "{machine}: udev data was hidden");
            let mut on_disk: Vec<(String, Signature)> = Vec::new();
            for (dev, sig) in pd.all_signatures() {
                let sig = match sig {
                    Signature::LvmPv { vg } => {
                        assert!(vg.is_some(), "{machine}/{dev}: VG name read from metadata");
                        Signature::LvmPv { vg: None }
                    }
                    other => other.clone(),
                };
                kinds.insert(std::mem::discriminant(&sig));
                on_disk.push((dev, sig));
            }
            let from_udev: Vec<(String, Signature)> = ud
                .all_signatures()
                .into_iter()
                .map(|(dev, s)| (dev, s.clone()))
                .collect();
            assert_eq!(on_disk, from_udev, "{machine}/{}", pd.name);
        }
        machines += 1;
    }
    assert!(machines >= 6, "{machines}");
    // Partition tables, filesystems, md members, PVs and DRBD metadata were all compared.
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}

fn tandem(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_json_and_table() {
    let r = root("bond-4nic");
    let out = tandem(&["detect", "--json", "--sysroot", r.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = Inventory::from_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(parsed, inv("bond-4nic"));

    let out = tandem(&[
        "detect",
        "--sysroot",
        root("busy-md-swap-mount").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("in use: it is held by md127"), "{text}");
    assert!(text.contains("in use: it is the boot medium"), "{text}");
    assert!(
        text.contains("vdc2: ext4 filesystem labelled \"busydata\""),
        "{text}"
    );

    let out = tandem(&["detect", "--speed", "--sysroot", r.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = tandem(&["detect", "--sysroot", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(1));
}

fn answer(dir: &Path, name: &str, disks: &str, nics: &str) -> PathBuf {
    let text = format!(
        r#"[system]
hostname = "node1"
domain = "example.org"
root-ssh-keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZqB50G928tJUsr4fitqaZ8J+QCa7Qodrb+afWAd6gO admin@x"]

[storage]
disks = {disks}
level = "raid1"

[storage.volumes]
root = {{ size = "4G", fs = "ext4" }}
{nics}
"#
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn detect_match(machine: &str, answer: &Path) -> (Option<i32>, String, String) {
    detect_match_in(&root(machine), answer)
}

fn detect_match_in(sysroot: &Path, answer: &Path) -> (Option<i32>, String, String) {
    let out = tandem(&[
        "detect",
        "--sysroot",
        sysroot.to_str().unwrap(),
        "--match",
        answer.to_str().unwrap(),
    ]);
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn match_shows_selection_and_each_reason() {
    let dir = std::env::temp_dir().join(format!("tandem-detect-match-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bond =
        "\n[[network.bonds]]\nname = \"bond0\"\nmembers = { driver = \"e1000e\", count = 2 }\n\
                \n[[network.nics]]\nname = \"mgmt0\"\nmatch = { mac = [\"52:54:00:40:00:03\"] }\n";

    // Each filter kind, on the SATA machine (two 6 GiB HDDs, a 4 GiB SSD, the USB stick).
    // Written with the names of one boot (sda, sdb = the HDDs SATA0001/2, sdc = the SSD,
    // sdd = the stick); the kernel's names on the captured boot come from the serials.
    let sata = inv("sata-oldmd-2nic");
    let real = |n: &str| -> String {
        let serial = match n {
            "sda" => "SATA0001",
            "sdb" => "SATA0002",
            "sdc" => "SSD00003",
            _ => STICK,
        };
        by_serial(&sata, serial).name.clone()
    };
    for (disks, selected, left) in [
        (
            r#"{ transport = ["sata"] }"#,
            vec!["sda", "sdb", "sdc"],
            vec![("sdd", "boot medium")],
        ),
        (
            r#"{ rotational = true }"#,
            vec!["sda", "sdb"],
            vec![("sdc", "rotational is false")],
        ),
        (
            r#"{ min-size = "5G" }"#,
            vec!["sda", "sdb"],
            vec![("sdc", "smaller than min-size")],
        ),
        (
            r#"{ max-size = "5G" }"#,
            vec!["sdc"],
            vec![("sda", "larger than max-size")],
        ),
        (
            r#"{ model = "Samsung*" }"#,
            vec!["sdc"],
            vec![("sda", "does not match \"Samsung*\"")],
        ),
        (
            r#"{ ids = ["SATA0002", "/dev/disk/by-id/wwn-0x5002538e40a1b2c3"] }"#,
            vec!["sdb", "sdc"],
            vec![("sda", "not in storage.disks.ids")],
        ),
        (
            r#"{ transport = ["sata"], count = 3 }"#,
            vec!["sda", "sdb", "sdc"],
            vec![],
        ),
    ] {
        let a = answer(&dir, "filters", disks, "");
        let (code, out, err) = detect_match("sata-oldmd-2nic", &a);
        assert_eq!(code, Some(0), "{disks}: {out}{err}");
        let sel_part = out.split("Disks left out").next().unwrap();
        for s in selected.iter().map(|s| real(s)) {
            assert!(
                sel_part.contains(&format!("  {s} ")),
                "{disks}: {s} not selected:\n{out}"
            );
        }
        assert!(
            sel_part.contains(&format!("storage.disks ({})", selected.len())),
            "{disks}:\n{out}"
        );
        for (d, why) in left {
            let d = real(d);
            assert!(
                out.lines()
                    .any(|l| l.trim_start().starts_with(&d) && l.contains(why)),
                "{disks}: {d} left out for {why:?}:\n{out}"
            );
        }
    }

    // NICs: a bond by driver (both e1000e), a named NIC by MAC, the rest left out.
    let a = answer(&dir, "nics", "{ transport = [\"virtio\"] }", bond);
    let (code, out, err) = detect_match("bond-4nic", &a);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("bond bond0 members: ens3 (52:54:00:40:00:01), ens4 (52:54:00:40:00:02)"),
        "{out}"
    );
    assert!(out.contains("nic mgmt0: ens5 (52:54:00:40:00:03)"), "{out}");
    assert!(
        out.contains("ens6       matched by no network.nics"),
        "{out}"
    );
    assert!(out.contains("bond0      virtual"), "{out}");

    // Matches nothing.
    let a = answer(&dir, "nothing", "{ transport = [\"nvme\"] }", "");
    let (code, _, err) = detect_match("sata-oldmd-2nic", &a);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("nothing.toml:7:") && err.contains("storage.disks: matches no disk"),
        "{err}"
    );
    let stick = real("sdd");
    assert!(
        err.contains(&format!("{stick}: boot medium (never selectable)")),
        "{err}"
    );

    // Names the boot medium.
    let a = answer(
        &dir,
        "medium",
        "{ ids = [\"TANDEMUSB01\"], exclude-removable = false }",
        "",
    );
    let (code, _, err) = detect_match("sata-oldmd-2nic", &a);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "disk {stick} is the boot medium the installer runs from; it is never selectable"
        )),
        "{err}"
    );

    // Picks a busy disk: held by an active md array, mounted.
    let a = answer(&dir, "busy", "{ transport = [\"virtio\"] }", "");
    let (code, _, err) = detect_match("busy-md-swap-mount", &a);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("disk vda matches but cannot be used: it is held by md127"),
        "{err}"
    );
    assert!(
        err.contains("disk vdc matches but cannot be used: it is mounted at /mnt/data"),
        "{err}"
    );

    // A removable disk that is not the boot medium: the toram machine without its
    // tandem.medium= parameter.
    let r = scratch_copy("nvme4k-scsi-lvm-toram", "removable");
    std::fs::write(r.join("proc/cmdline"), "console=ttyS0\n").unwrap();
    let a = answer(&dir, "removable", "{ transport = [\"nvme\", \"usb\"] }", "");
    let (code, out, err) = detect_match_in(&r, &a);
    assert_eq!(code, Some(0), "{out}{err}");
    let stick = by_serial(&detect(&r).unwrap(), STICK).name.clone();
    assert!(
        out.contains(&format!("{stick:<10} removable (exclude-removable = true)")),
        "{out}"
    );
    let a = answer(
        &dir,
        "removable",
        "{ transport = [\"usb\"], exclude-removable = false }",
        "",
    );
    let (code, out, err) = detect_match_in(&r, &a);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("storage.disks (1):\n  {stick} ")),
        "{out}"
    );
    std::fs::remove_dir_all(r.parent().unwrap()).unwrap();

    // A NIC selector that matches nothing.
    let a = answer(
        &dir,
        "nonic",
        "{ transport = [\"virtio\"] }",
        "\n[[network.nics]]\nname = \"x0\"\nmatch = { driver = \"mlx5*\" }\n",
    );
    let (code, _, err) = detect_match("virtio-1nic", &a);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("network.nics[0].match: matches no NIC; NICs here: ens5 (52:54:00:10:00:01, virtio_net)"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn secure_boot_is_read_from_efivars() {
    let dir = std::env::temp_dir().join(format!("tandem-sb-{}", std::process::id()));
    let vars = dir.join("sys/firmware/efi/efivars");
    std::fs::create_dir_all(&vars).unwrap();
    std::fs::create_dir_all(dir.join("sys/block")).unwrap();
    let var = vars.join("SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c");
    std::fs::write(&var, [6, 0, 0, 0, 1]).unwrap();
    let m = detect(&dir).unwrap().machine;
    assert_eq!((m.firmware, m.secure_boot), (Firmware::Uefi, true));
    std::fs::write(&var, [6, 0, 0, 0, 0]).unwrap();
    assert!(!detect(&dir).unwrap().machine.secure_boot);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A copy of a captured tree to modify: `cp -a` keeps the symlinks.
fn scratch_copy(machine: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(root(machine))
        .arg(dir.join("root"))
        .status()
        .unwrap();
    assert!(st.success());
    dir.join("root")
}

#[test]
fn medium_named_on_the_kernel_command_line() {
    let r = scratch_copy("pxe-sas-nomedium", "medium-param");
    std::fs::write(
        r.join("proc/cmdline"),
        "console=ttyS0 quiet tandem.medium=SAS00002\n",
    )
    .unwrap();
    let inv = detect(&r).unwrap();
    assert!(by_serial(&inv, "SAS00002").boot_medium);
    assert!(!by_serial(&inv, "SAS00001").boot_medium);
    // A by-id path works as well.
    let id = format!("/dev/disk/by-id/{}", by_serial(&inv, "SAS00001").by_id[0]);
    std::fs::write(r.join("proc/cmdline"), format!("tandem.medium={id}\n")).unwrap();
    let inv = detect(&r).unwrap();
    assert!(by_serial(&inv, "SAS00001").boot_medium);
    assert!(!by_serial(&inv, "SAS00002").boot_medium);
    std::fs::remove_dir_all(r.parent().unwrap()).unwrap();
}

/// Without udev's database (a live system where udevd did not run), sysfs still gives
/// names, sizes, serials, models, transports, NIC paths and drivers; the contents are
/// then unknown, never "blank".
#[test]
fn without_the_udev_database_sysfs_still_answers() {
    let r = scratch_copy("sata-oldmd-2nic", "no-udev");
    std::fs::remove_dir_all(r.join("run/udev")).unwrap();
    let inv = detect(&r).unwrap();
    let with_udev = self::inv("sata-oldmd-2nic");
    assert_eq!(names(&inv), names(&with_udev));
    for (a, b) in inv.disks.iter().zip(&with_udev.disks) {
        assert_eq!(a.size_bytes, b.size_bytes);
        assert_eq!(a.transport, b.transport, "{}", a.name);
        assert_eq!(a.model, b.model, "{}", a.name);
        assert!(a.by_id.is_empty());
        assert!(a.signatures_unknown, "{}", a.name);
        assert!(!b.signatures_unknown, "{}", b.name);
    }
    // ATA disks have no sysfs serial; udev's ata_id is the source there.
    let stick = &by_serial(&with_udev, STICK).name;
    for d in &inv.disks {
        if d.transport == Transport::Sata {
            assert_eq!(d.serial, None, "{}", d.name);
        }
        assert_eq!(d.boot_medium, d.name == *stick, "from mountinfo, not udev");
    }
    for (a, b) in inv.nics.iter().zip(&with_udev.nics) {
        assert_eq!((&a.name, &a.mac, &a.driver), (&b.name, &b.mac, &b.driver));
        assert_eq!(a.path, b.path, "PCI path from the sysfs device path");
    }
    std::fs::remove_dir_all(r.parent().unwrap()).unwrap();
}

#[test]
fn toram_medium_by_parameter_4kn_nvme_and_an_active_lv() {
    let inv = inv("nvme4k-scsi-lvm-toram");
    assert_eq!(sorted_serials(&inv), ["NVME4K01", STICK, "VSCSI001"]);
    let nvme = disk(&inv, "nvme0n1");
    assert_eq!((nvme.logical_sector, nvme.physical_sector), (4096, 4096));
    assert_eq!(nvme.serial.as_deref(), Some("NVME4K01"));
    assert_eq!(nvme.transport, Transport::Nvme);
    // The report says what 4Kn means for booting, for that disk only.
    let text = tandem::hardware::report::inventory(&inv, &[]);
    let notes: Vec<&str> = text.lines().filter(|l| l.contains("4Kn")).collect();
    assert!(
        notes.len() == 1 && notes[0].contains("note: nvme0n1 has 4096-byte logical sectors"),
        "{text}"
    );
    assert!(!tandem::hardware::report::inventory(&self::inv("virtio-1nic"), &[]).contains("4Kn"));

    let scsi = by_serial(&inv, "VSCSI001");
    assert_eq!(scsi.transport, Transport::Scsi, "virtio-scsi");
    assert_eq!(scsi.serial.as_deref(), Some("VSCSI001"));
    assert_eq!(
        scsi.by_id,
        vec!["scsi-0QEMU_QEMU_HARDDISK_VSCSI001".to_string()]
    );
    assert_eq!(scsi.signatures, vec![Signature::LvmPv { vg: None }]);
    assert_eq!(scsi.holders, vec!["dm-0".to_string()]);
    assert!(tandem::hardware::select::disk_busy(scsi)
        .unwrap()
        .contains("held by dm-0"));

    // Not mounted (toram), named by tandem.medium=TANDEMUSB01 instead.
    let stick = by_serial(&inv, STICK);
    assert!(stick.boot_medium && stick.mounts.is_empty());
    assert_eq!(stick.transport, Transport::Usb);

    let n = nic(&inv, "ens4");
    assert_eq!(n.driver.as_deref(), Some("e1000"));
    assert_eq!(n.hw_mac(), &mac("52:54:00:70:00:01"));
    assert_eq!((n.speed_mbps, n.carrier), (Some(1000), true));
}

/// Captured under OVMF with Secure Boot enforced and Microsoft's keys enrolled: the
/// kernel said "Secure boot enabled" and locked itself down (kept beside the capture).
#[test]
fn secure_boot_sata_disks_and_an_e1000e_beside_virtio() {
    let inv = inv("sb-sata-e1000e-uefi");
    assert_eq!(
        (inv.machine.firmware, inv.machine.secure_boot),
        (Firmware::Uefi, true)
    );
    let lockdown =
        std::fs::read_to_string(root("sb-sata-e1000e-uefi").join("expected/lockdown")).unwrap();
    assert!(lockdown.contains("[integrity]"), "{lockdown}");
    assert_eq!(
        sorted_serials(&inv),
        ["TANDEMUSB01", "tandem-sb-disk0", "tandem-sb-disk1"]
    );
    for serial in ["tandem-sb-disk0", "tandem-sb-disk1"] {
        let d = by_serial(&inv, serial);
        assert_eq!(d.transport, Transport::Sata);
        assert_eq!((d.logical_sector, d.size_bytes), (512, 6 * GIB));
        assert_eq!(d.by_id, vec![format!("ata-QEMU_HARDDISK_{serial}")]);
        assert!(d.signatures.is_empty(), "blank");
    }
    let nics: Vec<(&str, Option<&str>, &MacAddr)> = inv
        .nics
        .iter()
        .map(|n| (n.name.as_str(), n.driver.as_deref(), n.hw_mac()))
        .collect();
    assert_eq!(
        nics,
        [
            ("enp0s2", Some("e1000e"), &mac("52:54:00:90:00:01")),
            ("enp0s3", Some("virtio_net"), &mac("52:54:00:90:00:02"))
        ],
        "q35 names them by slot"
    );
    let text = tandem::hardware::report::inventory(&inv, &[]);
    assert!(text.contains("UEFI (Secure Boot on)"), "{text}");

    // What the machine's Secure Boot means for an answer: a DKMS package is warned about
    // at its place in the file; the same answer on a machine without it is not.
    let dir = std::env::temp_dir().join(format!("tandem-sbcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = answer(&dir, "dkms", "{ transport = [\"sata\"] }", "");
    let text = std::fs::read_to_string(&a)
        .unwrap()
        .replace("[storage]", "packages = [\"zfs-dkms\"]\n\n[storage]");
    std::fs::write(&a, text).unwrap();
    let validate = |machine: &str| {
        let hw = root(machine).with_extension("live-detect.json");
        tandem(&[
            "validate",
            "--answer",
            a.to_str().unwrap(),
            "--hardware",
            hw.to_str().unwrap(),
        ])
    };
    let out = validate("sb-sata-e1000e-uefi");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("system.packages[0]") && err.contains("lockdown will refuse"),
        "{err}"
    );
    let out = validate("sata-oldmd-2nic");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("lockdown"),
        "no Secure Boot there"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// md superblocks 0.90 and 1.0 (end of device) and 1.1 (start), on whole disks, stopped.
/// The expected array UUIDs and names are what `mdadm --detail --scan` printed in the
/// guest, kept beside the capture.
#[test]
fn every_md_superblock_format_reads_as_mdadm_shows_it() {
    let inv = inv("oldmd-formats");
    let scan =
        std::fs::read_to_string(root("oldmd-formats").join("expected/mdadm-detail-scan")).unwrap();
    let arrays: Vec<(String, Option<String>, String)> = scan
        .lines()
        .map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .map(str::to_string)
            };
            (
                field("metadata=").unwrap(),
                field("name="),
                field("UUID=").unwrap(),
            )
        })
        .collect();
    let versions: Vec<&str> = arrays.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(versions, ["0.90", "1.0", "1.1"]);
    for ((_, name, uuid), members) in
        arrays
            .iter()
            .zip([&["vda", "vdb"][..], &["vdc", "vdd"][..], &["vde"][..]])
    {
        for m in members {
            let d = disk(&inv, m);
            assert_eq!(
                d.signatures,
                vec![Signature::MdMember {
                    array_uuid: Some(uuid.clone()),
                    array_name: name.clone(),
                }],
                "{m}"
            );
            assert!(d.partitions.is_empty() && d.holders.is_empty(), "{m}");
            assert_eq!(tandem::hardware::select::disk_busy(d), None, "{m}: stopped");
        }
    }
    assert_usb_medium(by_serial(&inv, STICK));
}
