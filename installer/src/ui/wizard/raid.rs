//! The data array's RAID level: only the levels the chosen disk count allows, each with
//! its usable capacity and the disk failures it survives.

use super::draft::{with_model_defaults, Draft};
use super::{disks, Kind, Reply};
use crate::answer::{RaidLevel, Size, Storage, MIB};
use crate::hardware::Inventory;

/// Levels possible with `n` disks, by `RaidLevel::min_disks`.
pub fn offered(n: usize) -> Vec<RaidLevel> {
    RaidLevel::ALL
        .into_iter()
        .filter(|l| l.min_disks() <= n)
        .collect()
}

/// The level proposed: the most failure-tolerant parity level the count allows.
fn default_level(n: usize) -> RaidLevel {
    match n {
        0..=2 => RaidLevel::Raid1,
        3 => RaidLevel::Raid5,
        _ => RaidLevel::Raid6,
    }
}

pub fn level(d: &Draft, inv: &Inventory) -> RaidLevel {
    let n = disks::chosen(d, inv).len();
    d.level.unwrap_or_else(|| default_level(n))
}

/// Bytes of each disk left for the data array: the smallest disk less the boot RAID1
/// member, the ESP and the BIOS-boot partition with alignment (an estimate; the plan has
/// the exact figure).
pub fn member_bytes(d: &Draft, inv: &Inventory) -> u64 {
    let s: Storage = with_model_defaults("level = \"raid1\"\ndisks = {}\nvolumes = {}");
    let smallest = disks::chosen(d, inv)
        .iter()
        .map(|x| x.size_bytes)
        .min()
        .unwrap_or(0);
    smallest.saturating_sub(s.boot_size.0 + s.esp_size.0 + 4 * MIB)
}

/// One line per level: name, usable capacity, failures survived.
pub fn describe(l: RaidLevel, n: usize, member: u64) -> String {
    let f = l.failures_tolerated(n);
    format!(
        "{:<7} usable {:>10}   survives {} disk failure{}",
        l.to_string(),
        Size(l.usable(n, member)).human(),
        f,
        if f == 1 { "" } else { "s" }
    )
}

pub fn prompt(d: &Draft, inv: &Inventory) -> (String, Vec<String>, Kind) {
    let n = disks::chosen(d, inv).len();
    let member = member_bytes(d, inv);
    let levels = offered(n);
    let cur = level(d, inv);
    let default = levels.iter().position(|l| *l == cur).unwrap_or(0);
    let mut body = vec![
        format!(
            "{n} disks of at least {} each for data.",
            Size(member).human()
        ),
        "/boot is a RAID1 across all of them.".into(),
    ];
    if levels.contains(&RaidLevel::Raid10) {
        body.push(
            "raid10 keeps two copies (near layout): any one disk may fail, maybe more.".into(),
        );
    }
    (
        format!("RAID level of the data array ({n} disks)"),
        body,
        Kind::Select {
            items: levels.iter().map(|l| describe(*l, n, member)).collect(),
            default,
        },
    )
}

pub fn apply(d: &mut Draft, inv: &Inventory, reply: Reply) -> Result<(), String> {
    let levels = offered(disks::chosen(d, inv).len());
    let i = reply.choice(levels.len())?;
    d.level = Some(levels[i]);
    Ok(())
}
