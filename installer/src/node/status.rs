//! `tandem status`: is this node as its install left it? Arrays, ESPs, GRUB's targets,
//! DRBD. Facts are gathered once (`collect`, which reads and at most mounts ESPs
//! read-only); the judgement (`judge`) is a pure function of them, so every rule has a
//! test on a fixture.

use super::md::{self, MdArray, MemberRole};
use crate::drbdctl::{self, ProcDevice};
use crate::hardware::{Firmware, Inventory};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the node has, read from `sysroot` (/ on a node).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub hostname: String,
    pub firmware: Firmware,
    pub arrays: Vec<MdArray>,
    pub inventory: Inventory,
    /// The arrays mdadm.conf names (`/dev/md/boot`, …): what the install made.
    pub expected_arrays: Vec<String>,
    /// /etc/tandem/esps, when the node has one.
    pub esp_list: Option<Vec<String>>,
    /// Per listed ESP: how its content compares with /boot/efi.
    pub esps: BTreeMap<String, EspContent>,
    /// grub-pc/install_devices with whether each path exists, when grub-pc is installed.
    pub grub_devices: Option<Vec<(String, bool)>>,
    /// /etc/tandem/drbd.json exists: the node runs DRBD.
    pub drbd_configured: bool,
    /// What a new UEFI boot entry starts (crate::contract::efi::loader).
    pub efi_loader: &'static str,
    pub drbd: Vec<ProcDevice>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum EspContent {
    /// No partition has this volume id: its disk is gone.
    Missing,
    /// Mounted at /boot/efi: the copy every other ESP is compared with.
    Mounted {
        dev: String,
    },
    Same {
        dev: String,
    },
    Differs {
        dev: String,
        files: usize,
    },
    /// Not compared (not root, or nothing to compare with).
    NotChecked {
        dev: String,
        why: String,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    pub hostname: String,
    pub firmware: Firmware,
    pub arrays: Vec<ArrayStatus>,
    pub esps: Vec<EspStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grub_install_devices: Option<Vec<GrubTarget>>,
    pub drbd: Vec<ProcDevice>,
    /// Everything that is not as the install left it; empty on a healthy node.
    pub problems: Vec<String>,
    pub healthy: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArrayStatus {
    pub array: String,
    pub dev: String,
    pub level: String,
    pub raid_disks: u32,
    pub in_sync: usize,
    pub missing_slots: Vec<u32>,
    pub sync_action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_percent: Option<f64>,
    pub members: Vec<MemberStatus>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MemberStatus {
    pub dev: String,
    pub slot: Option<u32>,
    pub role: MemberRole,
    pub disk: Option<String>,
    pub by_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EspStatus {
    pub uuid: String,
    #[serde(flatten)]
    pub content: EspContent,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct GrubTarget {
    pub path: String,
    pub present: bool,
}

/// The disk a partition belongs to, from the inventory.
fn disk_of<'a>(inv: &'a Inventory, part: &str) -> Option<&'a crate::hardware::Disk> {
    inv.disks
        .iter()
        .find(|d| d.partitions.iter().any(|p| p.name == part))
}

pub fn judge(f: &Facts) -> Status {
    let mut problems = Vec::new();
    let mut arrays = Vec::new();
    for want in &f.expected_arrays {
        if !f.arrays.iter().any(|a| &a.display() == want) {
            problems.push(format!("{want} (mdadm.conf) is not running"));
        }
    }
    for a in &f.arrays {
        let missing = a.missing_slots();
        let name = a.display();
        if a.array_state == "inactive" {
            problems.push(format!("{name}: inactive (too few members to start)"));
        }
        for m in a.faulty() {
            problems.push(format!("{name}: member {} is faulty", m.dev));
        }
        if !missing.is_empty() {
            let slots: Vec<String> = missing.iter().map(u32::to_string).collect();
            problems.push(format!(
                "{name}: degraded, {} of {} members in sync, slot {} has no disk",
                a.in_sync(),
                a.raid_disks,
                slots.join(", ")
            ));
        }
        let rebuilding: Vec<&str> = a
            .members
            .iter()
            .filter(|m| m.role() == MemberRole::Rebuilding)
            .map(|m| m.dev.as_str())
            .collect();
        if !rebuilding.is_empty() {
            problems.push(format!(
                "{name}: rebuilding onto {} ({})",
                rebuilding.join(", "),
                a.sync_ratio()
                    .map(|r| format!("{:.1}%", r * 100.0))
                    .unwrap_or_else(|| "pending".into())
            ));
        }
        arrays.push(ArrayStatus {
            array: name,
            dev: a.dev.clone(),
            level: a.level.clone(),
            raid_disks: a.raid_disks,
            in_sync: a.in_sync(),
            missing_slots: missing,
            sync_action: a.sync_action.clone(),
            sync_percent: a.sync_ratio().map(|r| (r * 1000.0).round() / 10.0),
            members: a
                .members
                .iter()
                .map(|m| {
                    let d = disk_of(&f.inventory, &m.dev);
                    MemberStatus {
                        dev: m.dev.clone(),
                        slot: m.slot,
                        role: m.role(),
                        disk: d.map(|d| d.name.clone()),
                        by_id: d.and_then(|d| d.by_id.first().cloned()),
                    }
                })
                .collect(),
        });
    }
    let mut esps = Vec::new();
    if let Some(list) = &f.esp_list {
        if !f
            .esps
            .values()
            .any(|c| matches!(c, EspContent::Mounted { .. }))
        {
            problems.push("/boot/efi is not mounted (its ESP's disk is gone?)".into());
        }
        for uuid in list {
            let content = f.esps.get(uuid).cloned().unwrap_or(EspContent::Missing);
            match &content {
                EspContent::Missing => problems.push(format!("ESP {uuid}: missing")),
                EspContent::Differs { dev, files } => problems.push(format!(
                    "ESP {uuid} ({dev}): {files} file(s) differ from /boot/efi (run tandem esp-sync)"
                )),
                _ => {}
            }
            esps.push(EspStatus {
                uuid: uuid.clone(),
                content,
            });
        }
    }
    let grub = f.grub_devices.as_ref().map(|devs| {
        for (path, present) in devs {
            if !present {
                problems.push(format!(
                    "GRUB target {path} is gone (grub-pc/install_devices; tandem disk replace \
                     updates it)"
                ));
            }
        }
        // Every disk that holds a member of the array /boot is on must get GRUB's updates.
        if let Some(boot) = f.arrays.iter().find(|a| a.name.as_deref() == Some("boot")) {
            for m in &boot.members {
                if let Some(d) = disk_of(&f.inventory, &m.dev) {
                    let listed = devs.iter().any(|(p, _)| {
                        p == &d.dev_path()
                            || d.by_id
                                .iter()
                                .any(|id| p == &format!("/dev/disk/by-id/{id}"))
                    });
                    if !listed {
                        problems.push(format!(
                            "disk {} holds /boot but is not in grub-pc/install_devices",
                            d.stable_path()
                        ));
                    }
                }
            }
        }
        devs.iter()
            .map(|(path, present)| GrubTarget {
                path: path.clone(),
                present: *present,
            })
            .collect()
    });
    if f.drbd_configured && f.drbd.is_empty() {
        problems.push(format!(
            "DRBD is configured ({}) but no DRBD device is up",
            crate::contract::drbd::CONFIG
        ));
    }
    for d in &f.drbd {
        if !d.healthy() {
            problems.push(format!(
                "drbd{}: {} {}/{}, {} KiB out of sync",
                d.minor, d.cstate, d.disks.0, d.disks.1, d.oos_kib
            ));
        }
    }
    Status {
        hostname: f.hostname.clone(),
        firmware: f.firmware,
        arrays,
        esps,
        grub_install_devices: grub,
        drbd: f.drbd.clone(),
        healthy: problems.is_empty(),
        problems,
    }
}

impl Status {
    /// 0 healthy, 1 something is degraded or out of sync.
    pub fn exit_code(&self) -> u8 {
        if self.healthy {
            0
        } else {
            1
        }
    }

    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let fw = match self.firmware {
            Firmware::Bios => "BIOS",
            Firmware::Uefi => "UEFI",
        };
        let _ = writeln!(o, "Tandem node {} (booted by {fw})", self.hostname);
        let _ = writeln!(o, "md arrays");
        for a in &self.arrays {
            let sync = match (a.sync_action.as_str(), a.sync_percent) {
                ("idle", _) => String::new(),
                (act, Some(p)) => format!(", {act} {p:.1}%"),
                (act, None) => format!(", {act}"),
            };
            let _ = writeln!(
                o,
                "  {:<14} {:<7} {} of {} in sync{sync}",
                a.array, a.level, a.in_sync, a.raid_disks
            );
            for s in &a.missing_slots {
                let _ = writeln!(o, "    slot {s:<3} MISSING");
            }
            for m in &a.members {
                let slot = m.slot.map(|s| s.to_string()).unwrap_or("-".into());
                let role = serde_json::to_value(m.role)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "    slot {slot:<3} {:<10} {role:<10} {}",
                    m.dev,
                    m.by_id
                        .as_ref()
                        .map(|i| format!("/dev/disk/by-id/{i}"))
                        .unwrap_or_default()
                );
            }
        }
        if !self.esps.is_empty() {
            let _ = writeln!(o, "ESPs ({})", crate::contract::ESP_LIST);
            for e in &self.esps {
                let what = match &e.content {
                    EspContent::Missing => "MISSING".to_string(),
                    EspContent::Mounted { dev } => format!("{dev}  mounted at /boot/efi"),
                    EspContent::Same { dev } => format!("{dev}  same as /boot/efi"),
                    EspContent::Differs { dev, files } => {
                        format!("{dev}  DIFFERS from /boot/efi ({files} files)")
                    }
                    EspContent::NotChecked { dev, why } => format!("{dev}  not compared: {why}"),
                };
                let _ = writeln!(o, "  {:<10} {what}", e.uuid);
            }
        }
        if let Some(g) = &self.grub_install_devices {
            let _ = writeln!(o, "GRUB targets (grub-pc/install_devices)");
            for t in g {
                let _ = writeln!(
                    o,
                    "  {}  {}",
                    t.path,
                    if t.present { "present" } else { "MISSING" }
                );
            }
        }
        if !self.drbd.is_empty() {
            let _ = writeln!(o, "DRBD");
            for d in &self.drbd {
                let _ = writeln!(
                    o,
                    "  drbd{}  {}  {}/{}  {}/{}  {} KiB out of sync",
                    d.minor, d.cstate, d.roles.0, d.roles.1, d.disks.0, d.disks.1, d.oos_kib
                );
            }
        }
        if self.healthy {
            let _ = writeln!(o, "healthy");
        } else {
            let _ = writeln!(o, "NOT HEALTHY ({}):", self.problems.len());
            for p in &self.problems {
                let _ = writeln!(o, "  - {p}");
            }
        }
        o
    }

    /// node_exporter's textfile-collector format. Metric names are tandem_*; label values
    /// are escaped as the exposition format wants.
    pub fn prometheus(&self) -> String {
        use std::fmt::Write;
        fn esc(v: &str) -> String {
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        }
        let mut o = String::new();
        let family = |o: &mut String, name: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        family(
            &mut o,
            "tandem_node_healthy",
            "1 when tandem status finds no problem.",
        );
        let _ = writeln!(o, "tandem_node_healthy {}", u8::from(self.healthy));
        family(
            &mut o,
            "tandem_node_problems",
            "Problems tandem status found.",
        );
        let _ = writeln!(o, "tandem_node_problems {}", self.problems.len());
        family(
            &mut o,
            "tandem_md_raid_disks",
            "Members the array was made with.",
        );
        for a in &self.arrays {
            let _ = writeln!(
                o,
                "tandem_md_raid_disks{{array=\"{}\",level=\"{}\"}} {}",
                esc(&a.array),
                esc(&a.level),
                a.raid_disks
            );
        }
        family(&mut o, "tandem_md_in_sync_disks", "Members in sync.");
        for a in &self.arrays {
            let _ = writeln!(
                o,
                "tandem_md_in_sync_disks{{array=\"{}\"}} {}",
                esc(&a.array),
                a.in_sync
            );
        }
        family(
            &mut o,
            "tandem_md_sync_ratio",
            "Progress of the running resync or recovery (absent when idle).",
        );
        for a in &self.arrays {
            if let Some(p) = a.sync_percent {
                let _ = writeln!(
                    o,
                    "tandem_md_sync_ratio{{array=\"{}\",action=\"{}\"}} {:.3}",
                    esc(&a.array),
                    esc(&a.sync_action),
                    p / 100.0
                );
            }
        }
        family(
            &mut o,
            "tandem_esp_in_sync",
            "1 when the ESP is /boot/efi or equal to it, 0 when missing or different.",
        );
        for e in &self.esps {
            let ok = matches!(
                e.content,
                EspContent::Mounted { .. } | EspContent::Same { .. }
            );
            let _ = writeln!(
                o,
                "tandem_esp_in_sync{{uuid=\"{}\"}} {}",
                esc(&e.uuid),
                u8::from(ok)
            );
        }
        if let Some(g) = &self.grub_install_devices {
            family(
                &mut o,
                "tandem_grub_target_present",
                "1 when the disk in grub-pc/install_devices exists.",
            );
            for t in g {
                let _ = writeln!(
                    o,
                    "tandem_grub_target_present{{device=\"{}\"}} {}",
                    esc(&t.path),
                    u8::from(t.present)
                );
            }
        }
        family(
            &mut o,
            "tandem_drbd_healthy",
            "1 when Connected, UpToDate on both sides, nothing out of sync.",
        );
        for d in &self.drbd {
            let _ = writeln!(
                o,
                "tandem_drbd_healthy{{minor=\"{}\"}} {}",
                d.minor,
                u8::from(d.healthy())
            );
        }
        family(
            &mut o,
            "tandem_drbd_out_of_sync_bytes",
            "Bytes DRBD must resync.",
        );
        for d in &self.drbd {
            let _ = writeln!(
                o,
                "tandem_drbd_out_of_sync_bytes{{minor=\"{}\"}} {}",
                d.minor,
                d.oos_kib * 1024
            );
        }
        o
    }
}

/// grub-pc/install_devices from debconf's database (config.dat: stanzas of `Key: value`).
fn debconf_value(config_dat: &str, question: &str) -> Option<String> {
    let mut in_q = false;
    for line in config_dat.lines() {
        if line.is_empty() {
            in_q = false;
        } else if let Some(n) = line.strip_prefix("Name: ") {
            in_q = n.trim() == question;
        } else if in_q {
            if let Some(v) = line.strip_prefix("Value:") {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

/// The arrays mdadm.conf names.
fn mdadm_conf_arrays(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("ARRAY "))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Reads everything `judge` needs. ESP contents are compared only when `compare_esps`
/// (root on the node itself): each other ESP is mounted read-only for a moment.
pub fn collect(sysroot: &Path, compare_esps: bool) -> Result<Facts> {
    let p = |rel: &str| sysroot.join(rel);
    if !p("etc/tandem").is_dir() {
        // Exit 2 like any refusal: the day-2 commands judge only what Tandem installed.
        return Err(crate::error::Refused(format!(
            "not a Tandem node: {} is missing (the day-2 commands read a node Tandem installed)",
            p("etc/tandem").display()
        ))
        .into());
    }
    let inventory = crate::hardware::detect(sysroot).context("reading the disks")?;
    let firmware = if p("sys/firmware/efi").is_dir() {
        Firmware::Uefi
    } else {
        Firmware::Bios
    };
    let arrays = md::read_arrays(sysroot)?;
    let expected_arrays = std::fs::read_to_string(p("etc/mdadm/mdadm.conf"))
        .map(|t| mdadm_conf_arrays(&t))
        .unwrap_or_default();
    let esp_list = std::fs::read_to_string(p(crate::contract::ESP_LIST.trim_start_matches('/')))
        .ok()
        .map(|t| crate::contract::read_esp_list(&t));
    let mut esps = BTreeMap::new();
    if let Some(list) = &esp_list {
        let mounted = crate::exec::system::mounted_device(&p("boot/efi"))
            .ok()
            .and_then(|d| std::fs::canonicalize(d).ok());
        for uuid in list {
            let Ok(dev) = std::fs::canonicalize(p("dev/disk/by-uuid").join(uuid)) else {
                esps.insert(uuid.clone(), EspContent::Missing);
                continue;
            };
            let shown = dev.display().to_string();
            let content = if Some(&dev) == mounted.as_ref() {
                EspContent::Mounted { dev: shown }
            } else if !compare_esps || mounted.is_none() {
                EspContent::NotChecked {
                    dev: shown,
                    why: if mounted.is_none() {
                        "/boot/efi is not mounted".into()
                    } else {
                        "not root".into()
                    },
                }
            } else {
                match compare_esp(&dev, &p("boot/efi")) {
                    Ok(0) => EspContent::Same { dev: shown },
                    Ok(files) => EspContent::Differs { dev: shown, files },
                    Err(e) => EspContent::NotChecked {
                        dev: shown,
                        why: format!("{e:#}"),
                    },
                }
            };
            esps.insert(uuid.clone(), content);
        }
    }
    let grub_devices = if p("var/lib/dpkg/info/grub-pc.list").exists() {
        std::fs::read_to_string(p("var/cache/debconf/config.dat"))
            .ok()
            .and_then(|t| debconf_value(&t, "grub-pc/install_devices"))
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| (s.to_string(), p(s.trim_start_matches('/')).exists()))
                    .collect()
            })
    } else {
        None
    };
    let drbd = std::fs::read_to_string(p("proc/drbd"))
        .map(|t| drbdctl::parse_proc_devices(&t))
        .unwrap_or_default();
    Ok(Facts {
        hostname: std::fs::read_to_string(p("etc/hostname"))
            .unwrap_or_default()
            .trim()
            .to_string(),
        firmware,
        arrays,
        inventory,
        expected_arrays,
        esp_list,
        esps,
        grub_devices,
        drbd_configured: p(crate::contract::drbd::CONFIG.trim_start_matches('/')).exists(),
        drbd,
        efi_loader: crate::contract::efi::loader(sysroot),
    })
}

/// A mount that is undone when it goes out of scope, whatever happens in between.
pub struct Mounted {
    pub dir: PathBuf,
}

impl Mounted {
    pub fn new(dev: &Path, dir: PathBuf, read_only: bool) -> Result<Self> {
        use nix::mount::{mount, MsFlags};
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let flags = if read_only {
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
        } else {
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
        };
        mount(Some(dev), &dir, Some("vfat"), flags, None::<&str>)
            .with_context(|| format!("mounting {} on {}", dev.display(), dir.display()))?;
        Ok(Mounted { dir })
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount(&self.dir);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn compare_esp(dev: &Path, source: &Path) -> Result<usize> {
    let dir = std::env::temp_dir().join(format!(
        "tandem-status-{}-{}",
        std::process::id(),
        dev.file_name().unwrap_or_default().to_string_lossy()
    ));
    let m = Mounted::new(dev, dir, true)?;
    crate::exec::esp::differences(source, &m.dir)
}

/// Writes the metrics into the collector's directory the way it wants: a temporary file
/// renamed over `tandem.prom`, so the collector never reads half a file.
pub fn write_textfile(dir: &Path, text: &str) -> Result<PathBuf> {
    let dst = dir.join("tandem.prom");
    let tmp = dir.join(format!(".tandem.prom.{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &dst).with_context(|| format!("renaming onto {}", dst.display()))?;
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::super::md::fixture::{array, m, TempTree};
    use super::*;
    use crate::hardware::{Disk, Partition};

    fn disk(name: &str, parts: &[u32]) -> Disk {
        Disk {
            name: name.into(),
            by_id: vec![format!("virtio-{name}")],
            partitions: parts
                .iter()
                .map(|n| Partition {
                    name: format!("{name}{n}"),
                    number: *n,
                    ..Partition::default()
                })
                .collect(),
            ..Disk::default()
        }
    }

    fn alpha(t: &TempTree, first_disk: bool) -> Facts {
        let boot: Vec<_> = ["vda3", "vdb3", "vdc3", "vdd3"]
            .iter()
            .enumerate()
            .filter(|(i, _)| first_disk || *i > 0)
            .map(|(i, d)| m(d, Some(i as u32), "in_sync"))
            .collect();
        let data: Vec<_> = ["vda4", "vdb4", "vdc4", "vdd4"]
            .iter()
            .enumerate()
            .filter(|(i, _)| first_disk || *i > 0)
            .map(|(i, d)| m(d, Some(i as u32), "in_sync"))
            .collect();
        let deg = u32::from(!first_disk);
        array(
            t.path(),
            "md127",
            "boot",
            "raid1",
            4,
            deg,
            ("idle", "none"),
            &boot,
        );
        array(
            t.path(),
            "md126",
            "data",
            "raid10",
            4,
            deg,
            ("idle", "none"),
            &data,
        );
        let names = if first_disk {
            vec!["vda", "vdb", "vdc", "vdd"]
        } else {
            vec!["vdb", "vdc", "vdd"]
        };
        let mut esps = BTreeMap::new();
        for (i, n) in ["vda", "vdb", "vdc", "vdd"].iter().enumerate() {
            let uuid = format!("AAAA-000{i}");
            let c = if !names.contains(n) {
                EspContent::Missing
            } else if i == 0 {
                EspContent::Mounted {
                    dev: format!("/dev/{n}2"),
                }
            } else {
                EspContent::Same {
                    dev: format!("/dev/{n}2"),
                }
            };
            esps.insert(uuid, c);
        }
        Facts {
            hostname: "alpha".into(),
            arrays: md::read_arrays(t.path()).unwrap(),
            inventory: Inventory {
                disks: names.iter().map(|n| disk(n, &[1, 2, 3, 4])).collect(),
                ..Inventory::default()
            },
            expected_arrays: vec!["/dev/md/boot".into(), "/dev/md/data".into()],
            esp_list: Some((0..4).map(|i| format!("AAAA-000{i}")).collect()),
            esps,
            grub_devices: Some(
                ["vda", "vdb", "vdc", "vdd"]
                    .iter()
                    .map(|n| (format!("/dev/disk/by-id/virtio-{n}"), names.contains(n)))
                    .collect(),
            ),
            ..Facts::default()
        }
    }

    #[test]
    fn a_whole_node_is_healthy() {
        let t = TempTree::new("status-healthy");
        let s = judge(&alpha(&t, true));
        assert!(s.healthy, "{:?}", s.problems);
        assert_eq!(s.exit_code(), 0);
        assert!(s.text().ends_with("healthy\n"));
        assert!(s.prometheus().contains("tandem_node_healthy 1\n"));
    }

    #[test]
    fn the_first_disk_gone_names_every_consequence() {
        let t = TempTree::new("status-no-first-disk");
        let s = judge(&alpha(&t, false));
        assert_eq!(s.exit_code(), 1);
        let p = s.problems.join("\n");
        for want in [
            "/dev/md/boot: degraded, 3 of 4 members in sync, slot 0 has no disk",
            "/dev/md/data: degraded, 3 of 4 members in sync, slot 0 has no disk",
            "ESP AAAA-0000: missing",
            "/boot/efi is not mounted",
            "GRUB target /dev/disk/by-id/virtio-vda is gone",
        ] {
            assert!(p.contains(want), "{want:?} not in:\n{p}");
        }
        let prom = s.prometheus();
        assert!(
            prom.contains("tandem_md_in_sync_disks{array=\"/dev/md/data\"} 3\n"),
            "{prom}"
        );
        assert!(
            prom.contains("tandem_esp_in_sync{uuid=\"AAAA-0000\"} 0\n"),
            "{prom}"
        );
    }

    #[test]
    fn a_rebuild_is_reported_with_its_progress_and_a_disk_outside_grub_is_named() {
        let t = TempTree::new("status-rebuild");
        let mut f = alpha(&t, true);
        let members = [
            m("vde4", Some(0), "spare"),
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
            ("recover", "1 / 4"),
            &members,
        );
        f.arrays = md::read_arrays(t.path()).unwrap();
        f.inventory.disks.push(disk("vde", &[1, 2, 3, 4]));
        let boot = f.arrays.iter_mut().find(|a| a.dev == "md127").unwrap();
        boot.members[0].dev = "vde3".into();
        let s = judge(&f);
        let p = s.problems.join("\n");
        assert!(
            p.contains("/dev/md/data: rebuilding onto vde4 (25.0%)"),
            "{p}"
        );
        assert!(
            p.contains(
                "disk /dev/disk/by-id/virtio-vde holds /boot but is not in grub-pc/install_devices"
            ),
            "{p}"
        );
        assert!(s
            .prometheus()
            .contains("tandem_md_sync_ratio{array=\"/dev/md/data\",action=\"recover\"} 0.250"));
    }

    #[test]
    fn drbd_and_expected_arrays_count() {
        let t = TempTree::new("status-drbd");
        let mut f = alpha(&t, true);
        f.expected_arrays.push("/dev/md/extra".into());
        f.drbd_configured = true;
        let s = judge(&f);
        let p = s.problems.join("\n");
        assert!(
            p.contains("/dev/md/extra (mdadm.conf) is not running"),
            "{p}"
        );
        assert!(p.contains("DRBD is configured"), "{p}");
    }

    #[test]
    fn reads_debconf_and_mdadm_conf() {
        let dat = "Name: grub-pc/install_devices\nTemplate: grub-pc/install_devices\n\
                   Value: /dev/disk/by-id/a, /dev/disk/by-id/b\nOwners: grub-pc\n\n\
                   Name: grub-pc/other\nValue: x\n";
        assert_eq!(
            debconf_value(dat, "grub-pc/install_devices").as_deref(),
            Some("/dev/disk/by-id/a, /dev/disk/by-id/b")
        );
        assert_eq!(debconf_value(dat, "nope"), None);
        let conf = "# c\nARRAY /dev/md/boot metadata=1.2 UUID=x\nARRAY /dev/md/data UUID=y\n";
        assert_eq!(mdadm_conf_arrays(conf), ["/dev/md/boot", "/dev/md/data"]);
    }

    #[test]
    fn not_a_node_without_etc_tandem() {
        let t = TempTree::new("status-not-node");
        let e = collect(t.path(), false).unwrap_err();
        let r = e
            .downcast_ref::<super::super::Refused>()
            .expect("a refusal: exit 2");
        assert!(r.0.starts_with("not a Tandem node: "), "{r}");
    }

    /// docs/operations.md ("Monitoring") names exactly the metric families written.
    #[test]
    fn the_documented_metrics_are_the_written_ones() {
        let t = TempTree::new("status-metrics-doc");
        let mut f = alpha(&t, true);
        f.drbd = vec![ProcDevice {
            minor: 0,
            cstate: "Connected".into(),
            roles: ("Primary".into(), "Primary".into()),
            disks: ("UpToDate".into(), "UpToDate".into()),
            oos_kib: 0,
        }];
        let written: std::collections::BTreeSet<String> = judge(&f)
            .prometheus()
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from)
            .collect();
        let doc = include_str!("../../../docs/operations.md");
        let section = doc
            .split("### Monitoring")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap();
        let documented: std::collections::BTreeSet<String> = section
            .split('`')
            .filter(|w| w.starts_with("tandem_"))
            .map(|w| w.split(['{', ' ']).next().unwrap().to_string())
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        assert_eq!(written, documented);
    }

    #[test]
    fn the_textfile_is_replaced_whole() {
        let t = TempTree::new("status-textfile");
        let p = write_textfile(t.path(), "a 1\n").unwrap();
        write_textfile(t.path(), "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(p).unwrap(), "a 2\n");
        assert_eq!(crate::hardware::dir_names(t.path()), ["tandem.prom"]);
    }
}
