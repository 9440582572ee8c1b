//! Which disks and NICs an answer picks. One matcher serves validation, the plan and
//! `tandem detect --match`, so what the user is shown is what gets written.

use crate::answer::{DiskSelection, Issue, NicDef, NicSelector, Size};
use crate::hardware::{Disk, Inventory, Nic};
use glob::Pattern;
use std::collections::HashMap;

/// The outcome of matching `storage.disks` against an inventory.
#[derive(Debug, Clone, Default)]
pub struct DiskMatch<'a> {
    pub selected: Vec<&'a Disk>,
    /// Every disk not selected, with the reason, for `detect --match` and error texts.
    pub left_out: Vec<(&'a Disk, String)>,
}

/// Whether `id` names this disk: kernel name, /dev path, by-id or by-path name or path,
/// serial or WWN.
pub fn disk_has_id(d: &Disk, id: &str) -> bool {
    let id = id.trim();
    let bare = id
        .strip_prefix("/dev/disk/by-id/")
        .or_else(|| id.strip_prefix("/dev/disk/by-path/"))
        .or_else(|| id.strip_prefix("/dev/"))
        .unwrap_or(id);
    d.name == bare
        || d.by_id.iter().any(|b| b == bare)
        || d.by_path.iter().any(|b| b == bare)
        || d.serial.as_deref() == Some(id)
        || d.wwn.as_deref().is_some_and(|w| w.eq_ignore_ascii_case(id))
}

/// Why a disk may never be written, whatever the answer says; None if it may be.
pub fn disk_busy(d: &Disk) -> Option<String> {
    if d.boot_medium {
        return Some("it is the boot medium the installer is running from".into());
    }
    if !d.mounts.is_empty() {
        return Some(format!("it is mounted at {}", d.mounts.join(", ")));
    }
    if d.swap {
        return Some("it is in use as swap".into());
    }
    if !d.holders.is_empty() {
        return Some(format!(
            "it is held by {} (an active md array or device-mapper device)",
            d.holders.join(", ")
        ));
    }
    if d.read_only {
        return Some("it is read-only".into());
    }
    None
}

/// Why the filters (not the id list) leave a disk out; None if it passes them.
fn filter_reason(sel: &DiskSelection, d: &Disk) -> Option<String> {
    if sel.exclude_removable && d.removable {
        return Some("removable (exclude-removable = true)".into());
    }
    if let Some(min) = sel.min_size {
        if d.size_bytes < min.0 {
            return Some(format!(
                "{} is smaller than min-size {}",
                Size(d.size_bytes).human(),
                min
            ));
        }
    }
    if let Some(max) = sel.max_size {
        if d.size_bytes > max.0 {
            return Some(format!(
                "{} is larger than max-size {}",
                Size(d.size_bytes).human(),
                max
            ));
        }
    }
    if let Some(r) = sel.rotational {
        if d.rotational != r {
            return Some(format!("rotational is {}, wanted {r}", d.rotational));
        }
    }
    if !sel.transport.is_empty() && !sel.transport.contains(&d.transport) {
        let want: Vec<String> = sel.transport.iter().map(|t| t.to_string()).collect();
        return Some(format!(
            "transport {} is not one of {}",
            d.transport,
            want.join(", ")
        ));
    }
    if let Some(m) = &sel.model {
        let ok = Pattern::new(m)
            .map(|p| p.matches(d.model.as_deref().unwrap_or("")))
            .unwrap_or(false);
        if !ok {
            return Some(format!(
                "model {:?} does not match {m:?}",
                d.model.as_deref().unwrap_or("")
            ));
        }
    }
    None
}

/// Matches `storage.disks`. Errors (with key paths under `path`) when an explicit id names
/// no disk or an unusable one, when a filter picks a busy disk or the boot medium, when
/// nothing matches, or when `count` is not met.
pub fn match_disks<'a>(
    sel: &DiskSelection,
    inv: &'a Inventory,
    path: &str,
) -> Result<DiskMatch<'a>, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut m = DiskMatch::default();
    if let Some(p) = &sel.model {
        if let Err(e) = Pattern::new(p) {
            issues.push(Issue::new(
                format!("{path}.model"),
                format!("invalid glob {p:?}: {e}"),
            ));
            return Err(issues);
        }
    }
    // Explicit ids keep the order the user wrote them in; filters keep inventory order.
    let mut candidates: Vec<&Disk> = Vec::new();
    if sel.ids.is_empty() {
        candidates.extend(inv.disks.iter());
    } else {
        for (i, id) in sel.ids.iter().enumerate() {
            let hits: Vec<&Disk> = inv.disks.iter().filter(|d| disk_has_id(d, id)).collect();
            match hits.as_slice() {
                [] => issues.push(Issue::new(
                    format!("{path}.ids[{i}]"),
                    format!(
                        "no disk matches {id:?}; disks here: {}",
                        describe_disks(inv.disks.iter())
                    ),
                )),
                [d] if candidates.iter().any(|c| c.name == d.name) => issues.push(Issue::new(
                    format!("{path}.ids[{i}]"),
                    format!("{id:?} names disk {} a second time", d.name),
                )),
                [d] => candidates.push(d),
                many => issues.push(Issue::new(
                    format!("{path}.ids[{i}]"),
                    format!(
                        "{id:?} matches several disks ({}); use a by-id name or serial",
                        many.iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        for d in &inv.disks {
            if !candidates.iter().any(|c| c.name == d.name) {
                m.left_out.push((d, "not in storage.disks.ids".into()));
            }
        }
    }
    for d in candidates {
        if d.boot_medium {
            if !sel.ids.is_empty() {
                issues.push(Issue::new(
                    format!("{path}.ids"),
                    format!(
                        "disk {} is the boot medium the installer runs from; it is never \
                         selectable",
                        d.name
                    ),
                ));
            }
            m.left_out
                .push((d, "boot medium (never selectable)".into()));
            continue;
        }
        if let Some(why) = filter_reason(sel, d) {
            if !sel.ids.is_empty() {
                issues.push(Issue::new(
                    path.to_string(),
                    format!("disk {} is listed in ids but {why}", d.name),
                ));
            }
            m.left_out.push((d, why));
            continue;
        }
        if let Some(why) = disk_busy(d) {
            issues.push(Issue::new(
                path.to_string(),
                format!("disk {} matches but cannot be used: {why}", d.name),
            ));
            m.left_out.push((d, why));
            continue;
        }
        m.selected.push(d);
    }
    if issues.is_empty() && m.selected.is_empty() {
        let why: Vec<String> = m
            .left_out
            .iter()
            .map(|(d, r)| format!("{}: {r}", d.name))
            .collect();
        issues.push(Issue::new(
            path.to_string(),
            if why.is_empty() {
                "matches no disk: this machine has no disks".to_string()
            } else {
                format!("matches no disk ({})", why.join("; "))
            },
        ));
    }
    if let Some(n) = sel.count {
        if issues.is_empty() && m.selected.len() != n {
            issues.push(Issue::new(
                format!("{path}.count"),
                format!(
                    "count = {n} but {} disks match ({})",
                    m.selected.len(),
                    m.selected
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if issues.is_empty() {
        Ok(m)
    } else {
        Err(issues)
    }
}

fn describe_disks<'a>(disks: impl Iterator<Item = &'a Disk>) -> String {
    let v: Vec<String> = disks
        .map(|d| format!("{} ({})", d.name, Size(d.size_bytes).human()))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Whether a selector has any criterion at all (an empty one would take every NIC).
pub fn nic_selector_is_empty(s: &NicSelector) -> bool {
    s.mac.is_empty() && s.driver.is_none() && s.name.is_none()
}

/// Kernel name → `network.nics` name, for every named NIC whose selector finds exactly
/// one NIC. (Whether each finds exactly one is validation's business.)
pub fn nic_names(inv: &Inventory, defs: &[NicDef]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for d in defs {
        if let Ok(hits) = match_nics(&d.matches, inv, &HashMap::new(), "") {
            if let [n] = hits.as_slice() {
                m.insert(n.name.clone(), d.name.clone());
            }
        }
    }
    m
}

/// The name a NIC gets on the installed system: its `network.nics` name, else its current
/// kernel name.
pub fn nic_final_name<'a>(nic: &'a Nic, names: &'a HashMap<String, String>) -> &'a str {
    names
        .get(&nic.name)
        .map(String::as_str)
        .unwrap_or(&nic.name)
}

/// NICs (hardware only) that pass every criterion of the selector. `name` globs match the
/// kernel name or the `network.nics` name in `names` (from [`nic_names`]). Errors when nothing matches or `count` is missed.
pub fn match_nics<'a>(
    s: &NicSelector,
    inv: &'a Inventory,
    names: &HashMap<String, String>,
    path: &str,
) -> Result<Vec<&'a Nic>, Vec<Issue>> {
    if nic_selector_is_empty(s) {
        return Err(vec![Issue::new(
            path,
            "selects nothing specific; give mac, driver or name",
        )]);
    }
    let pat = |field: &str, p: &Option<String>| -> Result<Option<Pattern>, Vec<Issue>> {
        p.as_deref()
            .map(|p| {
                Pattern::new(p).map_err(|e| {
                    vec![Issue::new(
                        format!("{path}.{field}"),
                        format!("invalid glob {p:?}: {e}"),
                    )]
                })
            })
            .transpose()
    };
    let driver = pat("driver", &s.driver)?;
    let name = pat("name", &s.name)?;
    let hits: Vec<&Nic> = inv
        .physical_nics()
        .filter(|n| s.mac.is_empty() || s.mac.contains(n.hw_mac()))
        .filter(|n| {
            driver
                .as_ref()
                .is_none_or(|p| p.matches(n.driver.as_deref().unwrap_or("")))
        })
        .filter(|n| {
            name.as_ref().is_none_or(|p| {
                p.matches(&n.name) || names.get(&n.name).is_some_and(|a| p.matches(a))
            })
        })
        .collect();
    if hits.is_empty() {
        let have: Vec<String> = inv
            .physical_nics()
            .map(|n| {
                format!(
                    "{} ({}, {})",
                    n.name,
                    n.hw_mac(),
                    n.driver.as_deref().unwrap_or("no driver")
                )
            })
            .collect();
        return Err(vec![Issue::new(
            path,
            format!(
                "matches no NIC; NICs here: {}",
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            ),
        )]);
    }
    if let Some(c) = s.count {
        if hits.len() != c {
            return Err(vec![Issue::new(
                format!("{path}.count"),
                format!(
                    "count = {c} but {} NICs match ({})",
                    hits.len(),
                    hits.iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )]);
        }
    }
    // A MAC list names NICs one by one: each listed MAC must exist.
    for (i, mac) in s.mac.iter().enumerate() {
        if !hits.iter().any(|n| n.hw_mac() == mac) {
            return Err(vec![Issue::new(
                format!("{path}.mac[{i}]"),
                format!("no NIC has MAC {mac}"),
            )]);
        }
    }
    Ok(hits)
}
