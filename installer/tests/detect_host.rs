//! `tandem detect` on the machine running the tests, as a new user would run it: the disk
//! holding `/` must be listed as in use. And the speed check on a real block device (a
//! loop device over a file), reading only.

use std::path::Path;
use std::process::Command;
use tandem::hardware::speed::{measure, Budget};
use tandem::hardware::Inventory;

/// The whole disk under the root filesystem, found independently of `detect`: mountinfo's
/// major:minor for "/" → /sys/dev/block → the disk (a partition's parent directory).
fn root_disk() -> Option<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let devnum = mi.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.get(4) == Some(&"/")).then(|| f[2].to_string())
    })?;
    let real = std::fs::canonicalize(format!("/sys/dev/block/{devnum}")).ok()?;
    let real = if real.join("partition").exists() {
        real.parent()?.to_path_buf()
    } else {
        real
    };
    // Only a disk with a device behind it is a disk to detect (not dm, md, loop, overlay).
    real.join("device")
        .exists()
        .then(|| real.file_name().unwrap().to_string_lossy().into_owned())
}

#[test]
fn host_root_disk_is_in_use() {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["detect", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv = Inventory::from_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
    match root_disk() {
        Some(name) => {
            let d = inv
                .disk(&name)
                .unwrap_or_else(|| panic!("root disk {name} not listed: {inv:#?}"));
            assert!(d.mounts.iter().any(|m| m == "/"), "{d:#?}");
            let why = tandem::hardware::select::disk_busy(d).expect("root disk must be busy");
            assert!(why.starts_with("it is mounted at /"), "{why}");
            assert!(!d.boot_medium, "no live medium on a host");
            // What an install on it would meet just before writing.
            let err =
                tandem::hardware::exclusive::check(std::slice::from_ref(&name), Path::new("/"))
                    .unwrap_err()
                    .to_string();
            assert!(
                err.contains(&format!("/dev/{name}: it is mounted at /")),
                "{err}"
            );
        }
        // Root on overlay/dm/nfs: no disk may claim "/" directly.
        None => assert!(
            inv.disks.iter().all(|d| !d.mounts.iter().any(|m| m == "/")),
            "{inv:#?}"
        ),
    }
    // The table form works too and says why.
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("detect")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Machine: "), "{text}");
    if let Some(name) = root_disk() {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&name)
                    && l.contains("in use: it is mounted at /")),
            "{text}"
        );
    }
}

/// Needs root and loop devices, as every install and image test here does.
#[test]
fn speed_reads_a_loop_device() {
    let dir = std::env::temp_dir().join(format!("tandem-speed-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("disk.img");
    // Written, not sparse, so the read measures real bytes; a pattern to check against.
    let data: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&img, &data).unwrap();
    let out = Command::new("losetup")
        .args(["--find", "--show", "--read-only"])
        .arg(&img)
        .output()
        .expect("losetup");
    assert!(
        out.status.success(),
        "losetup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let r = measure(
        Path::new(&dev),
        Budget {
            bytes: 16 << 20,
            time: std::time::Duration::from_secs(10),
        },
    );
    let whole = measure(Path::new(&dev), Budget::default());
    let no_time = measure(
        Path::new(&dev),
        Budget {
            bytes: 1 << 30,
            time: std::time::Duration::ZERO,
        },
    );
    Command::new("losetup").args(["-d", &dev]).status().unwrap();
    let after = std::fs::read(&img).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let r = r.unwrap();
    assert_eq!(r.bytes, 16 << 20, "stops at the byte budget");
    assert!(r.mbps() > 1.0, "{r:?}");
    assert_eq!(
        whole.unwrap().bytes,
        32 << 20,
        "stops at the end of the device"
    );
    assert_eq!(no_time.unwrap().bytes, 0, "stops when the time is up");
    assert!(after == data, "the device was only read");
}
