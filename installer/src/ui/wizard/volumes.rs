//! LVM volume sizes on the data array, with defaults from the array's size and the RAM:
//! root 32G (a quarter of the array on small disks), swap min(RAM, 8G), `/var/lib/vz` the
//! rest — or half of it when a DRBD peer is configured and its backing volume takes the
//! rest.

use super::draft::Draft;
use super::{disks, raid, Kind, Reply, Step};
use crate::answer::{Size, VolumeSize, GIB};
use crate::hardware::Inventory;

/// Estimated size of the volume group: the usable capacity of the array.
pub fn vg_bytes(d: &Draft, inv: &Inventory) -> u64 {
    let n = disks::chosen(d, inv).len();
    raid::level(d, inv).usable(n, raid::member_bytes(d, inv))
}

fn whole_gib(b: u64) -> u64 {
    (b / GIB).max(1) * GIB
}

pub fn default_size(step: Step, d: &Draft, inv: &Inventory) -> VolumeSize {
    let vg = vg_bytes(d, inv);
    let root = whole_gib((32 * GIB).min(vg / 4));
    let ram = match inv.machine.memory_bytes {
        0 => 8 * GIB,
        r => r,
    };
    let swap = whole_gib(ram.min(8 * GIB).min(vg / 8));
    match step {
        Step::RootSize => VolumeSize::Fixed(Size(root)),
        Step::SwapSize => VolumeSize::Fixed(Size(swap)),
        Step::VzSize if d.drbd => {
            let left = vg
                .saturating_sub(fixed(size(Step::RootSize, d, inv), vg))
                .saturating_sub(fixed(size(Step::SwapSize, d, inv), vg));
            VolumeSize::Fixed(Size(whole_gib(left / 2)))
        }
        _ => VolumeSize::Rest,
    }
}

/// The size a volume gets: the reply, else the default.
pub fn size(step: Step, d: &Draft, inv: &Inventory) -> VolumeSize {
    let set = match step {
        Step::RootSize => d.root,
        Step::SwapSize => d.swap,
        Step::VzSize => d.vz,
        _ => d.drbd_size,
    };
    set.unwrap_or_else(|| default_size(step, d, inv))
}

/// Bytes a size takes of a volume group of `vg` bytes ("rest" counts as nothing), for the
/// proposed sizes.
fn fixed(s: VolumeSize, vg: u64) -> u64 {
    match s {
        VolumeSize::Fixed(b) => b.0,
        VolumeSize::Percent(p) => (vg as f64 * p / 100.0) as u64,
        VolumeSize::Rest => 0,
    }
}

fn steps(d: &Draft) -> Vec<Step> {
    let mut v = vec![Step::RootSize, Step::SwapSize, Step::VzSize];
    if d.drbd {
        v.push(Step::DrbdSize);
    }
    v
}

fn label(step: Step) -> &'static str {
    match step {
        Step::RootSize => "root (/, ext4)",
        Step::SwapSize => "swap",
        Step::VzSize => "vz (/var/lib/vz, ext4)",
        _ => "drbd (backing device of DRBD r0)",
    }
}

pub fn prompt(step: Step, d: &Draft, inv: &Inventory) -> (String, Vec<String>, Kind) {
    let vg = vg_bytes(d, inv);
    let mut body = vec![
        format!(
            "The {} array holds about {} for LVM volume group \"pve\".",
            raid::level(d, inv),
            Size(vg).human()
        ),
        "A size like 32G, a percentage of the group like 10%, or \"rest\" (one volume).".into(),
        "vz holds ISO images, templates, backups and local VM disks.".into(),
        String::new(),
    ];
    for s in steps(d) {
        let mark = if s == step { ">" } else { " " };
        body.push(format!(
            "{mark} {:<6} {}",
            size(s, d, inv).to_string(),
            label(s)
        ));
    }
    (
        format!("Size of volume {}", label(step)),
        body,
        Kind::Input {
            default: Some(size(step, d, inv).to_string()),
        },
    )
}

/// Parses a size. Whether the volumes fit, and that only one takes the rest, is for the
/// validator and the planner to say (their reasons re-ask this question).
pub fn apply(step: Step, d: &mut Draft, reply: Reply) -> Result<(), String> {
    let v: VolumeSize = reply.text()?.parse()?;
    match step {
        Step::RootSize => d.root = Some(v),
        Step::SwapSize => d.swap = Some(v),
        Step::VzSize => d.vz = Some(v),
        _ => d.drbd_size = Some(v),
    }
    Ok(())
}
