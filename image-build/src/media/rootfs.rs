//! Root file systems: mmdebstrap them natively on the build host (dpkg configuration here
//! is far cheaper than in an emulated guest), lay overlays over them, squash them
//! reproducibly.

use crate::package::sets::Source;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tandem::exec::runner::Cmd;

/// One mmdebstrap run into a directory.
#[derive(Debug, Clone)]
pub(crate) struct Bootstrap<'a> {
    pub(crate) source: &'a Source,
    pub(crate) packages: &'a [String],
    pub(crate) target: &'a Path,
    /// Development only: a directory of .deb files kept between runs, so a rebuild from a
    /// remote mirror does not download everything again.
    pub(crate) deb_cache: Option<&'a Path>,
    /// Shell snippets run after installation with the root in `$1` (mounts still up).
    pub(crate) customize: Vec<String>,
    pub(crate) source_date_epoch: i64,
}

impl Bootstrap<'_> {
    pub(crate) fn command(&self) -> Cmd {
        let mut c = Cmd::new("mmdebstrap")
            .arg("--mode=root")
            .arg("--variant=minbase")
            .arg("--format=directory")
            .arg(format!("--components={}", self.source.components.join(",")))
            .arg(format!("--include={}", self.packages.join(",")))
            .arg("--aptopt=Acquire::Languages \"none\"")
            // Documentation is dead weight on a node and on the medium.
            .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
            .arg("--dpkgopt=path-include=/usr/share/doc/*/copyright")
            .arg("--dpkgopt=path-exclude=/usr/share/man/*")
            .arg("--dpkgopt=path-exclude=/usr/share/info/*")
            .arg("--dpkgopt=path-exclude=/usr/share/locale/*")
            .arg("--dpkgopt=path-include=/usr/share/locale/locale.alias")
            // Tandem's own pages and runbook stay: `man tandem` on a node is how an admin
            // finds `tandem esp-sync` and the disk runbook (the tandem package, installed
            // by the installer, honours the same filters). dpkg re-creates an excluded
            // directory only when it is included by name: man8 is.
            .arg("--dpkgopt=path-include=/usr/share/man/man8")
            .arg("--dpkgopt=path-include=/usr/share/man/man8/tandem*")
            .arg("--dpkgopt=path-include=/usr/share/doc/tandem/*");
        if self.source.local_dir().is_some() {
            // apt inside the chroot must see the file:// repository: mmdebstrap's hook
            // bind-mounts it (and unmounts it before the root is finished).
            c = c.arg("--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount");
        }
        if let Some(cache) = self.deb_cache {
            let cache = cache.display();
            c = c
                .arg("--skip=download/empty")
                .arg("--skip=essential/unlink")
                .arg(r#"--setup-hook=mkdir -p "$1"/var/cache/apt/archives/"#)
                .arg(format!(
                    "--setup-hook=sync-in {cache} /var/cache/apt/archives/"
                ))
                .arg(format!(
                    "--customize-hook=sync-out /var/cache/apt/archives {cache}"
                ))
                .arg(r#"--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb"#);
        }
        for hook in &self.customize {
            c = c.arg(format!("--customize-hook={hook}"));
        }
        c.env("SOURCE_DATE_EPOCH", self.source_date_epoch.to_string())
            .arg(&self.source.suite)
            .arg(self.target.display().to_string())
            .arg(self.source.sources_line())
    }
}

/// Reproducible zstd squashfs of `root`: mksquashfs sorts entries itself and, given
/// SOURCE_DATE_EPOCH, sets the creation time and every file time to it (it refuses the
/// equivalent -mkfs-time/-all-time flags when that variable is in the environment, as it is
/// in reproducible builds, so the variable is the one way).
pub(crate) fn squashfs_command(root: &Path, out: &Path, epoch: i64, excludes: &[&str]) -> Cmd {
    let mut c = Cmd::new("mksquashfs")
        .arg(root.display().to_string())
        .arg(out.display().to_string())
        .args(["-noappend", "-no-progress", "-quiet"])
        .args(["-comp", "zstd", "-b", "1M"])
        .env("SOURCE_DATE_EPOCH", epoch.to_string());
    if !excludes.is_empty() {
        c = c.arg("-wildcards").arg("-e").args(excludes.iter().copied());
    }
    c
}

/// Copies an overlay tree over a root (modes and symlinks kept).
pub(crate) fn overlay_command(overlay: &Path, root: &Path) -> Cmd {
    Cmd::new("cp")
        .arg("-a")
        .arg("--no-preserve=ownership")
        .arg(format!("{}/.", overlay.display()))
        .arg(format!("{}/", root.display()))
}

/// The single installed kernel and its initramfs in `root/boot`.
pub(crate) fn kernel_files(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let boot = root.join("boot");
    let mut kernels: Vec<String> = std::fs::read_dir(&boot)
        .with_context(|| format!("reading {}", boot.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .collect();
    kernels.sort();
    let Some(version) = kernels.pop() else {
        bail!("no kernel in {}", boot.display());
    };
    if !kernels.is_empty() {
        bail!(
            "more than one kernel in {}: {} and {version}",
            boot.display(),
            kernels.join(", ")
        );
    }
    let initrd = boot.join(format!("initrd.img-{version}"));
    if !initrd.exists() {
        bail!("kernel {version} has no initramfs in {}", boot.display());
    }
    Ok((boot.join(format!("vmlinuz-{version}")), initrd))
}

/// True when an ELF executable has no program interpreter: it needs no dynamic loader and
/// runs on any x86-64 Linux, whatever libc the live system has.
pub(crate) fn is_static_elf(bytes: &[u8]) -> Result<bool> {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        bail!("not an ELF file");
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        bail!("not a 64-bit little-endian ELF file");
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        if at + 4 > bytes.len() {
            bail!("truncated ELF program headers");
        }
        if u32_at(at) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Directory size in bytes (apparent sizes, symlinks not followed).
pub(crate) fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source {
            uri: "http://deb.debian.org/debian".into(),
            suite: "trixie".into(),
            components: vec!["main".into()],
            trusted: false,
        }
    }

    #[test]
    fn bootstrap_command_carries_source_packages_and_hooks() {
        let src = source();
        let pk = vec!["mdadm".to_string(), "lvm2".to_string()];
        let b = Bootstrap {
            source: &src,
            packages: &pk,
            target: Path::new("/w/root"),
            deb_cache: Some(Path::new("/w/debs")),
            customize: vec!["echo hi".into()],
            source_date_epoch: 1700000000,
        };
        let line = b.command().display();
        assert!(line.starts_with("SOURCE_DATE_EPOCH=1700000000 mmdebstrap --mode=root"));
        assert!(line.contains("--include=mdadm,lvm2"));
        assert!(line.contains("'--setup-hook=sync-in /w/debs /var/cache/apt/archives/'"));
        assert!(line.contains("'--customize-hook=echo hi'"));
        assert!(line.ends_with("trixie /w/root 'deb http://deb.debian.org/debian trixie main'"));
    }

    #[test]
    fn local_repository_is_mounted_into_the_chroot() {
        let mut src = source();
        let pk = vec!["mdadm".to_string()];
        let b = |s: &Source| {
            Bootstrap {
                source: s,
                packages: &pk,
                target: Path::new("/w/root"),
                deb_cache: None,
                customize: vec![],
                source_date_epoch: 1,
            }
            .command()
            .display()
        };
        assert!(!b(&src).contains("file-mirror-automount"));
        src.uri = "file:///srv/repo".into();
        src.trusted = true;
        let line = b(&src);
        assert!(line.contains("--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount"));
        assert!(line.ends_with("'deb [trusted=yes] file:///srv/repo trixie main'"));
    }

    #[test]
    fn squashfs_is_pinned_to_the_epoch() {
        let c = squashfs_command(Path::new("/r"), Path::new("/o.sq"), 42, &["boot/*"]);
        let line = c.display();
        assert!(line.starts_with("SOURCE_DATE_EPOCH=42 mksquashfs /r /o.sq"));
        assert!(line.contains("-comp zstd"));
        assert!(line.ends_with("-wildcards -e 'boot/*'"));
    }

    #[test]
    fn static_and_dynamic_executables() {
        // busybox-static (a build dependency) is static; this test binary is not.
        let bb = std::fs::read("/bin/busybox").expect("busybox-static is installed");
        assert!(is_static_elf(&bb).unwrap());
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me).unwrap());
        assert!(is_static_elf(b"#!/bin/sh\necho not elf").is_err());
    }

    #[test]
    fn finds_the_one_kernel() {
        let d = std::env::temp_dir().join(format!("tandem-kernel-{}", std::process::id()));
        let boot = d.join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        assert!(kernel_files(&d).is_err());
        std::fs::write(boot.join("vmlinuz-6.12.1-amd64"), b"k").unwrap();
        assert!(kernel_files(&d)
            .unwrap_err()
            .to_string()
            .contains("no initramfs"));
        std::fs::write(boot.join("initrd.img-6.12.1-amd64"), b"i").unwrap();
        let (k, i) = kernel_files(&d).unwrap();
        assert!(k.ends_with("vmlinuz-6.12.1-amd64") && i.ends_with("initrd.img-6.12.1-amd64"));
        std::fs::write(boot.join("vmlinuz-6.13.0-amd64"), b"k").unwrap();
        assert!(kernel_files(&d).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
