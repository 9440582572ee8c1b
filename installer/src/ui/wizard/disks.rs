//! Which disks the node is built on. Offered: every disk that may be written (not the
//! boot medium, not removable, not busy by the one `disk_busy` rule).

use super::draft::{with_model_defaults, Draft};
use super::{Kind, Reply};
use crate::answer::{DiskSelection, FirmwareTarget, RaidLevel, Size, Storage, WipePolicy};
use crate::hardware::select::{disk_busy, match_disks};
use crate::hardware::{Disk, Inventory};
use crate::plan::storage::{holds_a_member, MIN_DATA_MEMBER};

pub fn eligible(inv: &Inventory) -> Vec<&Disk> {
    inv.disks
        .iter()
        .filter(|d| !d.boot_medium && !d.removable && disk_busy(d).is_none())
        .collect()
}

/// Disks shown as not offered, with the reason. The boot medium is never listed.
fn not_offered(inv: &Inventory) -> Vec<(&Disk, String)> {
    inv.disks
        .iter()
        .filter(|d| !d.boot_medium)
        .filter_map(|d| {
            if let Some(why) = disk_busy(d) {
                Some((d, why))
            } else if d.removable {
                Some((d, "removable".to_string()))
            } else {
                None
            }
        })
        .collect()
}

/// The eligible disks split into those that can hold the boot partitions and a data
/// member, with the default sizes and both firmware kinds (the largest prefix), and those
/// too small: offered, but not checked by default.
fn by_room(inv: &Inventory) -> (Vec<&Disk>, Vec<&Disk>) {
    let st: Storage = with_model_defaults("level = \"raid1\"\ndisks = {}\nvolumes = {}");
    eligible(inv)
        .into_iter()
        .partition(|d| holds_a_member(&st, d))
}

/// The chosen disks: the user's choice, else every eligible disk that can be a member.
pub fn chosen<'a>(d: &Draft, inv: &'a Inventory) -> Vec<&'a Disk> {
    match &d.disks {
        Some(names) => inv
            .disks
            .iter()
            .filter(|x| names.contains(&x.name))
            .collect(),
        None => by_room(inv).0,
    }
}

/// 4Kn disks boot by UEFI only (the planner refuses BIOS boot code on them), so a choice
/// with one of them asks for that; otherwise the default, bootable either way.
pub fn firmware(d: &Draft, inv: &Inventory) -> FirmwareTarget {
    if chosen(d, inv).iter().any(|x| x.is_4kn()) {
        FirmwareTarget::Uefi
    } else {
        FirmwareTarget::default()
    }
}

/// What is on a disk now, in a few words.
pub fn contents(disk: &Disk) -> String {
    let sigs = disk.all_signatures();
    if sigs.is_empty() && disk.partitions.is_empty() {
        return "empty".into();
    }
    let mut parts: Vec<String> = Vec::new();
    if !disk.partitions.is_empty() {
        parts.push(format!("{} partition(s)", disk.partitions.len()));
    }
    for (dev, s) in sigs {
        if matches!(s, crate::hardware::Signature::PartitionTable { .. }) && dev == disk.name {
            parts.insert(0, s.to_string());
        } else {
            parts.push(format!("{dev}: {s}"));
        }
    }
    parts.join("; ")
}

/// One table line; the header is made by the same format so the columns line up. The
/// widths keep a row of a blank disk within 80 columns (an IPMI serial console), with the
/// wizard's `> [x] ` before it; longer contents wrap.
fn columns(c: [&str; 7]) -> String {
    format!(
        "{:<8} {:>9}  {:<14}  {:<12}  {:<6} {:>9}  {}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    )
}

pub fn header() -> String {
    columns(["disk", "size", "model", "serial", "bus", "read", "holds"])
}

/// Size, model, serial, transport, measured read speed (`detect --speed`) and contents.
pub fn row(disk: &Disk) -> String {
    let speed = disk
        .read_mbps
        .map(|m| format!("{m:.0} MB/s"))
        .unwrap_or_else(|| "-".into());
    columns([
        &disk.name,
        &Size(disk.size_bytes).human(),
        &clip(disk.model.as_deref().unwrap_or("-"), 14),
        // A serial's tail is what tells disks of one batch apart.
        &clip_left(disk.serial.as_deref().unwrap_or("-"), 12),
        &disk.transport.to_string(),
        &speed,
        &contents(disk),
    ])
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['~']).collect()
    }
}

fn clip_left(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len <= n {
        s.to_string()
    } else {
        std::iter::once('~')
            .chain(s.chars().skip(len - (n - 1)))
            .collect()
    }
}

pub fn prompt(d: &Draft, inv: &Inventory) -> (String, Vec<String>, Kind) {
    let offered = eligible(inv);
    let chosen: Vec<String> = chosen(d, inv).iter().map(|x| x.name.clone()).collect();
    let mut body = vec![
        "Every selected disk gets a BIOS-boot partition, an EFI partition, a member".into(),
        "of the /boot RAID1 and one of the data array. Space toggles, Enter accepts.".into(),
        String::new(),
        format!("      {}", header()),
    ];
    let left = not_offered(inv);
    let mut tail = Vec::new();
    if !left.is_empty() {
        tail.push(String::new());
        for (x, why) in left {
            tail.push(format!("not offered: {} ({why})", x.name));
        }
    }
    let small: Vec<&str> = by_room(inv).1.iter().map(|x| x.name.as_str()).collect();
    if !small.is_empty() {
        tail.push(String::new());
        tail.push(format!(
            "not checked: {} (too small for the boot partitions and a {} data member)",
            small.join(", "),
            Size(MIN_DATA_MEMBER).human()
        ));
    }
    // A member much slower than its peers drags the whole array down, and is often a disk
    // about to fail: say so before it is chosen, as `detect --speed` does.
    let slow = crate::hardware::speed::slow_disks(&inv.disks);
    let slow: Vec<_> = slow
        .iter()
        .filter(|(name, _)| offered.iter().any(|x| &x.name == name))
        .collect();
    if !slow.is_empty() {
        tail.push(String::new());
        for (name, why) in slow {
            tail.push(format!(
                "slow: {name} {why}; check it (smartctl -a) before using it"
            ));
        }
    }
    let items = offered.iter().map(|x| row(x)).collect();
    let checked = offered.iter().map(|x| chosen.contains(&x.name)).collect();
    body.extend(tail);
    (
        "Disks to install on".into(),
        body,
        Kind::MultiSelect { items, checked },
    )
}

pub fn apply(d: &mut Draft, inv: &Inventory, reply: Reply) -> Result<(), String> {
    let offered = eligible(inv);
    let picked = reply.choices(offered.len())?;
    let min = RaidLevel::Raid1.min_disks();
    if picked.len() < min {
        return Err(format!(
            "select at least {min} disks (space toggles a disk): /boot and the data array \
             are mirrored across them"
        ));
    }
    let names: Vec<String> = offered
        .iter()
        .enumerate()
        .filter(|(i, _)| picked.contains(i))
        .map(|(_, x)| x.name.clone())
        .collect();
    // A level chosen for another disk count may no longer be possible.
    if d.level.is_some_and(|l| l.min_disks() > names.len()) {
        d.level = None;
    }
    d.disks = Some(names);
    Ok(())
}

/// `storage.disks` for the chosen disks: when they are every eligible disk, the filter
/// form (so the file also installs an identical peer); else their stable ids. Either form
/// is checked with the one disk matcher to pick exactly the chosen disks here.
pub fn selection(d: &Draft, inv: &Inventory) -> DiskSelection {
    let chosen = chosen(d, inv);
    let names: Vec<&str> = chosen.iter().map(|x| x.name.as_str()).collect();
    let picks = |sel: &DiskSelection| {
        match_disks(sel, inv, "storage.disks").is_ok_and(|m| {
            m.selected
                .iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>()
                == names
        })
    };
    let all = DiskSelection {
        exclude_removable: true,
        count: Some(chosen.len()),
        ..DiskSelection::default()
    };
    if chosen.len() == eligible(inv).len() && picks(&all) {
        return all;
    }
    DiskSelection {
        ids: chosen
            .iter()
            .map(|x| x.by_id.first().cloned().unwrap_or_else(|| x.name.clone()))
            .collect(),
        exclude_removable: true,
        ..DiskSelection::default()
    }
}

/// `force` only when a chosen disk holds something (the typed confirmation named it);
/// blank disks keep `if-empty`, so a reused file never wipes a disk that got data since.
pub fn wipe_policy(d: &Draft, inv: &Inventory) -> WipePolicy {
    if chosen(d, inv)
        .iter()
        .any(|x| !x.all_signatures().is_empty() || !x.partitions.is_empty())
    {
        WipePolicy::Force
    } else {
        WipePolicy::IfEmpty
    }
}
