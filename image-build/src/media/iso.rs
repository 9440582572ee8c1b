//! The hybrid ISO: one image that boots as a CD and as a `dd`-written USB stick, on BIOS
//! (El Torito with GRUB's i386-pc eltorito image, plus GRUB's hybrid MBR) and on UEFI
//! (El Torito EFI entry and GPT partition pointing at one FAT image holding Debian's
//! signed chain: shim as `EFI/BOOT/BOOTX64.EFI`, the signed CD GRUB beside it, so Secure
//! Boot may stay on). Both GRUBs read the same `/boot/grub/grub.cfg`: the BIOS one finds
//! the medium by `/.tandem`, the signed one (whose config is Debian's, built in) by
//! `/.disk/info`.
//!
//! Reproducible: the BIOS GRUB image is built from a fixed module list (no timestamps),
//! the signed files are the repository's, byte for byte, the FAT image gets a fixed serial
//! and SOURCE_DATE_EPOCH times from mtools, and xorriso takes every date and the GPT GUIDs
//! from SOURCE_DATE_EPOCH.

use crate::pipeline::Ctx;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tandem::exec::runner::Cmd;

const VOLUME_ID: &str = "TANDEM";
/// Marker file GRUB searches for to find the medium, whatever firmware or device.
const MARKER: &str = ".tandem";
/// Where Debian's signed CD GRUB looks for its medium (as on Debian's own images).
const DISK_INFO: &str = ".disk/info";
const GRUB_LIB: &str = "/usr/lib/grub";

/// Kernel command-line basics for both boot paths.
pub(crate) const CONSOLES: &str = "console=ttyS0,115200 console=tty0";

/// Modules built into the BIOS GRUB image; no module is loaded from the medium, so the
/// medium's GRUB can never mismatch its core image. (The signed UEFI GRUB has Debian's
/// own list built in and may load nothing else under Secure Boot.)
const COMMON_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "iso9660",
    "fat",
    "normal",
    "configfile",
    "linux",
    "echo",
    "test",
    "ls",
    "cat",
    "search",
    "search_fs_file",
    "search_label",
    "serial",
    "terminal",
    "sleep",
    "reboot",
    "halt",
    "all_video",
];

/// What goes on the kernel command line and in the boot menu.
#[derive(Debug, Clone)]
pub(crate) struct BootMenu {
    pub(crate) timeout_secs: u32,
    /// Extra kernel parameters for every entry (e.g. `tandem.answer=...`).
    pub(crate) append: String,
}

/// GRUB's early config, built into the BIOS image: find the medium, read its grub.cfg.
fn early_config() -> String {
    format!(
        "search --no-floppy --set=root --file /{MARKER}\n\
         set prefix=($root)/boot/grub\n\
         configfile $prefix/grub.cfg\n"
    )
}

fn grub_cfg(menu: &BootMenu) -> String {
    let append = if menu.append.trim().is_empty() {
        String::new()
    } else {
        format!(" {}", menu.append.trim())
    };
    let entry = |title: &str, id: &str, extra: &str| {
        format!(
            "menuentry \"{title}\" --id {id} {{\n\
             \x20   linux /live/vmlinuz boot=live {CONSOLES}{extra}{append}\n\
             \x20   initrd /live/initrd.img\n\
             }}\n"
        )
    };
    format!(
        "# Tandem installer boot menu (BIOS and UEFI read this same file).\n\
         serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         set timeout={}\n\
         set default=tandem\n\n{}\n{}",
        menu.timeout_secs,
        entry("Tandem installer", "tandem", ""),
        entry(
            "Tandem installer (copy the medium to RAM)",
            "tandem-toram",
            " toram"
        ),
    )
}

fn grub_bios_command(early: &Path, out: &Path) -> Cmd {
    Cmd::new("grub-mkimage")
        .args(["-O", "i386-pc-eltorito", "-d"])
        .arg(format!("{GRUB_LIB}/i386-pc"))
        .args(["-p", "/boot/grub", "-c"])
        .arg(early.display().to_string())
        .arg("-o")
        .arg(out.display().to_string())
        .args(COMMON_MODULES.iter().copied())
        .arg("biosdisk")
}

/// FAT sectors (512 B) for an EFI image holding `payload` bytes, with room for the FAT
/// itself, rounded up to whole MiB.
fn efi_image_sectors(payload: u64) -> u64 {
    let bytes = payload + payload / 4 + 256 * 1024;
    bytes.div_ceil(1 << 20) * 2048
}

/// mtools commands that make the EFI FAT image with `files` in `EFI/BOOT` under their
/// names. The volume serial is fixed; mtools takes file and directory times from
/// SOURCE_DATE_EPOCH.
fn efi_image_commands(img: &Path, files: &[(PathBuf, &str)], sectors: u64, epoch: i64) -> Vec<Cmd> {
    let i = img.display().to_string();
    let e = epoch.to_string();
    vec![
        Cmd::new("mformat")
            .args([
                "-C",
                "-i",
                &i,
                "-T",
                &sectors.to_string(),
                "-h",
                "2",
                "-s",
                "32",
            ])
            .args(["-N", "54414e44", "-v", "TANDEM_EFI", "::"])
            .env("SOURCE_DATE_EPOCH", &e),
        Cmd::new("mmd")
            .args(["-i", &i, "::/EFI", "::/EFI/BOOT"])
            .env("SOURCE_DATE_EPOCH", &e),
    ]
    .into_iter()
    .chain(files.iter().map(|(from, name)| {
        Cmd::new("mcopy")
            .args(["-i", &i])
            .arg(from.display().to_string())
            .arg(format!("::/EFI/BOOT/{name}"))
            .env("SOURCE_DATE_EPOCH", &e)
    }))
    .collect()
}

/// `xorriso -as mkisofs` for the hybrid layout: GRUB's hybrid MBR, ISO at offset 16
/// sectors, the EFI image appended as GPT partition 2 and named by the El Torito EFI entry.
pub(crate) fn xorriso_command(tree: &Path, efi_img: &Path, out: &Path, epoch: i64) -> Cmd {
    Cmd::new("xorriso")
        .args(["-as", "mkisofs", "-o"])
        .arg(out.display().to_string())
        .args(["-iso-level", "3", "-full-iso9660-filenames", "-r"])
        .args(["-V", VOLUME_ID])
        .arg(format!("--modification-date={}", iso_date(epoch)))
        // Tree files and directories were made (or linked) at build time; pin them too.
        .arg("--set_all_file_dates")
        .arg(format!("={epoch}"))
        .args(["--grub2-mbr"])
        .arg(format!("{GRUB_LIB}/i386-pc/boot_hybrid.img"))
        .args(["-partition_offset", "16", "--mbr-force-bootable"])
        .args(["-append_partition", "2", "0xef"])
        .arg(efi_img.display().to_string())
        .arg("-appended_part_as_gpt")
        .args(["-iso_mbr_part_type", "a2a0d0ebe5b9334487c068b6b72699c7"])
        .args(["-c", "boot/boot.cat"])
        .args(["-b", "boot/grub/bios.img", "-no-emul-boot"])
        .args([
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "--grub2-boot-info",
        ])
        .args([
            "-eltorito-alt-boot",
            "-e",
            "--interval:appended_partition_2:all::",
        ])
        .arg("-no-emul-boot")
        .arg(tree.display().to_string())
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
}

/// The xorriso date form YYYYMMDDhhmmsscc (UTC) of a Unix time.
fn iso_date(epoch: i64) -> String {
    crate::package::release::utc(epoch)
        .strftime("%Y%m%d%H%M%S00")
        .to_string()
}

/// Assembles the ISO tree (hard links where possible: the tree is a staging area) and
/// writes the ISO. Returns its size.
pub(crate) fn build(ctx: &mut Ctx, menu: &BootMenu) -> Result<(PathBuf, u64)> {
    let stage = ctx.stage_dir();
    let tree = ctx.work.join("iso-tree");
    crate::media::base::fresh_dir(&tree)?;
    let grub = tree.join("boot/grub");
    std::fs::create_dir_all(&grub)?;
    std::fs::create_dir_all(tree.join("live"))?;
    std::fs::create_dir_all(tree.join("tandem"))?;
    let label = format!("tandem {}\n", env!("CARGO_PKG_VERSION"));
    std::fs::write(tree.join(MARKER), &label)?;
    std::fs::create_dir_all(tree.join(".disk"))?;
    std::fs::write(tree.join(DISK_INFO), &label)?;
    std::fs::write(grub.join("grub.cfg"), grub_cfg(menu))?;
    for f in ["vmlinuz", "initrd.img", "filesystem.squashfs"] {
        link_or_copy(&stage.join("live").join(f), &tree.join("live").join(f))?;
    }
    for f in ["base.squashfs", "base.status"] {
        link_or_copy(&stage.join(f), &tree.join("tandem").join(f))?;
    }
    ctx.link_medium_repo(&tree.join("tandem/repo"))?;

    let boot = ctx.work.join("boot");
    crate::media::base::fresh_dir(&boot)?;
    std::fs::create_dir_all(&boot)?;
    let early = boot.join("early.cfg");
    std::fs::write(&early, early_config())?;
    ctx.run(&grub_bios_command(&early, &grub.join("bios.img")))?;
    let chain = crate::media::signed::extract(ctx)?;
    let files = crate::media::signed::removable_names(&chain, &chain.grub_cd);
    let mut payload = 0;
    for (f, _) in &files {
        payload += std::fs::metadata(f)?.len();
    }
    let efi_img = boot.join("efi.img");
    let sectors = efi_image_sectors(payload);
    for c in efi_image_commands(&efi_img, &files, sectors, ctx.epoch) {
        ctx.run(&c)?;
    }

    let iso = ctx.out.join(&ctx.iso_name);
    if iso.exists() {
        std::fs::remove_file(&iso)?;
    }
    ctx.run(&xorriso_command(&tree, &efi_img, &iso, ctx.epoch))
        .context("writing the ISO")?;
    let size = std::fs::metadata(&iso)?.len();
    Ok((iso, size))
}

pub(crate) fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_menu_for_both_firmwares() {
        let cfg = grub_cfg(&BootMenu {
            timeout_secs: 3,
            append: " tandem.answer=http://10.0.0.1/a.toml ".into(),
        });
        assert!(cfg.contains("set timeout=3\n"));
        assert!(cfg.contains(
            "linux /live/vmlinuz boot=live console=ttyS0,115200 console=tty0 tandem.answer=http://10.0.0.1/a.toml\n"
        ));
        assert!(cfg.contains(" toram tandem.answer="));
        assert_eq!(cfg.matches("initrd /live/initrd.img").count(), 2);
        let plain = grub_cfg(&BootMenu {
            timeout_secs: 0,
            append: String::new(),
        });
        assert!(plain.contains("console=tty0\n"));
    }

    #[test]
    fn early_config_finds_the_marker() {
        assert!(early_config().starts_with("search --no-floppy --set=root --file /.tandem\n"));
    }

    #[test]
    fn efi_image_fits_its_payload() {
        let s = efi_image_sectors(700_416);
        assert_eq!(s % 2048, 0);
        assert!(s * 512 > 700_416 + 64 * 1024);
        assert!(efi_image_sectors(5 << 20) > s);
    }

    #[test]
    fn efi_image_holds_each_file_in_the_removable_path() {
        let files = [
            (PathBuf::from("/x/shimx64.efi.signed"), "BOOTX64.EFI"),
            (PathBuf::from("/x/gcdx64.efi.signed"), "grubx64.efi"),
        ];
        let lines: Vec<String> = efi_image_commands(Path::new("/e.img"), &files, 4096, 7)
            .iter()
            .map(|c| c.display())
            .collect();
        assert!(lines[0].contains("mformat -C -i /e.img -T 4096"));
        assert!(lines[1].ends_with("mmd -i /e.img ::/EFI ::/EFI/BOOT"));
        assert!(lines[2].ends_with("mcopy -i /e.img /x/shimx64.efi.signed ::/EFI/BOOT/BOOTX64.EFI"));
        assert!(lines[3].ends_with("mcopy -i /e.img /x/gcdx64.efi.signed ::/EFI/BOOT/grubx64.efi"));
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn dates() {
        assert_eq!(iso_date(0), "1970010100000000");
        assert_eq!(iso_date(1_700_000_000), "2023111422132000");
        assert_eq!(iso_date(951_782_400), "2000022900000000");
    }

    #[test]
    fn xorriso_has_both_boot_paths() {
        let line =
            xorriso_command(Path::new("/t"), Path::new("/e.img"), Path::new("/o.iso"), 7).display();
        assert!(line.starts_with("SOURCE_DATE_EPOCH=7 xorriso -as mkisofs"));
        assert!(line.contains("-b boot/grub/bios.img -no-emul-boot"));
        assert!(line.contains("-append_partition 2 0xef /e.img"));
        assert!(line.contains("-eltorito-alt-boot -e --interval:appended_partition_2:all::"));
        assert!(line.contains("--modification-date=1970010100000700 --set_all_file_dates =7 "));
    }
}
