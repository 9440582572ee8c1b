//! `[storage]`: disk selection, RAID level, wipe policy and LVM volumes. Capacity against
//! real disk sizes is the planner's check, not this one.

use super::names::lvm_name_problem;
use crate::answer::{Filesystem, Issue, RaidLevel, Size, Storage, VolumeSize, MIB};
use crate::hardware::select::match_disks;
use crate::hardware::{Disk, Inventory, Signature};
use std::collections::HashMap;

pub(super) fn check(s: &Storage, inv: Option<&Inventory>, out: &mut Vec<Issue>) {
    disks(s, inv, out);
    array(s, out);
    volumes(s, out);
}

fn disks(s: &Storage, inv: Option<&Inventory>, out: &mut Vec<Issue>) {
    let min = s.level.min_disks();
    if let Some(n) = s.disks.count {
        if n < min {
            out.push(Issue::new(
                "storage.level",
                format!(
                    "{} needs at least {min} disks but storage.disks.count is {n}",
                    s.level
                ),
            ));
        }
    }
    let Some(inv) = inv else { return };
    match match_disks(&s.disks, inv, "storage.disks") {
        Err(issues) => out.extend(issues),
        Ok(m) => {
            let n = m.selected.len();
            // With count set, a short count was already reported above.
            if n < min && s.disks.count.is_none() {
                let names: Vec<&str> = m.selected.iter().map(|d| d.name.as_str()).collect();
                out.push(Issue::new(
                    "storage.level",
                    format!(
                        "{} needs at least {min} disks but storage.disks selects {n} ({})",
                        s.level,
                        names.join(", ")
                    ),
                ));
            }
            for d in m.selected {
                if let Some(found) = wipe_refusal(s.wipe, d) {
                    out.push(Issue::new(
                        "storage.wipe",
                        format!(
                            "disk {}: {found}; wipe = \"{}\" {}; set wipe = \"force\" to \
                             erase it",
                            d.name,
                            crate::answer::enum_name(&s.wipe),
                            match s.wipe {
                                crate::answer::WipePolicy::Never =>
                                    "uses only entirely blank disks",
                                _ => "refuses a disk holding partitions or data",
                            }
                        ),
                    ));
                }
            }
        }
    }
}

/// What on `d` the wipe policy forbids erasing, or None if the policy allows the disk.
pub(crate) fn wipe_refusal(policy: crate::answer::WipePolicy, d: &Disk) -> Option<String> {
    use crate::answer::WipePolicy::*;
    if policy == Force {
        return None;
    }
    let mut found = Vec::new();
    // Said first: it tells the admin what the rest is and what to do about it.
    let tandem = d.tandem_labels();
    match d.tandem_install() {
        Some(crate::hardware::TandemInstall::Unfinished) => found.push(format!(
            "holds an interrupted Tandem install (partitions still named {}: the install \
             stopped before its last step, by a power cut, a reset or a failure; \
             wipe = \"force\" starts it over)",
            tandem.join(", ")
        )),
        Some(crate::hardware::TandemInstall::Finished) => found.push(format!(
            "holds a finished Tandem install (partitions {})",
            tandem.join(", ")
        )),
        None => {}
    }
    if d.signatures_unknown {
        // Unknown is not blank: only `force` may write over what we could not read.
        found.push("its contents could not be read (no udev data, device unreadable)".into());
    }
    for sig in &d.signatures {
        // A table with partitions is reported through its partitions; an empty table
        // bothers only `never`.
        let table = matches!(sig, Signature::PartitionTable { .. });
        if table && (!d.partitions.is_empty() || policy != Never) {
            continue;
        }
        found.push(format!("holds {}", article(sig)));
    }
    for p in &d.partitions {
        if p.signatures.is_empty() {
            found.push(format!("has partition {}", p.name));
        }
        for sig in &p.signatures {
            found.push(format!("partition {} holds {}", p.name, article(sig)));
        }
    }
    (!found.is_empty()).then(|| found.join("; "))
}

/// "md RAID member of x" reads fine bare; "ext4 filesystem" wants an article.
fn article(sig: &Signature) -> String {
    match sig {
        Signature::MdMember { .. } | Signature::Drbd => sig.to_string(),
        _ => {
            let s = sig.to_string();
            let an = s.starts_with(['a', 'e', 'i', 'o', 'u', 'L', 'x']);
            format!("{} {s}", if an { "an" } else { "a" })
        }
    }
}

fn array(s: &Storage, out: &mut Vec<Issue>) {
    let c = s.chunk.0;
    // Checked for raid1 too, where it is unused: a wrong value is wrong wherever it is.
    if c < 4096 || !c.is_power_of_two() {
        out.push(Issue::new(
            "storage.chunk",
            format!(
                "{} is not a power of two of at least 4K; mdadm takes chunks like \"64K\", \
                 \"512K\" or \"1M\"",
                s.chunk
            ),
        ));
    }
    // md's 1.x superblock stores the chunk as 32-bit sectors: 1T is the largest power of two.
    if c > 1 << 40 {
        out.push(Issue::new(
            "storage.chunk",
            format!(
                "{} is larger than md allows (at most 1T; mdadm takes chunks like \"64K\", \
                 \"512K\" or \"1M\")",
                s.chunk
            ),
        ));
    }
    if s.raid10_layout.is_some() && s.level != RaidLevel::Raid10 {
        out.push(Issue::new(
            "storage.raid10-layout",
            format!("only applies to level raid10, but level is {}", s.level),
        ));
    }
    if s.boot_size.0 < 256 * MIB {
        out.push(Issue::new(
            "storage.boot-size",
            format!(
                "{} is too small for kernels and initrds; at least 256M",
                s.boot_size
            ),
        ));
    }
    if s.firmware.uefi() && s.esp_size.0 < 64 * MIB {
        out.push(Issue::new(
            "storage.esp-size",
            format!(
                "{} is too small for an EFI system partition; at least 64M",
                s.esp_size
            ),
        ));
    }
    if let Some(p) = lvm_name_problem(&s.vg) {
        out.push(Issue::new("storage.vg", p));
    }
    if let Some(t) = &s.tmp {
        if t.tmpfs.0 == 0 {
            out.push(Issue::new(
                "storage.tmp.tmpfs",
                "is 0; give a size like \"500M\"",
            ));
        }
    }
}

fn volumes(s: &Storage, out: &mut Vec<Issue>) {
    let vp = |n: &str, k: &str| format!("storage.volumes.{n}.{k}");
    if !s.volumes.contains_key("root") {
        out.push(Issue::new(
            "storage.volumes",
            "has no `root` volume; the root filesystem needs one, e.g. \
             root = { size = \"32G\" }",
        ));
    }
    let mut rest: Option<&str> = None;
    let mut percent: Vec<(String, f64)> = Vec::new();
    let mut mounts: HashMap<String, &str> = HashMap::new();
    for (name, v) in &s.volumes {
        if let Some(p) = lvm_name_problem(name) {
            out.push(Issue::new(format!("storage.volumes.{name}"), p));
        }
        match v.size {
            VolumeSize::Rest => match rest {
                Some(first) => out.push(Issue::new(
                    vp(name, "size"),
                    format!(
                        "\"rest\" is already taken by volume {first}; only one volume can \
                         have what is left"
                    ),
                )),
                None => rest = Some(name),
            },
            VolumeSize::Percent(p) => percent.push((name.clone(), p)),
            VolumeSize::Fixed(Size(0)) => {
                out.push(Issue::new(vp(name, "size"), "is 0; a volume needs a size"))
            }
            VolumeSize::Fixed(_) => {}
        }
        let (fs, mount) = v.effective(name);
        match (fs, &mount) {
            (Some(Filesystem::Swap), Some(m)) => out.push(Issue::new(
                vp(name, "mount"),
                format!("is {m:?} but fs = \"swap\" takes no mount point"),
            )),
            (None, Some(m)) => out.push(Issue::new(
                vp(name, "mount"),
                format!(
                    "is {m:?} but fs is not set; give fs = \"ext4\" or \"xfs\", or drop mount \
                     for a raw volume"
                ),
            )),
            (Some(f), None) if f != Filesystem::Swap => out.push(Issue::new(
                vp(name, "fs"),
                format!(
                    "is {f} but no mount point is set; give mount = \"/path\", or drop fs \
                     for a raw volume"
                ),
            )),
            _ => {}
        }
        if name == "root" {
            if fs == Some(Filesystem::Swap) {
                out.push(Issue::new(
                    vp(name, "fs"),
                    "is swap, but the root volume holds the root filesystem (ext4 or xfs)",
                ));
            } else if mount.as_deref() != Some("/") {
                out.push(Issue::new(
                    vp(name, "mount"),
                    format!(
                        "is {:?}; the root volume is mounted on \"/\"",
                        mount.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
        if let Some(m) = &mount {
            if fs == Some(Filesystem::Swap) {
                continue;
            }
            if let Some(p) = mount_problem(m, s.tmp.is_some()) {
                out.push(Issue::new(vp(name, "mount"), p));
            } else if let Some(other) = mounts.insert(m.clone(), name) {
                out.push(Issue::new(
                    vp(name, "mount"),
                    format!("{m} is already the mount point of volume {other}"),
                ));
            }
        }
        if let Some(o) = &v.options {
            if o.is_empty() || o.contains(char::is_whitespace) {
                out.push(Issue::new(
                    vp(name, "options"),
                    format!(
                        "{o:?} is not an fstab options field; expected comma-separated options \
                         without spaces, like \"noatime,nodev\""
                    ),
                ));
            }
        }
    }
    let total: f64 = percent.iter().map(|(_, p)| p).sum();
    if total > 100.0 {
        let parts: Vec<String> = percent.iter().map(|(n, p)| format!("{n} {p}%")).collect();
        out.push(Issue::new(
            "storage.volumes",
            format!(
                "percentages add up to {total}% ({}); at most 100% of the volume group can be \
                 given out",
                parts.join(", ")
            ),
        ));
    }
}

fn mount_problem(m: &str, tmpfs: bool) -> Option<String> {
    if !m.starts_with('/') || m.contains(char::is_whitespace) || m.contains("//") {
        return Some(format!(
            "{m:?} is not a mount point; expected an absolute path without spaces, like \
             \"/var/lib/vz\""
        ));
    }
    if m.len() > 1 && m.ends_with('/') {
        return Some(format!("{m:?} ends with '/'; write it without"));
    }
    if m.split('/').any(|c| c == "." || c == "..") {
        return Some(format!("{m:?} contains '.' or '..'; write the plain path"));
    }
    let taken = match m {
        "/boot" => Some("the /boot RAID1 array"),
        "/boot/efi" => Some("the EFI system partitions"),
        "/tmp" if tmpfs => Some("the tmpfs of storage.tmp"),
        "/proc" | "/sys" | "/dev" | "/run" => Some("the kernel's virtual filesystems"),
        _ => None,
    };
    taken.map(|t| format!("{m} is used by {t}; choose another mount point"))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::hardware::{Inventory, Signature};

    fn issues(edit: impl Fn(&str) -> String, inv: Option<&Inventory>) -> Vec<crate::answer::Issue> {
        let a = answer(edit);
        let mut out = Vec::new();
        super::check(&a.storage, inv, &mut out);
        out
    }

    fn fixture(name: &str) -> Inventory {
        let p = format!(
            "{}/tests/fixtures/hardware/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        Inventory::from_json(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn level_against_count_and_inventory() {
        let i = issues(
            |s| s.replace("level = \"raid1\"", "level = \"raid6\""),
            None,
        );
        assert_eq!(paths(&i), vec!["storage.level"]);
        assert!(
            i[0].message.contains("at least 4 disks"),
            "{}",
            i[0].message
        );
        let inv = fixture("two-disk-1nic");
        let i = issues(
            |s| {
                s.replace("level = \"raid1\"", "level = \"raid5\"")
                    .replace("count = 2", "min-size = \"1G\"")
            },
            Some(&inv),
        );
        assert_eq!(paths(&i), vec!["storage.level"]);
        assert!(
            i[0].message.contains("selects 2 (sda, sdb)"),
            "{}",
            i[0].message
        );
    }

    #[test]
    fn wipe_policy_against_signatures() {
        let inv = fixture("existing-md-4disk-1nic");
        let edit = |w: &'static str| {
            move |s: &str| {
                s.replace("count = 2", "count = 4").replace(
                    "level = \"raid1\"",
                    &format!("level = \"raid1\"\nwipe = \"{w}\""),
                )
            }
        };
        let i = issues(edit("if-empty"), Some(&inv));
        assert_eq!(i.len(), 4);
        assert!(
            i[0].message
                .starts_with("disk sda: partition sda1 holds md RAID member of oldhost:0 (array "),
            "{}",
            i[0].message
        );
        assert!(i[0].message.contains("wipe = \"force\""));
        assert!(issues(edit("force"), Some(&inv)).is_empty());
        // An empty partition table passes if-empty but not never.
        let mut blank = inv.clone();
        for d in &mut blank.disks {
            d.partitions.clear();
        }
        assert!(issues(edit("if-empty"), Some(&blank)).is_empty());
        let i = issues(edit("never"), Some(&blank));
        assert_eq!(i.len(), 4);
        assert!(
            i[0].message.contains("holds a gpt partition table"),
            "{}",
            i[0].message
        );
        // What was found is named per disk and per partition.
        let mut mixed = inv.clone();
        mixed.disks[0].partitions.clear();
        mixed.disks[0].signatures = vec![Signature::Filesystem {
            fstype: "ext4".into(),
            label: Some("data".into()),
            uuid: None,
        }];
        mixed.disks[1].partitions[0].signatures = vec![Signature::LvmPv {
            vg: Some("old".into()),
        }];
        mixed.disks[2].partitions[0].signatures.clear();
        mixed.disks[3].partitions[0].signatures = vec![Signature::Drbd];
        let msgs: Vec<String> = issues(edit("if-empty"), Some(&mixed))
            .into_iter()
            .map(|i| i.message.split(';').next().unwrap().to_string())
            .collect();
        assert_eq!(
            msgs,
            vec![
                "disk sda: holds an ext4 filesystem labelled \"data\"",
                "disk sdb: partition sdb1 holds an LVM physical volume of VG old",
                "disk sdc: has partition sdc1",
                "disk sdd: partition sdd1 holds DRBD metadata",
            ]
        );
        // An install cut off halfway is named as such, a finished one too; other
        // partition names say nothing.
        let mut cut = inv.clone();
        cut.disks[0].partitions[0].label = Some("tandem-unfinished-boot-0".into());
        cut.disks[1].partitions[0].label = Some("tandem-boot-1".into());
        cut.disks[2].partitions[0].label = Some("Linux RAID".into());
        let msgs: Vec<String> = issues(edit("if-empty"), Some(&cut))
            .into_iter()
            .map(|i| i.message)
            .collect();
        assert!(
            msgs[0].starts_with(
                "disk sda: holds an interrupted Tandem install (partitions still named \
                 tandem-unfinished-boot-0: the install stopped before its last step"
            ),
            "{}",
            msgs[0]
        );
        assert!(msgs[0].contains("md RAID member"), "{}", msgs[0]);
        assert!(
            msgs[1].starts_with(
                "disk sdb: holds a finished Tandem install (partitions tandem-boot-1); "
            ),
            "{}",
            msgs[1]
        );
        assert!(!msgs[2].contains("Tandem"), "{}", msgs[2]);
        assert!(issues(edit("force"), Some(&cut)).is_empty());
    }

    #[test]
    fn volumes() {
        let i = issues(
            |s| {
                s.replace(
                    "swap = { size = \"4G\" }",
                    "swap = { size = \"rest\", mount = \"/x\" }\n\
                     a = { size = \"rest\", mount = \"/srv\" }\n\
                     b = { size = \"60%\", fs = \"xfs\", mount = \"/srv\" }\n\
                     c = { size = \"50%\", fs = \"ext4\" }\n\
                     \"d/e\" = { size = \"1G\" }",
                )
            },
            None,
        );
        assert_eq!(
            paths(&i),
            vec![
                "storage.volumes.swap.mount",
                "storage.volumes.a.size",
                "storage.volumes.a.mount",
                "storage.volumes.b.mount",
                "storage.volumes.c.fs",
                "storage.volumes.d/e",
                "storage.volumes",
            ]
        );
        let i = issues(
            |s| s.replace("root = { size = \"20G\" }", "r = { size = \"20G\" }"),
            None,
        );
        assert_eq!(paths(&i), vec!["storage.volumes"]);
        let i = issues(
            |s| {
                s.replace("level = \"raid1\"", "level = \"raid10\"\nchunk = \"48K\"")
                    .replace("count = 2", "count = 4")
            },
            None,
        );
        assert!(paths(&i).contains(&"storage.chunk".to_string()), "{i:?}");
    }
}
