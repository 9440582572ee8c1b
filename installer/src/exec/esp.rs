//! Keeps every disk's EFI system partition identical to the mounted one.
//!
//! Debian's grub-efi-amd64 postinst reinstalls GRUB into the one ESP mounted at /boot/efi;
//! it knows nothing of the other disks. Firmware may boot any disk that survives, so after
//! every dpkg run (an apt hook) `tandem esp-sync` mirrors /boot/efi onto the ESPs listed
//! in /etc/tandem/esps. An md RAID1 ESP (metadata 1.0) would avoid this, but firmware that
//! writes to one member (boot entries, capsule updates) silently breaks that mirror.

use super::guard::MountGuard;
use super::system::System;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// What a mirror pass changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MirrorReport {
    pub copied: usize,
    pub removed: usize,
    pub unchanged: usize,
}

/// Makes `dst` an exact copy of `src` (files and directories; vfat keeps nothing else).
/// Files are compared by content, so an unchanged ESP costs reads, not writes.
pub fn mirror(src: &Path, dst: &Path) -> Result<MirrorReport> {
    let mut r = MirrorReport::default();
    mirror_dir(src, dst, &mut r)?;
    Ok(r)
}

fn mirror_dir(src: &Path, dst: &Path, r: &mut MirrorReport) -> Result<()> {
    fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut seen = BTreeSet::new();
    let mut entries: Vec<_> = fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", src.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        // vfat is case-insensitive: compare names the way the filesystem will.
        seen.insert(name.to_string_lossy().to_lowercase());
        let s = e.path();
        let d = dst.join(&name);
        let ft = e.file_type()?;
        if ft.is_dir() {
            if d.exists() && !d.is_dir() {
                fs::remove_file(&d).with_context(|| format!("removing {}", d.display()))?;
                r.removed += 1;
            }
            mirror_dir(&s, &d, r)?;
        } else if ft.is_file() {
            if d.is_dir() {
                fs::remove_dir_all(&d).with_context(|| format!("removing {}", d.display()))?;
                r.removed += 1;
            }
            let same = d.is_file()
                && fs::metadata(&d)?.len() == e.metadata()?.len()
                && fs::read(&d)? == fs::read(&s)?;
            if same {
                r.unchanged += 1;
            } else {
                // Write beside and rename, so a power cut leaves the old or the new file,
                // never half of one.
                let tmp = dst.join(format!(".{}.tandem-tmp", name.to_string_lossy()));
                fs::copy(&s, &tmp).with_context(|| format!("copying {}", s.display()))?;
                fs::File::open(&tmp)?.sync_all()?;
                fs::rename(&tmp, &d).with_context(|| format!("replacing {}", d.display()))?;
                r.copied += 1;
            }
        }
    }
    for e in fs::read_dir(dst).with_context(|| format!("reading {}", dst.display()))? {
        let e = e?;
        if !seen.contains(&e.file_name().to_string_lossy().to_lowercase()) {
            let p = e.path();
            if e.file_type()?.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            }
            .with_context(|| format!("removing {}", p.display()))?;
            r.removed += 1;
        }
    }
    Ok(())
}

/// How many files `mirror(src, dst)` would copy or remove: 0 when `dst` is an exact copy.
/// Names compare as vfat compares them (case-insensitively).
pub fn differences(src: &Path, dst: &Path) -> Result<usize> {
    fn walk(
        base: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeMap<String, PathBuf>,
    ) -> Result<()> {
        for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(base, &p, out)?;
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .to_lowercase();
                out.insert(rel, p);
            }
        }
        Ok(())
    }
    let (mut a, mut b) = (Default::default(), Default::default());
    walk(src, src, &mut a)?;
    walk(dst, dst, &mut b)?;
    let mut n = b.keys().filter(|k| !a.contains_key(*k)).count();
    for (k, pa) in &a {
        match b.get(k) {
            Some(pb) if fs::read(pa)? == fs::read(pb)? => {}
            _ => n += 1,
        }
    }
    Ok(n)
}

/// Outcome for one ESP.
#[derive(Debug)]
pub enum EspOutcome {
    /// It is the mounted source.
    Source,
    Synced(MirrorReport),
    /// The disk is gone (failed or removed); the others are still kept in sync.
    Missing,
}

/// Mirrors `source` (normally /boot/efi) onto every other ESP in `uuids`, mounting each
/// in turn under `scratch`.
pub fn sync_all(
    sys: &mut dyn System,
    source: &Path,
    uuids: &[String],
    by_uuid_dir: &Path,
    scratch: &Path,
) -> Result<Vec<(String, EspOutcome)>> {
    let source_dev = fs::canonicalize(sys.mounted_device(source)?)
        .with_context(|| format!("finding the device mounted at {}", source.display()))?;
    let mut out = Vec::new();
    for uuid in uuids {
        let link = by_uuid_dir.join(uuid);
        let dev = match fs::canonicalize(&link) {
            Ok(d) => d,
            Err(_) => {
                out.push((uuid.clone(), EspOutcome::Missing));
                continue;
            }
        };
        if dev == source_dev {
            out.push((uuid.clone(), EspOutcome::Source));
            continue;
        }
        let mnt = scratch.join(uuid);
        sys.create_dir_all(&mnt)
            .with_context(|| format!("creating {}", mnt.display()))?;
        // No `-t vfat`: the kernel identifies the filesystem, and the device comes only from
        // our own list of ESP UUIDs.
        let mounted = MountGuard::mount(sys, &dev, &mnt)?;
        let res = mirror(source, mounted.path());
        let umount = mounted.unmount();
        let report = res.with_context(|| format!("mirroring onto ESP {uuid}"))?;
        umount?;
        // Only once unmounted, and never recursively: the directory would otherwise be
        // the ESP itself.
        let _ = sys.remove_dir(&mnt);
        out.push((uuid.clone(), EspOutcome::Synced(report)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (p, c) in files {
            let f = root.join(p);
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, c).unwrap();
        }
    }

    fn listing(root: &Path) -> Vec<(String, String)> {
        let mut v = Vec::new();
        fn walk(base: &Path, d: &Path, v: &mut Vec<(String, String)>) {
            for e in fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(base, &p, v);
                } else {
                    v.push((
                        p.strip_prefix(base).unwrap().display().to_string(),
                        fs::read_to_string(&p).unwrap(),
                    ));
                }
            }
        }
        walk(root, root, &mut v);
        v.sort();
        v
    }

    #[test]
    fn mirror_makes_an_exact_copy_and_is_idempotent() {
        let t = std::env::temp_dir().join(format!("tandem-esp-{}", std::process::id()));
        let (src, dst) = (t.join("src"), t.join("dst"));
        tree(
            &src,
            &[
                ("EFI/debian/grubx64.efi", "new grub"),
                ("EFI/debian/grub.cfg", "search --fs-uuid"),
                ("EFI/BOOT/BOOTX64.EFI", "new grub"),
            ],
        );
        tree(
            &dst,
            &[
                ("EFI/debian/grubx64.efi", "old grub"),
                ("EFI/debian/stale.efi", "x"),
                ("EFI/old/dir/f", "y"),
            ],
        );
        let r = mirror(&src, &dst).unwrap();
        assert_eq!(listing(&src), listing(&dst));
        assert_eq!(r.copied, 3);
        assert_eq!(r.removed, 2);
        let again = mirror(&src, &dst).unwrap();
        assert_eq!(
            again,
            MirrorReport {
                copied: 0,
                removed: 0,
                unchanged: 3
            }
        );
        fs::remove_dir_all(t).unwrap();
    }

    #[test]
    fn differences_count_what_a_mirror_would_change() {
        let base = std::env::temp_dir().join(format!("tandem-esp-diff-{}", std::process::id()));
        let (src, dst) = (base.join("src"), base.join("dst"));
        tree(
            &src,
            &[("EFI/BOOT/BOOTX64.EFI", "a"), ("EFI/debian/grub.cfg", "b")],
        );
        tree(
            &dst,
            &[
                ("efi/boot/bootx64.efi", "a"),
                ("EFI/debian/grub.cfg", "old"),
                ("x", ""),
            ],
        );
        assert_eq!(differences(&src, &dst).unwrap(), 2);
        mirror(&src, &dst).unwrap();
        assert_eq!(differences(&src, &dst).unwrap(), 0);
        fs::remove_dir_all(&base).unwrap();
    }
}
