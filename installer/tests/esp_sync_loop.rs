//! `tandem esp-sync` on real filesystems on loop devices (root and loop support needed; CI
//! runs as root). The build host's kernel has no vfat driver, so the images here are ext4:
//! this proves the mount / mirror / unmount / missing-disk machinery; the install tests
//! prove it on real vfat ESPs inside a QEMU guest.

use std::path::Path;
use std::process::Command;

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn esp_sync_mirrors_onto_other_esps_on_loop_devices() {
    let t = std::env::temp_dir().join(format!("tandem-esp-loop-{}", std::process::id()));
    std::fs::create_dir_all(t.join("by-uuid")).unwrap();
    std::fs::create_dir_all(t.join("src")).unwrap();
    let mut loops = Vec::new();
    let mut uuids = Vec::new();
    for i in 0..3 {
        let img = t.join(format!("esp{i}.img"));
        sh(&format!(
            "truncate -s 40M {0} && mkfs.ext4 -q -U 00000000-0000-4000-8000-00000000abc{i} {0}",
            img.display()
        ));
        let dev = sh(&format!("losetup --find --show {}", img.display()));
        let uuid = format!("00000000-0000-4000-8000-00000000abc{i}");
        std::os::unix::fs::symlink(&dev, t.join("by-uuid").join(&uuid)).unwrap();
        loops.push(dev);
        uuids.push(uuid);
    }
    let src = t.join("src");
    sh(&format!("mount {} {}", loops[0], src.display()));
    std::fs::create_dir_all(src.join("EFI/debian")).unwrap();
    std::fs::write(src.join("EFI/debian/grubx64.efi"), vec![7u8; 300_000]).unwrap();
    std::fs::write(src.join("EFI/debian/grub.cfg"), "search.fs_uuid X root\n").unwrap();
    // The third ESP lists a disk that is gone: the sync must go on with the others.
    let list = t.join("esps");
    std::fs::write(
        &list,
        format!("{}\n{}\n{}\nDEAD-BEEF\n", uuids[0], uuids[1], uuids[2]),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["esp-sync", "--source"])
        .arg(&src)
        .arg("--list")
        .arg(&list)
        .arg("--by-uuid")
        .arg(t.join("by-uuid"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("ESP DEAD-BEEF not found"), "{stderr}");
    assert_eq!(stdout.matches("2 copied").count(), 2, "{stdout}");
    // ext4 has lost+found, which the mirror removes from the copies like any stray entry.
    let check = t.join("check");
    std::fs::create_dir_all(&check).unwrap();
    for dev in &loops[1..] {
        sh(&format!("mount -o ro {dev} {}", check.display()));
        let same = std::fs::read(check.join("EFI/debian/grubx64.efi")).ok()
            == std::fs::read(src.join("EFI/debian/grubx64.efi")).ok();
        sh(&format!("umount {}", check.display()));
        assert!(same, "{dev} differs after esp-sync");
    }
    sh(&format!("umount {}", src.display()));
    for dev in &loops {
        sh(&format!("losetup -d {dev}"));
    }
    std::fs::remove_dir_all(Path::new(&t)).unwrap();
}
