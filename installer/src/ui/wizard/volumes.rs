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

/// Bytes a size takes of a volume group of `vg` bytes ("rest" counts as nothing).
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
        Step::VzSize => "vz (/var/lib/vz, ext4: ISOs, templates, backups, local disks)",
        _ => "drbd (raw backing device of DRBD resource r0)",
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

pub fn apply(step: Step, d: &mut Draft, inv: &Inventory, reply: Reply) -> Result<(), String> {
    let text = reply.text()?;
    let v: VolumeSize = text.parse()?;
    if let VolumeSize::Fixed(Size(0)) = v {
        return Err("a volume cannot be empty".into());
    }
    let mut next = d.clone();
    match step {
        Step::RootSize => next.root = Some(v),
        Step::SwapSize => next.swap = Some(v),
        Step::VzSize => next.vz = Some(v),
        _ => next.drbd_size = Some(v),
    }
    // Only the volumes asked so far (this one and those before it) are held to the rule;
    // later ones still follow their defaults.
    let upto: Vec<Step> = steps(&next)
        .into_iter()
        .take_while(|s| *s != step)
        .chain([step])
        .collect();
    let sizes: Vec<VolumeSize> = upto.iter().map(|s| size(*s, &next, inv)).collect();
    if sizes.iter().filter(|s| **s == VolumeSize::Rest).count() > 1 {
        return Err("only one volume can take the rest".into());
    }
    let vg = vg_bytes(&next, inv);
    let total: u64 = sizes.iter().map(|s| fixed(*s, vg)).sum();
    if total > vg {
        return Err(format!(
            "the volumes so far need {} but the array holds about {}",
            Size(total).human(),
            Size(vg).human()
        ));
    }
    *d = next;
    Ok(())
}
