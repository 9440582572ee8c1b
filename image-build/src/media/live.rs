//! The live system the installer runs in: a Debian root with live-boot, the disk tools and
//! the static `tandem` binary, squashed to `live/filesystem.squashfs` with live-boot's
//! kernel and initramfs next to it.

use crate::media::base::fresh_dir;
use crate::media::rootfs::{self, Bootstrap};
use crate::pipeline::Ctx;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub(crate) fn bootstrap(ctx: &mut Ctx) -> Result<()> {
    let root = ctx.live_root();
    fresh_dir(&root)?;
    let sets = ctx.sets.clone();
    let b = Bootstrap {
        source: &ctx.source,
        packages: &sets.live,
        target: &root,
        deb_cache: ctx.deb_cache.as_deref(),
        customize: udev_rules_into_initramfs(&ctx.overlays.join("live/etc/udev/rules.d")),
        source_date_epoch: ctx.epoch,
    };
    ctx.run(&b.command())
        .context("bootstrapping the live system")?;
    Ok(())
}

/// The live overlay's udev rules (they switch off md/LVM auto-assembly) must be in the
/// live initramfs too, whose udev sees the disks first: mdadm's and lvm2's initramfs hooks
/// copy a rule from /etc/udev/rules.d when one of the same name is there, so the rules go
/// in and the initramfs is built again while mmdebstrap's mounts are up.
fn udev_rules_into_initramfs(rules: &Path) -> Vec<String> {
    let Ok(rules) = rules.canonicalize() else {
        return vec![];
    };
    vec![
        format!(r#"cp -a {}/. "$1"/etc/udev/rules.d/"#, rules.display()),
        r#"chroot "$1" update-initramfs -u -k all"#.into(),
    ]
}

/// What the live stage leaves in `stage/live`.
pub(crate) struct LiveFiles {
    pub(crate) squashfs_bytes: u64,
    pub(crate) version: String,
}

pub(crate) fn image(ctx: &mut Ctx) -> Result<LiveFiles> {
    let root = ctx.live_root();
    if !root.join("usr/bin/dpkg").exists() {
        bail!(
            "{} is not a bootstrapped root: run the rootfs stage first",
            root.display()
        );
    }
    let bin = std::fs::read(&ctx.tandem_bin).with_context(|| {
        format!(
            "reading the tandem binary {} (build it with `make tandem-static`)",
            ctx.tandem_bin.display()
        )
    })?;
    if !rootfs::is_static_elf(&bin)
        .with_context(|| format!("checking {}", ctx.tandem_bin.display()))?
    {
        bail!(
            "{} is dynamically linked; the live system needs the static build (`make tandem-static`)",
            ctx.tandem_bin.display()
        );
    }
    let overlay = ctx.overlays.join("live");
    ctx.run(&rootfs::overlay_command(&overlay, &root))?;
    let dest = root.join("usr/sbin/tandem");
    std::fs::write(&dest, &bin).with_context(|| format!("writing {}", dest.display()))?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))?;
    crate::media::base::scrub_identity(&root)?;
    std::fs::write(root.join("etc/hostname"), "tandem-live\n")?;

    let version = format!("{} ({})", env!("CARGO_PKG_VERSION"), ctx.epoch);
    let live = ctx.stage_dir().join("live");
    std::fs::create_dir_all(&live)?;
    let (kernel, initrd) = rootfs::kernel_files(&root)?;
    check_live_initramfs(ctx, &root, &initrd)?;
    copy_file(&kernel, &live.join("vmlinuz"))?;
    copy_file(&initrd, &live.join("initrd.img"))?;
    let sq = live.join("filesystem.squashfs");
    // The kernel and initramfs are booted from next to the squashfs, not from inside it.
    let cmd = rootfs::squashfs_command(
        &root,
        &sq,
        ctx.epoch,
        &["boot/vmlinuz-*", "boot/initrd.img-*"],
    );
    ctx.run(&cmd).context("squashing the live system")?;
    Ok(LiveFiles {
        squashfs_bytes: std::fs::metadata(&sq)?.len(),
        version,
    })
}

/// live-boot must be able to find the medium and, for PXE, fetch the squashfs over HTTP.
fn check_live_initramfs(ctx: &mut Ctx, root: &Path, initrd: &Path) -> Result<()> {
    let inner = Path::new("/boot").join(initrd.file_name().unwrap());
    let out = ctx.run(
        &tandem::exec::runner::Cmd::new("lsinitramfs")
            .arg(inner.display().to_string())
            .in_root(root),
    )?;
    let missing: Vec<&str> = [
        "lib/live/boot/9990-main.sh",
        "usr/bin/wget",
        "kernel/fs/squashfs",
    ]
    .into_iter()
    .filter(|need| !out.stdout.lines().any(|l| l.contains(need)))
    .collect();
    if !missing.is_empty() {
        bail!(
            "the live initramfs lacks {} (is live-boot in the live set?)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Copies a file, setting its mtime aside: reproducibility is handled where files are
/// packed (mksquashfs, xorriso).
fn copy_file(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}
