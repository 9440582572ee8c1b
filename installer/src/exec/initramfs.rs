//! The node's initramfs without rebuilding it in the installer.
//!
//! The base image carries an initramfs built natively at image-build time (MODULES=most:
//! every storage driver, md, dm, lvm, mdadm, fsck for ext4 and xfs, Intel microcode).
//! What differs per node is a handful of configuration files that initramfs-tools hooks
//! copy in: mdadm.conf (the arrays by UUID), lvmlocal.conf and the NIC naming .link files.
//! Instead of `update-initramfs` in the chroot (fork-heavy: minutes on slow or emulated
//! machines) the installer appends one small uncompressed cpio archive with the node's
//! versions of those files to each `/boot/initrd.img-*`. The kernel unpacks concatenated
//! archives in order and a later file replaces an earlier one (the initramfs buffer
//! format is `("\0" | cpio | compressed cpio)*`; Debian's own images are already an
//! uncompressed cpio followed by a compressed one). Later `update-initramfs` runs on the
//! installed system rebuild the whole image from the same files in /etc.
//!
//! While packages are installed `update-initramfs` is diverted to a stub that records who
//! asked (a package postinst, the initramfs-tools trigger, a kernel hook). If anything
//! asked, the installed packages changed what goes into an initramfs, and the installer
//! runs the real `update-initramfs -u -k all` instead.

use super::runner::Cmd;
use super::system::System;
use crate::render::RenderedFile;
use anyhow::{Context, Result};
use std::path::Path;

/// Where the stub records requests, target-relative.
pub const REQUESTS: &str = "/var/lib/tandem/initramfs-requests";

/// The diverted update-initramfs while packages are configured.
pub fn stub_script() -> String {
    format!(
        "#!/bin/sh\n\
         # Tandem: the initramfs is built at the end of the install. A request means the\n\
         # installed packages changed its contents: the installer then rebuilds it fully.\n\
         mkdir -p {dir}\n\
         echo \"${{DPKG_MAINTSCRIPT_PACKAGE:-?}}: update-initramfs $*\" >> {REQUESTS}\n\
         exit 0\n",
        dir = Path::new(REQUESTS).parent().unwrap().display()
    )
}

/// Target files an initramfs-tools hook copies into the image, with their place in it:
/// mdadm's hook copies mdadm.conf, lvm2's lvm.conf and lvmlocal.conf, udev's the .link
/// files of /etc/systemd/network (into usr/lib/systemd/network), initramfs-tools itself
/// /etc/modprobe.d. Everything else the installer renders (fstab, interfaces, hostname…)
/// is read by no hook.
pub fn archive_path(target_path: &str) -> Option<String> {
    let p = target_path.trim_start_matches('/');
    if p == "etc/mdadm/mdadm.conf" || p == "etc/lvm/lvm.conf" || p == "etc/lvm/lvmlocal.conf" {
        return Some(p.to_string());
    }
    if let Some(name) = p.strip_prefix("etc/systemd/network/") {
        if name.ends_with(".link") && !name.contains('/') {
            return Some(format!("usr/lib/systemd/network/{name}"));
        }
    }
    if let Some(name) = p.strip_prefix("etc/modprobe.d/") {
        if name.ends_with(".conf") && !name.contains('/') {
            return Some(p.to_string());
        }
    }
    None
}

/// True when a rendered file changes how the initramfs is built (its configuration or
/// hooks): then only a full rebuild is right.
pub fn needs_rebuild(target_path: &str) -> bool {
    target_path.starts_with("/etc/initramfs-tools/")
}

/// The (target path, archive path) pairs of the rendered files that go into the initramfs.
pub fn node_files(files: &[RenderedFile]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = files
        .iter()
        .filter_map(|f| archive_path(&f.path).map(|a| (f.path.clone(), a)))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A newc ("070701") cpio archive of regular files (mode 0644 unless given), with an
/// entry for every parent directory first, owned by root, times zero.
fn newc_archive(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let mut dirs: Vec<String> = Vec::new();
    for (path, _, _) in files {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if !dirs.contains(&acc) {
                dirs.push(acc.clone());
            }
        }
    }
    let mut out = Vec::new();
    let mut ino = 1u32;
    for d in &dirs {
        entry(&mut out, ino, 0o040755, 2, d, &[]);
        ino += 1;
    }
    for (path, data, mode) in files {
        entry(&mut out, ino, 0o100000 | (mode & 0o7777), 1, path, data);
        ino += 1;
    }
    entry(&mut out, 0, 0, 1, "TRAILER!!!", &[]);
    out
}

fn entry(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, name: &str, data: &[u8]) {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Appends `archive` to the image at `initrd`, after zero padding to a 4-byte boundary
/// (newc headers are 4-byte aligned; the kernel skips zeros between archives).
pub fn append(sys: &mut dyn System, initrd: &Path, archive: &[u8]) -> Result<()> {
    let len = std::fs::metadata(initrd)
        .with_context(|| format!("reading {}", initrd.display()))?
        .len();
    let pad = ((4 - len % 4) % 4) as usize;
    let mut data = vec![0u8; pad];
    data.extend_from_slice(archive);
    sys.append(initrd, &data)
        .with_context(|| format!("appending to {}", initrd.display()))
}

/// The initramfs phase's work: `full` (the real `update-initramfs -u -k all` in the
/// target) when a package asked for one or `always_full`; otherwise the node's files
/// (target path, archive path) appended to every image in the target's /boot.
pub fn build(
    runner: &mut dyn System,
    target: &Path,
    files: &[(String, String)],
    full: &Cmd,
    always_full: bool,
) -> Result<()> {
    let requests_file = target.join(REQUESTS.trim_start_matches('/'));
    let requests = std::fs::read_to_string(&requests_file).unwrap_or_default();
    if always_full || !requests.trim().is_empty() {
        runner.note(&format!(
            "initramfs: full rebuild ({})",
            if always_full {
                "the installer's files configure initramfs-tools".to_string()
            } else {
                format!("asked for by {}", requests.trim().replace('\n', "; "))
            }
        ));
        runner.run(full)?;
    } else {
        let mut entries = Vec::new();
        for (t, a) in files {
            let p = target.join(t.trim_start_matches('/'));
            let data = runner
                .read(&p)
                .with_context(|| format!("reading {}", p.display()))?;
            entries.push((a.clone(), data, 0o644));
        }
        let archive = newc_archive(&entries);
        let imgs = images(target)?;
        if imgs.is_empty() {
            anyhow::bail!("no initrd.img-* in the target's /boot");
        }
        for img in imgs {
            append(runner, &img, &archive)?;
            runner.note(&format!(
                "appended {} bytes ({}) to {}",
                archive.len(),
                files
                    .iter()
                    .map(|(_, a)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                img.display()
            ));
        }
    }
    if requests_file.exists() {
        runner
            .remove_file(&requests_file)
            .with_context(|| format!("removing {}", requests_file.display()))?;
    }
    Ok(())
}

/// The initramfs images in `target/boot`, sorted.
pub fn images(target: &Path) -> Result<Vec<std::path::PathBuf>> {
    let boot = target.join("boot");
    let mut v: Vec<_> = std::fs::read_dir(&boot)
        .with_context(|| format!("reading {}", boot.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("initrd.img-"))
        })
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_inputs_map_to_their_place_in_the_image() {
        assert_eq!(
            archive_path("/etc/mdadm/mdadm.conf").as_deref(),
            Some("etc/mdadm/mdadm.conf")
        );
        assert_eq!(
            archive_path("/etc/lvm/lvmlocal.conf").as_deref(),
            Some("etc/lvm/lvmlocal.conf")
        );
        assert_eq!(
            archive_path("/etc/systemd/network/10-tandem-lan0.link").as_deref(),
            Some("usr/lib/systemd/network/10-tandem-lan0.link")
        );
        assert_eq!(archive_path("/etc/fstab"), None);
        assert_eq!(archive_path("/etc/network/interfaces"), None);
        assert!(needs_rebuild("/etc/initramfs-tools/modules"));
        assert!(!needs_rebuild("/etc/mdadm/mdadm.conf"));
    }

    #[test]
    fn newc_archive_is_cpio_readable() {
        let a = newc_archive(&[
            (
                "etc/mdadm/mdadm.conf".into(),
                b"ARRAY /dev/md/root UUID=1\n".to_vec(),
                0o644,
            ),
            (
                "usr/lib/systemd/network/10-x.link".into(),
                b"[Match]\n".to_vec(),
                0o644,
            ),
        ]);
        assert!(a.len().is_multiple_of(4));
        let dir = std::env::temp_dir().join(format!("tandem-newc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = std::process::Command::new("cpio")
            .args(["-idm", "--quiet", "--no-absolute-filenames"])
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("cpio is installed (make deps)");
        use std::io::Write;
        c.stdin.take().unwrap().write_all(&a).unwrap();
        assert!(c.wait().unwrap().success());
        assert_eq!(
            std::fs::read_to_string(dir.join("etc/mdadm/mdadm.conf")).unwrap(),
            "ARRAY /dev/md/root UUID=1\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("usr/lib/systemd/network/10-x.link")).unwrap(),
            "[Match]\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn appended_archive_follows_the_image_on_a_4_byte_boundary() {
        let dir = std::env::temp_dir().join(format!("tandem-append-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("boot")).unwrap();
        let img = dir.join("boot/initrd.img-6.12");
        std::fs::write(&img, b"abcde").unwrap();
        std::fs::write(dir.join("boot/vmlinuz-6.12"), b"k").unwrap();
        assert_eq!(images(&dir).unwrap(), vec![img.clone()]);
        let a = newc_archive(&[("etc/x".into(), b"y".to_vec(), 0o600)]);
        append(&mut crate::exec::runner::Runner::unlogged(), &img, &a).unwrap();
        let got = std::fs::read(&img).unwrap();
        assert_eq!(&got[..8], b"abcde\0\0\0");
        assert_eq!(&got[8..], &a[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stub_records_who_asked() {
        let s = stub_script();
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains(&format!(">> {REQUESTS}")));
        assert!(s.trim_end().ends_with("exit 0"));
    }
}
