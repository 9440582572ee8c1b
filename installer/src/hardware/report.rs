//! What `tandem detect` prints for people: the inventory as tables, and which disks and
//! NICs an answer selects (through the one matcher in `plan::select`) and why the others
//! are left out.

use super::{Disk, Firmware, Inventory, Nic};
use crate::answer::{Answer, Issue, Size};
use crate::hardware::select::{disk_busy, match_disks, match_nics, nic_names};
use std::collections::BTreeSet;
use std::fmt::Write;

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from(" ");
        for (c, cell) in r.iter().enumerate() {
            let _ = write!(line, " {cell:<w$}", w = width[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn disk_contents(d: &Disk) -> String {
    let sigs: Vec<String> = d
        .all_signatures()
        .iter()
        .map(|(dev, s)| {
            if *dev == d.name {
                s.to_string()
            } else {
                format!("{dev}: {s}")
            }
        })
        .collect();
    if d.signatures_unknown {
        let mut s = "unknown (no udev data, device unreadable)".to_string();
        for x in sigs {
            s.push_str("; ");
            s.push_str(&x);
        }
        s
    } else if sigs.is_empty() {
        "blank".into()
    } else {
        sigs.join("; ")
    }
}

/// The inventory as an admin reads it.
pub fn inventory(inv: &Inventory, slow: &[(String, String)]) -> String {
    let m = &inv.machine;
    let mut out = format!(
        "Machine: {}, CPU {}, {} memory\n",
        match (m.firmware, m.secure_boot) {
            (Firmware::Bios, _) => "BIOS".to_string(),
            (Firmware::Uefi, sb) => format!("UEFI (Secure Boot {})", if sb { "on" } else { "off" }),
        },
        if m.cpu_vendor.is_empty() {
            "unknown"
        } else {
            &m.cpu_vendor
        },
        Size(m.memory_bytes).human()
    );
    let mut rows = vec![[
        "DISK", "SIZE", "BUS", "TYPE", "MODEL", "SERIAL", "SPEED", "CONTENTS", "STATE",
    ]
    .map(String::from)
    .to_vec()];
    for d in &inv.disks {
        rows.push(vec![
            d.name.clone(),
            Size(d.size_bytes).human(),
            d.transport.to_string(),
            if d.rotational { "hdd" } else { "ssd" }.into(),
            d.model.clone().unwrap_or_else(|| "-".into()),
            d.serial.clone().unwrap_or_else(|| "-".into()),
            d.read_mbps
                .map(|s| format!("{s:.0} MB/s"))
                .unwrap_or_else(|| "-".into()),
            disk_contents(d),
            match disk_busy(d) {
                Some(why) => format!("in use: {why}"),
                None if d.removable => "free (removable)".into(),
                None => "free".into(),
            },
        ]);
    }
    out.push_str(&format!("Disks ({}):\n", inv.disks.len()));
    out.push_str(&table(&rows));
    for (name, why) in slow {
        let _ = writeln!(
            out,
            "  warning: {name} {why}: a bad RAID member in the making"
        );
    }
    let four_k: Vec<&str> = inv
        .disks
        .iter()
        .filter(|d| d.is_4kn())
        .map(|d| d.name.as_str())
        .collect();
    if !four_k.is_empty() {
        let _ = writeln!(
            out,
            "  note: {} 4096-byte logical sectors (4Kn): only UEFI boots from 4Kn disks \
             (firmware = \"uefi\", and esp-size: docs/answer-file.md)",
            match four_k.as_slice() {
                [one] => format!("{one} has"),
                many => format!("{} have", many.join(", ")),
            }
        );
    }
    let mut rows = vec![
        ["NIC", "MAC", "PERMANENT", "DRIVER", "PATH", "LINK", "KIND"]
            .map(String::from)
            .to_vec(),
    ];
    for n in &inv.nics {
        rows.push(nic_row(n));
    }
    out.push_str(&format!("NICs ({}):\n", inv.nics.len()));
    out.push_str(&table(&rows));
    out
}

fn nic_row(n: &Nic) -> Vec<String> {
    vec![
        n.name.clone(),
        n.mac.to_string(),
        n.permanent_mac
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".into()),
        n.driver.clone().unwrap_or_else(|| "-".into()),
        n.path.clone().unwrap_or_else(|| "-".into()),
        match (n.carrier, n.speed_mbps, n.duplex.as_deref()) {
            (false, ..) => "down".into(),
            (true, Some(s), Some(d)) => format!("up {s} Mb/s {d}"),
            (true, Some(s), None) => format!("up {s} Mb/s"),
            (true, None, _) => "up".into(),
        },
        if n.is_virtual { "virtual" } else { "hardware" }.into(),
    ]
}

/// What the answer selects on this inventory. Returns the report and the problems, each
/// with its key path (for placing in the answer file).
pub fn matches(answer: &Answer, inv: &Inventory) -> (String, Vec<Issue>) {
    let mut out = String::new();
    let mut issues = Vec::new();
    match match_disks(&answer.storage.disks, inv, "storage.disks") {
        Ok(m) => {
            let _ = writeln!(
                out,
                "Disks selected by storage.disks ({}):",
                m.selected.len()
            );
            for d in &m.selected {
                let _ = writeln!(
                    out,
                    "  {:<10} {:>10}  {}  {}",
                    d.name,
                    Size(d.size_bytes).human(),
                    d.stable_path(),
                    disk_contents(d)
                );
            }
            let _ = writeln!(out, "Disks left out ({}):", m.left_out.len());
            for (d, why) in &m.left_out {
                let _ = writeln!(out, "  {:<10} {why}", d.name);
            }
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "Disks: storage.disks selects nothing usable (see the errors)"
            );
            issues.extend(e);
        }
    }
    let names = nic_names(inv, &answer.network.nics);
    let mut used = BTreeSet::new();
    let mut nic_lines = Vec::new();
    let selectors = answer
        .network
        .nics
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                format!("network.nics[{i}].match"),
                format!("nic {}", d.name),
                &d.matches,
            )
        })
        .chain(answer.network.bonds.iter().enumerate().map(|(i, b)| {
            (
                format!("network.bonds[{i}].members"),
                format!("bond {} members", b.name),
                &b.members,
            )
        }));
    for (path, what, sel) in selectors {
        match match_nics(sel, inv, &names, &path) {
            Ok(hits) => {
                let list: Vec<String> = hits
                    .iter()
                    .map(|n| {
                        used.insert(n.name.clone());
                        format!("{} ({})", n.name, n.hw_mac())
                    })
                    .collect();
                nic_lines.push(format!("  {what}: {}", list.join(", ")));
            }
            Err(e) => {
                nic_lines.push(format!("  {what}: no match (see the errors)"));
                issues.extend(e);
            }
        }
    }
    let _ = writeln!(out, "NICs selected ({}):", used.len());
    for l in nic_lines {
        let _ = writeln!(out, "{l}");
    }
    let left: Vec<&Nic> = inv
        .nics
        .iter()
        .filter(|n| !used.contains(&n.name))
        .collect();
    let _ = writeln!(out, "NICs left out ({}):", left.len());
    for n in left {
        let why = if n.is_virtual {
            "virtual (bond, bridge, VLAN…): never selected".to_string()
        } else {
            "matched by no network.nics or network.bonds selector".to_string()
        };
        let _ = writeln!(out, "  {:<10} {why}", n.name);
    }
    (out, issues)
}
