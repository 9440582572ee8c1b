//! The in-process GPT writer against the sgdisk command line it replaced: on image files
//! of the same size both must give the same table (sectors, type codes, names, attribute
//! bits, protective MBR) and sgdisk's verifier must find no problem in ours. With 4096-byte
//! logical sectors (loop devices, root needed) the same, plus the kernel's re-read.
//! Without sgdisk or loop support the comparison is skipped with the reason printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use tandem::exec::gpt::{self, Reread, Table};
use tandem::plan::{PartRole, PlannedDisk, PlannedPartition};

const MIB: u64 = 1 << 20;

/// The plan's layout on a disk of `size` bytes: 1 MiB in, [BIOS boot] [ESP] /boot, then
/// the data member up to 1 MiB before the end, all on MiB boundaries.
fn disk(size: u64, bios: bool) -> PlannedDisk {
    let mut roles = Vec::new();
    if bios {
        roles.push((PartRole::BiosBoot, MIB, "bios"));
    }
    roles.push((PartRole::Esp, 512 * MIB, "esp"));
    roles.push((PartRole::Boot, 1024 * MIB, "boot"));
    let mut start = MIB;
    let mut partitions = Vec::new();
    for (i, (role, bytes, name)) in roles.into_iter().enumerate() {
        partitions.push(part(i as u32 + 1, role, name, start, bytes));
        start += bytes;
    }
    let data = (size - MIB - 34 * 4096) / MIB * MIB - start;
    let n = partitions.len() as u32 + 1;
    partitions.push(part(n, PartRole::Data, "data", start, data));
    PlannedDisk {
        name: "img".into(),
        dev: "".into(),
        stable_path: String::new(),
        model: None,
        size_bytes: size,
        logical_sector: 512,
        unused_bytes: 0,
        partitions,
    }
}

fn part(number: u32, role: PartRole, name: &str, start: u64, size: u64) -> PlannedPartition {
    PlannedPartition {
        number,
        dev: format!("/dev/img{number}").into(),
        role,
        type_code: role.type_code().into(),
        label: format!("tandem-{name}-0"),
        start_bytes: start,
        size_bytes: size,
    }
}

/// The command line the partition phase ran before the table was written in-process.
fn old_sgdisk(d: &PlannedDisk, sector: u64, dev: &str) -> Vec<String> {
    let mut a = vec!["--clear".to_string()];
    for p in &d.partitions {
        let n = p.number;
        let first = p.start_bytes / sector;
        let last = (p.start_bytes + p.size_bytes) / sector - 1;
        a.push(format!("--new={n}:{first}:{last}"));
        a.push(format!("--typecode={n}:{}", p.type_code));
        a.push(format!(
            "--change-name={n}:{}",
            tandem::hardware::unfinished_label(&p.label)
        ));
    }
    a.push(dev.to_string());
    a
}

fn sgdisk(args: &[String]) -> String {
    let o = Command::new("sgdisk").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "sgdisk {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn have_sgdisk() -> bool {
    Command::new("sgdisk").arg("--version").output().is_ok()
}

/// What must be equal: the printed table and each partition's details, without the
/// random GUIDs and without the device's name.
fn layout(dev: &str, d: &PlannedDisk) -> String {
    let keep = |l: &&str| {
        !l.starts_with("Disk identifier (GUID)")
            && !l.starts_with("Partition unique GUID")
            && !l.starts_with("Disk ")
    };
    let mut out: Vec<String> = sgdisk(&["--print".into(), dev.into()])
        .lines()
        .filter(keep)
        .map(str::to_string)
        .collect();
    for p in &d.partitions {
        out.extend(
            sgdisk(&[format!("--info={}", p.number), dev.into()])
                .lines()
                .filter(keep)
                .map(str::to_string),
        );
    }
    out.join("\n")
}

/// The protective MBR's partition records and boot signature, but for the protective
/// record's ending CHS: the crate always writes 0xFFFFFF there, sgdisk the real CHS of a
/// disk small enough to have one (under 8 GiB in 512-byte sectors, 64 GiB in 4096-byte
/// ones). Firmware and kernels read the LBA fields; nothing reads that CHS.
fn mbr_of_device(dev: &str) -> Vec<u8> {
    let mut f = std::fs::File::open(dev).unwrap();
    let mut b = vec![0u8; 512];
    std::io::Read::read_exact(&mut f, &mut b).unwrap();
    b[446 + 5..446 + 8].fill(0);
    b[446..512].to_vec()
}

fn image(dir: &Path, name: &str, size: u64) -> PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(size).unwrap();
    p
}

fn tmp(tag: &str) -> PathBuf {
    let t = std::env::temp_dir().join(format!("tandem-gpt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&t);
    std::fs::create_dir_all(&t).unwrap();
    t
}

#[test]
fn the_table_equals_what_sgdisk_wrote_on_512_byte_images() {
    let t = tmp("512");
    // 8 GiB with BIOS boot; an odd size (not a MiB multiple) without it.
    for (size, bios) in [(8 << 30, true), ((20 << 30) + 7 * 512, false)] {
        let d = disk(size, bios);
        let ours = image(&t, "ours.img", size);
        let mut table = Table::planned(&d, 512);
        table.dev = ours.display().to_string();
        assert!(matches!(
            gpt::write(&table).unwrap(),
            Reread::NotABlockDevice
        ));
        if !have_sgdisk() {
            println!("skipped the comparison with sgdisk: sgdisk is not installed");
            continue;
        }
        let v = sgdisk(&["--verify".into(), table.dev.clone()]);
        assert!(v.contains("No problems found"), "{v}");
        let theirs = image(&t, "theirs.img", size);
        let theirs = theirs.display().to_string();
        sgdisk(&old_sgdisk(&d, 512, &theirs));
        assert_eq!(layout(&table.dev, &d), layout(&theirs, &d), "{size} bytes");
        assert_eq!(
            mbr_of_device(&table.dev),
            mbr_of_device(&theirs),
            "{size} bytes"
        );
    }
    std::fs::remove_dir_all(&t).unwrap();
}

fn sh(cmd: &str) -> Option<String> {
    let o = Command::new("sh").args(["-c", cmd]).output().ok()?;
    if !o.status.success() {
        println!("{cmd}: {}", String::from_utf8_lossy(&o.stderr).trim());
        return None;
    }
    Some(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// 4096-byte logical sectors exist only on a block device, so the images go on loop
/// devices with that sector size; the kernel's partition scan then shows ours.
#[test]
fn the_table_equals_what_sgdisk_wrote_with_4096_byte_sectors_and_the_kernel_reads_it() {
    if !have_sgdisk() {
        println!("skipped: sgdisk is not installed");
        return;
    }
    let t = tmp("4k");
    let size: u64 = 8 << 30;
    let d = disk(size, true);
    let mut loops = Vec::new();
    for name in ["ours.img", "theirs.img"] {
        let img = image(&t, name, size);
        match sh(&format!(
            "losetup --find --show --partscan --sector-size 4096 {}",
            img.display()
        )) {
            Some(dev) => loops.push(dev),
            None => {
                println!(
                    "skipped: no loop device with 4096-byte sectors (root and loop support needed)"
                );
                for l in &loops {
                    sh(&format!("losetup -d {l}"));
                }
                std::fs::remove_dir_all(&t).unwrap();
                return;
            }
        }
    }
    let mut table = Table::planned(&d, 4096);
    table.dev = loops[0].clone();
    let reread = gpt::write(&table);
    sgdisk(&old_sgdisk(&d, 4096, &loops[1]));
    let ours = layout(&loops[0], &d);
    let theirs = layout(&loops[1], &d);
    let verify = sgdisk(&["--verify".into(), loops[0].clone()]);
    let (m0, m1) = (mbr_of_device(&loops[0]), mbr_of_device(&loops[1]));
    let kernel = |dev: &str| -> Vec<Option<String>> {
        // Each partition's start and size in 512-byte units, as the kernel has them.
        let base = dev.trim_start_matches("/dev/");
        d.partitions
            .iter()
            .map(|p| {
                let s = format!("/sys/block/{base}/{base}p{}", p.number);
                Some(format!(
                    "{} {}",
                    std::fs::read_to_string(format!("{s}/start")).ok()?.trim(),
                    std::fs::read_to_string(format!("{s}/size")).ok()?.trim()
                ))
            })
            .collect()
    };
    let (k_ours, k_theirs) = (kernel(&loops[0]), kernel(&loops[1]));
    for l in &loops {
        sh(&format!("losetup -d {l}"));
    }
    std::fs::remove_dir_all(&t).unwrap();
    assert!(
        matches!(reread.unwrap(), Reread::Done),
        "BLKRRPART on the loop device"
    );
    assert!(verify.contains("No problems found"), "{verify}");
    assert_eq!(ours, theirs);
    assert_eq!(m0, m1);
    assert_eq!(k_ours, k_theirs, "the kernel's partitions");
    if k_theirs.iter().all(Option::is_some) {
        for (p, k) in d.partitions.iter().zip(k_ours) {
            assert_eq!(
                k,
                Some(format!("{} {}", p.start_bytes / 512, p.size_bytes / 512)),
                "partition {}",
                p.number
            );
        }
    } else {
        println!("this kernel shows no partitions of sgdisk's table either (no GPT support?): the re-read is checked only to succeed");
    }
}
