//! md arrays as the running kernel has them, read from sysfs (no `mdadm` process: under
//! emulation or on a loaded node a fork costs more than reading every file here).
//!
//! Per array, `/sys/block/mdX/md/` holds `level`, `raid_disks`, `degraded`, `array_state`,
//! `sync_action`, `sync_completed` ("done / total" sectors, or "none") and one `dev-<part>`
//! directory per member with `state` (in_sync, faulty, spare, …) and `slot` (a number, or
//! "none" for a spare that holds no place). A member being rebuilt is "spare" with a slot.
//! `/dev/md/<name>` links give the names mdadm.conf and fstab use.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MdArray {
    /// Kernel name: md127.
    pub dev: String,
    /// The name under /dev/md/ ("boot", "data"), when udev made one.
    pub name: Option<String>,
    pub level: String,
    pub raid_disks: u32,
    /// md's own count of members missing (a member being rebuilt still counts).
    pub degraded: u32,
    /// clean, active, inactive, read-auto, …
    pub array_state: String,
    /// idle, resync, recover, check, repair, reshape, frozen.
    pub sync_action: String,
    /// Sectors done and to do, while a sync action runs.
    pub sync_completed: Option<(u64, u64)>,
    pub members: Vec<MdMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MdMember {
    /// Kernel name of the member device: vdb3, nvme0n1p3.
    pub dev: String,
    pub slot: Option<u32>,
    /// md's flags for the member: in_sync, faulty, spare, write_mostly, …
    pub state: Vec<String>,
}

/// What a member is doing for its array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberRole {
    /// Holds its slot and is current.
    InSync,
    /// Holds a slot and is being rebuilt into it.
    Rebuilding,
    /// A spare without a slot: taken when a member fails.
    Spare,
    Faulty,
}

impl MdMember {
    pub fn role(&self) -> MemberRole {
        let has = |f: &str| self.state.iter().any(|s| s == f);
        if has("faulty") {
            MemberRole::Faulty
        } else if has("in_sync") {
            MemberRole::InSync
        } else if self.slot.is_some() {
            MemberRole::Rebuilding
        } else {
            MemberRole::Spare
        }
    }
}

impl MdArray {
    /// How the array is shown to a person: /dev/md/boot when it has a name.
    pub fn display(&self) -> String {
        match &self.name {
            Some(n) => format!("/dev/md/{n}"),
            None => format!("/dev/{}", self.dev),
        }
    }

    /// Slots no member holds: the disks that are gone.
    pub fn missing_slots(&self) -> Vec<u32> {
        (0..self.raid_disks)
            .filter(|s| {
                !self
                    .members
                    .iter()
                    .any(|m| m.slot == Some(*s) && m.role() != MemberRole::Faulty)
            })
            .collect()
    }

    pub fn faulty(&self) -> impl Iterator<Item = &MdMember> {
        self.members
            .iter()
            .filter(|m| m.role() == MemberRole::Faulty)
    }

    /// Progress of the running sync action, 0.0 to 1.0.
    pub fn sync_ratio(&self) -> Option<f64> {
        self.sync_completed
            .filter(|(_, total)| *total > 0)
            .map(|(done, total)| done as f64 / total as f64)
    }

    pub fn in_sync(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role() == MemberRole::InSync)
            .count()
    }
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// "123 / 456" → (123, 456); "none" (nothing running) → None.
fn parse_sync_completed(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Every md array under `sysroot` (/ on a node; a fixture tree in tests).
pub fn read_arrays(sysroot: &Path) -> Result<Vec<MdArray>> {
    let block = sysroot.join("sys/block");
    // /dev/md/<name> -> ../md127
    let mut names = std::collections::BTreeMap::new();
    for n in crate::hardware::dir_names(&sysroot.join("dev/md")) {
        if let Ok(target) = std::fs::read_link(sysroot.join("dev/md").join(&n)) {
            if let Some(dev) = target.file_name() {
                names.insert(dev.to_string_lossy().into_owned(), n);
            }
        }
    }
    let mut out = Vec::new();
    for dev in crate::hardware::dir_names(&block) {
        let md = block.join(&dev).join("md");
        if !dev.starts_with("md") || !md.is_dir() {
            continue;
        }
        let num = |f: &str| -> Result<u32> {
            let t = read_trim(&md.join(f)).unwrap_or_default();
            t.parse()
                .with_context(|| format!("{}: {:?} is not a number", md.join(f).display(), t))
        };
        let level = read_trim(&md.join("level")).unwrap_or_default();
        let array_state = read_trim(&md.join("array_state")).unwrap_or_default();
        // An inactive array (assembled from too few members) has no raid_disks worth
        // reading; it is listed so that status says so.
        let raid_disks = num("raid_disks").unwrap_or(0);
        let degraded = if md.join("degraded").exists() {
            num("degraded")?
        } else {
            0
        };
        let mut members = Vec::new();
        for entry in crate::hardware::dir_names(&md) {
            let Some(part) = entry.strip_prefix("dev-") else {
                continue;
            };
            let d = md.join(&entry);
            let slot = read_trim(&d.join("slot")).and_then(|s| s.parse().ok());
            let state = read_trim(&d.join("state"))
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            members.push(MdMember {
                dev: part.to_string(),
                slot,
                state,
            });
        }
        members.sort_by_key(|m| (m.slot.unwrap_or(u32::MAX), m.dev.clone()));
        out.push(MdArray {
            name: names.get(&dev).cloned(),
            dev,
            level,
            raid_disks,
            degraded,
            array_state,
            sync_action: read_trim(&md.join("sync_action")).unwrap_or_else(|| "idle".into()),
            sync_completed: read_trim(&md.join("sync_completed"))
                .as_deref()
                .and_then(parse_sync_completed),
            members,
        });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod fixture {
    //! md's sysfs files for a test tree, as the kernel writes them.
    use std::path::{Path, PathBuf};

    /// A scratch directory for one test, removed when the test ends.
    pub struct TempTree(PathBuf);

    impl TempTree {
        pub fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!("tandem-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempTree(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub struct Member<'a> {
        pub dev: &'a str,
        pub slot: Option<u32>,
        pub state: &'a str,
    }

    pub fn m<'a>(dev: &'a str, slot: Option<u32>, state: &'a str) -> Member<'a> {
        Member { dev, slot, state }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn array(
        root: &Path,
        dev: &str,
        name: &str,
        level: &str,
        raid_disks: u32,
        degraded: u32,
        sync: (&str, &str),
        members: &[Member],
    ) {
        let md = root.join("sys/block").join(dev).join("md");
        std::fs::create_dir_all(&md).unwrap();
        let w = |f: &str, v: &str| std::fs::write(md.join(f), format!("{v}\n")).unwrap();
        w("level", level);
        w("raid_disks", &raid_disks.to_string());
        w("degraded", &degraded.to_string());
        w("array_state", "clean");
        w("sync_action", sync.0);
        w("sync_completed", sync.1);
        for mem in members {
            let d = md.join(format!("dev-{}", mem.dev));
            std::fs::create_dir_all(&d).unwrap();
            let slot = mem.slot.map(|s| s.to_string()).unwrap_or("none".into());
            std::fs::write(d.join("slot"), format!("{slot}\n")).unwrap();
            std::fs::write(d.join("state"), format!("{}\n", mem.state)).unwrap();
        }
        let links = root.join("dev/md");
        std::fs::create_dir_all(&links).unwrap();
        let _ = std::os::unix::fs::symlink(format!("../{dev}"), links.join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{array, m, TempTree};
    use super::*;

    /// A redundant array running with fewer members than it was made with, by every sign
    /// sysfs gives.
    fn is_degraded(a: &MdArray) -> bool {
        a.degraded > 0 || !a.missing_slots().is_empty() || a.faulty().next().is_some()
    }

    #[test]
    fn a_raid10_without_its_first_disk() {
        let t = TempTree::new("md-raid10-missing");
        let members = [
            m("vdb4", Some(1), "in_sync"),
            m("vdc4", Some(2), "in_sync"),
            m("vdd4", Some(3), "in_sync"),
        ];
        array(
            t.path(),
            "md126",
            "data",
            "raid10",
            4,
            1,
            ("idle", "none"),
            &members,
        );
        let a = &read_arrays(t.path()).unwrap()[0];
        assert_eq!(a.display(), "/dev/md/data");
        assert_eq!(a.missing_slots(), vec![0]);
        assert!(is_degraded(a));
        assert_eq!(a.in_sync(), 3);
        assert_eq!(a.sync_ratio(), None);
    }

    #[test]
    fn a_rebuild_holds_its_slot_and_reports_progress() {
        let t = TempTree::new("md-rebuild");
        let members = [
            m("vda4", Some(0), "spare"),
            m("vdb4", Some(1), "in_sync"),
            m("vdc4", Some(2), "in_sync"),
            m("vdd4", Some(3), "in_sync"),
        ];
        array(
            t.path(),
            "md126",
            "data",
            "raid6",
            4,
            1,
            ("recover", "4718080 / 18872320"),
            &members,
        );
        let a = &read_arrays(t.path()).unwrap()[0];
        assert_eq!(a.members[0].role(), MemberRole::Rebuilding);
        assert!(a.missing_slots().is_empty());
        assert!(is_degraded(a), "md still counts it until the rebuild ends");
        assert_eq!(a.sync_ratio(), Some(0.25));
    }

    #[test]
    fn a_faulty_member_leaves_its_slot_missing_and_a_spare_holds_none() {
        let t = TempTree::new("md-faulty");
        let members = [
            m("sda3", Some(0), "faulty"),
            m("sdb3", Some(1), "in_sync"),
            m("sdc3", None, "spare"),
        ];
        array(
            t.path(),
            "md127",
            "boot",
            "raid1",
            2,
            1,
            ("idle", "none"),
            &members,
        );
        let a = &read_arrays(t.path()).unwrap()[0];
        assert_eq!(a.missing_slots(), vec![0]);
        assert_eq!(
            a.faulty().map(|m| m.dev.as_str()).collect::<Vec<_>>(),
            ["sda3"]
        );
        assert_eq!(a.members[2].role(), MemberRole::Spare);
    }

    #[test]
    fn a_healthy_array_during_its_first_resync() {
        let t = TempTree::new("md-resync");
        let members = [m("vda3", Some(0), "in_sync"), m("vdb3", Some(1), "in_sync")];
        array(
            t.path(),
            "md127",
            "boot",
            "raid1",
            2,
            0,
            ("resync", "10 / 40"),
            &members,
        );
        let a = &read_arrays(t.path()).unwrap()[0];
        assert!(!is_degraded(a));
        assert_eq!(a.sync_ratio(), Some(0.25));
    }
}
