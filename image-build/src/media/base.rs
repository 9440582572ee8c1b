//! The base system image: what every installed node gets. Built and configured here once;
//! the installer lays it down with unsquashfs and renders the machine's own files (fstab,
//! mdadm.conf, hostname, network) at install time, so none of those are in it.

use crate::media::rootfs::{self, Bootstrap};
use crate::pipeline::Ctx;
use anyhow::{bail, Context, Result};
use std::path::Path;
use tandem::exec::runner::Cmd;

pub(crate) fn bootstrap(ctx: &mut Ctx) -> Result<()> {
    let root = ctx.base_root();
    fresh_dir(&root)?;
    let sets = ctx.sets.clone();
    let b = Bootstrap {
        source: &ctx.source,
        packages: &sets.base,
        target: &root,
        deb_cache: ctx.deb_cache.as_deref(),
        customize: initramfs_hooks(),
        source_date_epoch: ctx.epoch,
    };
    ctx.run(&b.command())
        .context("bootstrapping the base system")?;
    Ok(())
}

/// initramfs-tools configuration of every node, in the base image so that the initramfs
/// built here natively is the node's: the installer only appends its node files
/// (mdadm.conf with the arrays' UUIDs, see tandem's exec/initramfs.rs) instead of running
/// update-initramfs in the installer. FSTYPE: fsck for the root file system types a node
/// can have; with the default `auto` the fsck hook reads them from /etc/fstab, which is
/// rendered per node and is only the packages' placeholder here.
const INITRAMFS_CONF: &str = "/etc/initramfs-tools/conf.d/tandem";
const INITRAMFS_CONF_TEXT: &str =
    "# Tandem: fsck for every root file system type a node can have.\nFSTYPE=ext4,xfs\n";

/// mmdebstrap customize hooks (the chroot's /proc, /sys, /dev are mounted): the
/// configuration above, then the initramfs rebuilt with it.
fn initramfs_hooks() -> Vec<String> {
    vec![
        format!(
            "mkdir -p \"$1\"{dir} && printf '{text}' > \"$1\"{INITRAMFS_CONF}",
            dir = Path::new(INITRAMFS_CONF).parent().unwrap().display(),
            text = INITRAMFS_CONF_TEXT.replace('\n', "\\n"),
        ),
        r#"chroot "$1" update-initramfs -u -k all"#.to_string(),
    ]
}

/// Overlay, identity scrub, initramfs check, squashfs.
pub(crate) fn image(ctx: &mut Ctx) -> Result<u64> {
    let root = ctx.base_root();
    if !root.join("usr/bin/dpkg").exists() {
        bail!(
            "{} is not a bootstrapped root: run the rootfs stage first",
            root.display()
        );
    }
    let overlay = ctx.overlays.join("target");
    ctx.run(&rootfs::overlay_command(&overlay, &root))?;
    for unit in TARGET_UNITS {
        ctx.run(&Cmd::new("systemctl").args(["enable", unit]).in_root(&root))?;
    }
    scrub_identity(&root)?;
    check_initramfs(ctx, &root)?;
    let out = ctx.stage_dir().join("base.squashfs");
    let cmd = rootfs::squashfs_command(&root, &out, ctx.epoch, &[]);
    ctx.run(&cmd).context("squashing the base system")?;
    // Its dpkg status beside it: an installer reading the medium over HTTP (PXE) cannot
    // look inside the squashfs before it has downloaded it onto the disks.
    std::fs::copy(
        root.join("var/lib/dpkg/status"),
        ctx.stage_dir().join("base.status"),
    )
    .context("copying the base system's dpkg status")?;
    Ok(std::fs::metadata(&out)?.len())
}

/// Units from overlays/target that must be enabled on every node.
const TARGET_UNITS: &[&str] = &["tandem-ssh-hostkeys.service"];

/// Removes what makes one installed system distinguishable from another, so each node
/// generates its own at first boot: machine-id (left "uninitialized" so systemd treats the
/// first boot as such), SSH host keys, apt lists and caches; and what mmdebstrap copied
/// from the build host or the build's package source (hostname, resolv.conf, apt
/// sources), which the installer renders per machine. Package conffiles (fstab,
/// mdadm.conf, interfaces) stay as the packages' generic versions: deleting a conffile
/// would make dpkg keep it deleted on upgrades.
pub(crate) fn scrub_identity(root: &Path) -> Result<()> {
    std::fs::write(root.join("etc/machine-id"), "uninitialized\n")
        .context("resetting /etc/machine-id")?;
    for f in [
        "var/lib/dbus/machine-id",
        "etc/hostname",
        "etc/resolv.conf",
        "etc/apt/sources.list",
    ] {
        remove_if_exists(&root.join(f))?;
    }
    for dir in ["etc/ssh", "var/lib/apt/lists", "var/cache/apt"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let doomed = match dir {
                "etc/ssh" => name.starts_with("ssh_host_"),
                "var/lib/apt/lists" => name != "partial" && name != "lock",
                _ => name.ends_with(".bin"),
            };
            if doomed {
                remove_if_exists(&e.path())?;
            }
        }
    }
    Ok(())
}

fn remove_if_exists(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", p.display()))
        }
        _ => Ok(()),
    }
}

/// The node boots from md (+ LVM): its initramfs must assemble arrays and activate volume
/// groups before the root is mounted.
fn check_initramfs(ctx: &mut Ctx, root: &Path) -> Result<()> {
    let (_, initrd) = rootfs::kernel_files(root)?;
    let inner = Path::new("/boot").join(initrd.file_name().unwrap());
    let out = ctx.run(
        &Cmd::new("lsinitramfs")
            .arg(inner.display().to_string())
            .in_root(root),
    )?;
    let missing = missing_in_initramfs(&out.stdout);
    if !missing.is_empty() {
        bail!(
            "the base initramfs lacks {} (is mdadm/lvm2 in the base set?)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// What an md+LVM root needs in the initramfs, judged from an `lsinitramfs` listing.
fn missing_in_initramfs(listing: &str) -> Vec<&'static str> {
    type Present = fn(&str) -> bool;
    // The installer only appends node files to this image (no rebuild), so it must
    // already hold everything a node's first boot needs, fsck included.
    let needs: [(&str, Present); 8] = [
        ("mdadm", |l| l.ends_with("sbin/mdadm")),
        ("lvm", |l| l.ends_with("sbin/lvm")),
        ("raid1 module", |l| l.contains("/md/raid1.ko")),
        ("raid456 module", |l| l.contains("/md/raid456.ko")),
        ("dm-mod module", |l| l.contains("/md/dm-mod.ko")),
        ("e2fsck", |l| l.ends_with("sbin/e2fsck")),
        ("fsck.xfs", |l| l.ends_with("sbin/fsck.xfs")),
        ("Intel microcode", |l| {
            l.ends_with("kernel/x86/microcode/GenuineIntel.bin")
        }),
    ];
    needs
        .iter()
        .filter(|(_, f)| !listing.lines().any(|l| f(l.trim())))
        .map(|(n, _)| *n)
        .collect()
}

/// Removes `dir` (if there) so a stage starts clean. An interrupted mmdebstrap can leave
/// mounts inside its root (the `file-mirror-automount` hook bind-mounts the repository
/// there): removing through such a mount would delete the repository itself. So they are
/// unmounted first, deepest first; one that will not go stops the build with nothing
/// removed.
pub(crate) fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let abs =
            std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .context("reading /proc/self/mountinfo")?;
        for m in mounts_under(&abs, &info) {
            let out = std::process::Command::new("umount")
                .arg(&m)
                .output()
                .with_context(|| format!("running umount {}", m.display()))?;
            if !out.status.success() {
                bail!(
                    "{} is mounted inside {} (left by an interrupted build?) and umount failed: \
                     {}; unmount it, then build again (nothing was removed)",
                    m.display(),
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    if let Some(p) = dir.parent() {
        std::fs::create_dir_all(p)?;
    }
    Ok(())
}

/// Mount points at or below `dir` in a mountinfo text, deepest first (the order to
/// unmount them in). Mount points are escaped there: `\040` for a space, and so on.
fn mounts_under(dir: &Path, mountinfo: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| std::path::PathBuf::from(unescape_octal(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    // Deepest first; a point mounted twice is listed (and unmounted) once per mount.
    found.sort_by(|a, b| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then_with(|| a.cmp(b))
    });
    found
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && (b'0'..=b'3').contains(&b[i + 1])
            && b[i + 2..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_mount_left_in_a_stage_dir_is_unmounted_not_emptied() {
        let t = tempfile::tempdir().unwrap();
        let precious = t.path().join("repo");
        let stage = t.path().join("work/base-root");
        let inner = stage.join("srv/repo");
        std::fs::create_dir_all(&precious).unwrap();
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(precious.join("Packages"), "keep me\n").unwrap();
        let bind = std::process::Command::new("mount")
            .args(["--bind"])
            .arg(&precious)
            .arg(&inner)
            .status();
        if !bind.is_ok_and(|s| s.success()) {
            // Needs root (CI runs as root); say so rather than pass silently.
            eprintln!("SKIPPED: mount --bind is not allowed here");
            return;
        }
        fresh_dir(&stage).unwrap();
        assert!(!stage.exists());
        assert_eq!(
            std::fs::read_to_string(precious.join("Packages")).unwrap(),
            "keep me\n"
        );
    }

    #[test]
    fn mounts_left_inside_a_stage_dir_are_found_deepest_first() {
        let info = "\
22 1 252:1 / / rw - ext4 /dev/vda1 rw
90 22 252:1 /work/b/repo /work/b/work/base-root/work/b/repo rw - ext4 /dev/vda1 rw
91 22 0:5 / /work/b/work/base-root rw - tmpfs tmpfs rw
92 22 0:6 / /work/b/work/base-root2 rw - tmpfs tmpfs rw
93 22 0:7 / /work/b/work/base\\040root/x rw - tmpfs tmpfs rw
";
        let got = mounts_under(Path::new("/work/b/work/base-root"), info);
        assert_eq!(
            got,
            vec![
                std::path::PathBuf::from("/work/b/work/base-root/work/b/repo"),
                std::path::PathBuf::from("/work/b/work/base-root"),
            ]
        );
        let spaced = mounts_under(Path::new("/work/b/work/base root"), info);
        assert_eq!(
            spaced,
            vec![std::path::PathBuf::from("/work/b/work/base root/x")]
        );
    }

    #[test]
    fn scrub_removes_identity_keeps_the_rest() {
        let r = std::env::temp_dir().join(format!("tandem-scrub-{}", std::process::id()));
        for d in [
            "etc/ssh",
            "var/lib/dbus",
            "var/lib/apt/lists/partial",
            "var/cache/apt",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in [
            "etc/machine-id",
            "var/lib/dbus/machine-id",
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "etc/ssh/sshd_config",
            "var/lib/apt/lists/deb.debian.org_debian_dists_trixie_InRelease",
            "var/cache/apt/pkgcache.bin",
            "etc/hostname",
            "etc/resolv.conf",
        ] {
            std::fs::write(r.join(f), "x").unwrap();
        }
        scrub_identity(&r).unwrap();
        assert_eq!(
            std::fs::read_to_string(r.join("etc/machine-id")).unwrap(),
            "uninitialized\n"
        );
        assert!(!r.join("var/lib/dbus/machine-id").exists());
        assert!(!r.join("etc/hostname").exists());
        assert!(!r.join("etc/resolv.conf").exists());
        assert!(!r.join("etc/ssh/ssh_host_ed25519_key").exists());
        assert!(!r.join("etc/ssh/ssh_host_ed25519_key.pub").exists());
        assert!(r.join("etc/ssh/sshd_config").exists());
        assert!(r.join("var/lib/apt/lists/partial").is_dir());
        assert_eq!(
            std::fs::read_dir(r.join("var/lib/apt/lists"))
                .unwrap()
                .count(),
            1
        );
        assert!(!r.join("var/cache/apt/pkgcache.bin").exists());
        std::fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn initramfs_needs() {
        let good = "kernel/x86/microcode/GenuineIntel.bin\n\
            usr/sbin/mdadm\nusr/sbin/lvm\nusr/sbin/e2fsck\nusr/sbin/fsck.xfs\n\
            usr/lib/modules/6.12/kernel/drivers/md/raid1.ko.xz\n\
            usr/lib/modules/6.12/kernel/drivers/md/raid456.ko.xz\n\
            usr/lib/modules/6.12/kernel/drivers/md/dm-mod.ko.xz\n";
        assert!(missing_in_initramfs(good).is_empty());
        let no_lvm = good.replace("usr/sbin/lvm\n", "");
        assert_eq!(missing_in_initramfs(&no_lvm), vec!["lvm"]);
        let no_fsck = good.replace("usr/sbin/e2fsck\n", "");
        assert_eq!(missing_in_initramfs(&no_fsck), vec!["e2fsck"]);
        assert_eq!(missing_in_initramfs("").len(), 8);
    }

    #[test]
    fn initramfs_configuration_hook_writes_the_file() {
        let root = std::env::temp_dir().join(format!("tandem-irconf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let hooks = initramfs_hooks();
        let ok = std::process::Command::new("sh")
            .args(["-c", &hooks[0], "hook"])
            .arg(&root)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let got = std::fs::read_to_string(root.join(INITRAMFS_CONF.trim_start_matches('/')));
        assert_eq!(got.unwrap(), INITRAMFS_CONF_TEXT);
        assert!(hooks[1].contains("update-initramfs -u -k all"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
