//! `tandem disk replace NEW [--for OLD]`: a new disk takes the place of a failed or
//! missing one, in every array, with the ESP and boot code the others have.
//!
//! `decide` is pure: from the node's facts it either refuses (exit 2, nothing written) or
//! returns the replacement as data, which `--dry-run` prints and `execute` runs. The disks
//! of a Tandem node carry identical GPTs whose partition names say each partition's role
//! (`tandem-<role>-<n>`), so a healthy member is the template for the new disk.

use super::md::{MdArray, MemberRole};
use super::status::{EspContent, Facts};
use crate::error::Refused;
use crate::exec::runner::{Cmd, Runner};
use crate::hardware::{Disk, Firmware, Signature, PARTLABEL_PREFIX};
use crate::plan::storage::partition_name;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

/// What the admin asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub new: String,
    pub old: Option<String>,
    /// Replace a disk that holds signatures (a partition table, a filesystem).
    pub force: bool,
}

/// The disk being replaced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Old {
    /// Gone from the machine: its slots are empty.
    Missing,
    /// Still attached (failing, or named with --for): its members are failed and removed.
    Present {
        disk: String,
        members: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NewPartition {
    pub number: u32,
    pub dev: String,
    pub label: String,
    /// The array it joins (/dev/md127), for md partitions.
    pub array: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NewEsp {
    pub dev: String,
    pub number: u32,
    /// The FAT volume id, XXXX-XXXX.
    pub uuid: String,
    /// The id /etc/tandem/esps lists for the disk being replaced, when it is not `uuid`.
    pub replaces_in_list: Option<String>,
    /// /etc/tandem/esps gets a line for it.
    pub add_to_list: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Replacement {
    pub new: String,
    pub new_stable: String,
    pub new_size_bytes: u64,
    /// The new disk's bytes per logical sector, for its ESP's mkfs.vfat.
    pub new_logical_sector: u32,
    pub old: Old,
    pub template: String,
    pub partitions: Vec<NewPartition>,
    pub esp: Option<NewEsp>,
    /// grub-install --target=i386-pc onto the new disk (grub-pc is installed and the
    /// layout has a BIOS boot partition).
    pub bios_grub: bool,
    /// grub-pc/install_devices after the replacement.
    pub grub_devices: Option<Vec<String>>,
    /// A UEFI boot entry for the new disk's ESP starting this loader (the node runs under
    /// UEFI).
    pub efi_entry: Option<&'static str>,
    /// /boot/efi is not mounted now and its ESP is the one being made.
    pub mount_boot_efi: bool,
    /// The disks whose reads the new disk is compared with.
    pub peers: Vec<String>,
    pub warnings: Vec<String>,
}

fn matches_disk(d: &Disk, want: &str) -> bool {
    let w = want.trim_end_matches('/');
    let id = w.strip_prefix("/dev/disk/by-id/").unwrap_or(w);
    d.name == w
        || d.dev_path() == w
        || d.by_id.iter().any(|i| i == id)
        || d.serial.as_deref() == Some(w)
}

fn find_disk<'a>(disks: &'a [Disk], want: &str) -> Option<&'a Disk> {
    disks.iter().find(|d| matches_disk(d, want))
}

/// `tandem-data-2` → ("data", 2).
fn parse_label(label: &str) -> Option<(&str, u32)> {
    let rest = label.strip_prefix(PARTLABEL_PREFIX)?;
    let (role, n) = rest.rsplit_once('-')?;
    Some((role, n.parse().ok()?))
}

fn member_array<'a>(arrays: &'a [MdArray], part: &str) -> Option<&'a MdArray> {
    arrays
        .iter()
        .find(|a| a.members.iter().any(|m| m.dev == part))
}

fn esp_uuid(d: &Disk, number: u32) -> Option<String> {
    d.partitions
        .iter()
        .find(|p| p.number == number)
        .and_then(|p| {
            p.signatures.iter().find_map(|s| match s {
                Signature::Filesystem { uuid, .. } => uuid.clone(),
                _ => None,
            })
        })
}

/// Decides the replacement, or refuses with the reason and the disk named. `fresh_id`
/// gives a new FAT volume id when no listed one can be reused.
pub fn decide(
    f: &Facts,
    req: &Request,
    mut fresh_id: impl FnMut() -> String,
) -> Result<Replacement, Refused> {
    let disks = &f.inventory.disks;
    let listing = || {
        disks
            .iter()
            .map(|d| format!("{} ({})", d.dev_path(), d.stable_path()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let new = find_disk(disks, &req.new).ok_or_else(|| {
        Refused(format!(
            "{}: no such disk (give /dev/NAME, a /dev/disk/by-id name or a serial); disks: {}",
            req.new,
            listing()
        ))
    })?;
    let name = new.dev_path();
    let refuse = |why: String| Err(Refused(format!("{name}: {why}; nothing was written")));
    if new.boot_medium {
        return refuse("is the medium this system booted from".into());
    }
    if new.read_only {
        return refuse("is read-only".into());
    }
    if !new.mounts.is_empty() {
        return refuse(format!("is in use: mounted at {}", new.mounts.join(", ")));
    }
    if new.swap {
        return refuse("is in use as swap".into());
    }
    if !new.holders.is_empty() {
        return refuse(format!(
            "is in use: {} sit(s) on it (a member of an array is not a new disk)",
            new.holders.join(", ")
        ));
    }
    let sigs: Vec<String> = new
        .all_signatures()
        .iter()
        .map(|(dev, s)| format!("{dev}: {s}"))
        .collect();
    if !req.force && (new.signatures_unknown || !sigs.is_empty()) {
        let what = if new.signatures_unknown {
            "could not be read to see whether it holds data".to_string()
        } else {
            format!("holds data ({})", sigs.join("; "))
        };
        return refuse(format!("{what}; --force replaces it anyway, erasing it"));
    }

    // The disk being replaced.
    let old = match &req.old {
        Some(want) => {
            let d = find_disk(disks, want).ok_or_else(|| {
                Refused(format!(
                    "--for {want}: no such disk attached. When the failed disk is gone, leave \
                     --for out: its empty slots are found in the arrays"
                ))
            })?;
            if d.name == new.name {
                return Err(Refused(format!(
                    "--for {want} is the new disk itself; nothing was written"
                )));
            }
            let members = members_on(&f.arrays, d);
            if members.is_empty() {
                return Err(Refused(format!(
                    "--for {want}: {} is not a member of any array; nothing was written",
                    d.dev_path()
                )));
            }
            Old::Present {
                disk: d.name.clone(),
                members,
            }
        }
        None => {
            let faulty: Vec<&str> = f
                .arrays
                .iter()
                .flat_map(|a| a.faulty().map(|m| m.dev.as_str()))
                .collect();
            let failing = disks.iter().find(|d| {
                d.partitions
                    .iter()
                    .any(|p| faulty.contains(&p.name.as_str()))
            });
            if let Some(d) = failing {
                Old::Present {
                    disk: d.name.clone(),
                    members: members_on(&f.arrays, d),
                }
            } else if f.arrays.iter().any(|a| !a.missing_slots().is_empty()) {
                Old::Missing
            } else {
                return Err(Refused(format!(
                    "no array is degraded and none has a faulty member: nothing to replace. \
                     To replace a working disk, name it: tandem disk replace {} --for OLD; \
                     nothing was written",
                    req.new
                )));
            }
        }
    };
    let old_name = match &old {
        Old::Present { disk, .. } => Some(disk.as_str()),
        Old::Missing => None,
    };

    // The template: a disk whose every array partition is in sync.
    let template = disks
        .iter()
        .filter(|d| Some(d.name.as_str()) != old_name && d.name != new.name)
        .filter(|d| !d.tandem_labels().is_empty())
        .find(|d| {
            let md_parts: Vec<&str> = d
                .partitions
                .iter()
                .filter(|p| member_array(&f.arrays, &p.name).is_some())
                .map(|p| p.name.as_str())
                .collect();
            !md_parts.is_empty()
                && md_parts.iter().all(|p| {
                    f.arrays.iter().all(|a| {
                        a.members
                            .iter()
                            .filter(|m| m.dev == *p)
                            .all(|m| m.role() == MemberRole::InSync)
                    })
                })
        })
        .ok_or_else(|| {
            Refused(
                "no healthy member disk with Tandem's partition names to copy the layout from; \
                 nothing was written"
                    .into(),
            )
        })?;
    // The other member disks: what the new disk's speed is compared with, and the room
    // it needs (as much as the smallest of them has).
    let peers: Vec<&Disk> = disks
        .iter()
        .filter(|d| Some(d.name.as_str()) != old_name && d.name != new.name)
        .filter(|d| {
            d.partitions
                .iter()
                .any(|p| member_array(&f.arrays, &p.name).is_some())
        })
        .collect();
    let min = peers
        .iter()
        .map(|d| d.size_bytes)
        .min()
        .unwrap_or(template.size_bytes);
    if new.size_bytes < min {
        return refuse(format!(
            "is too small: {} , the members are {}",
            crate::answer::Size(new.size_bytes).human(),
            crate::answer::Size(min).human()
        ));
    }
    // The layout is copied as GPT entries, which count sectors: on a disk with other
    // sectors every partition would land elsewhere and have another size. md, GRUB and
    // the ESP's FAT assume one sector size across the members too. (0: not known.)
    let known = |d: &Disk| d.logical_sector != 0;
    if known(new) && known(template) && new.logical_sector != template.logical_sector {
        return refuse(format!(
            "has {}-byte logical sectors and the members ({}) have {}: the layout cannot be \
             copied onto it; use a disk with {}-byte sectors",
            new.logical_sector,
            template.dev_path(),
            template.logical_sector,
            template.logical_sector
        ));
    }

    // The new disk's index in the partition names: the replaced disk's, else the lowest
    // no attached disk uses.
    let used: Vec<u32> = disks
        .iter()
        .filter(|d| Some(d.name.as_str()) != old_name)
        .flat_map(|d| d.tandem_labels())
        .filter_map(|l| parse_label(l).map(|(_, n)| n))
        .collect();
    let old_index = old_name.and_then(|o| find_disk(disks, o)).and_then(|d| {
        d.tandem_labels()
            .first()
            .and_then(|l| parse_label(l))
            .map(|(_, n)| n)
    });
    let index = old_index.unwrap_or_else(|| (0..).find(|n| !used.contains(n)).unwrap_or(0));

    let mut partitions = Vec::new();
    let mut esp = None;
    let mut bios_grub = false;
    for p in &template.partitions {
        let Some((role, _)) = p.label.as_deref().and_then(parse_label) else {
            continue;
        };
        let dev = format!("/dev/{}", partition_name(&new.name, p.number));
        let array = member_array(&f.arrays, &p.name).map(|a| format!("/dev/{}", a.dev));
        match role {
            "esp" => {
                let old_uuid = old_name
                    .and_then(|o| find_disk(disks, o))
                    .and_then(|d| esp_uuid(d, p.number));
                let missing = f
                    .esp_list
                    .iter()
                    .flatten()
                    .find(|u| matches!(f.esps.get(*u), Some(EspContent::Missing) | None));
                esp = Some(match (old_uuid, missing) {
                    // The old disk is still attached: two ESPs with one id would make
                    // /dev/disk/by-uuid ambiguous, so the new one gets its own.
                    (Some(old), _) => NewEsp {
                        dev: dev.clone(),
                        number: p.number,
                        uuid: fresh_id(),
                        replaces_in_list: Some(old),
                        add_to_list: false,
                    },
                    (None, Some(gone)) => NewEsp {
                        dev: dev.clone(),
                        number: p.number,
                        uuid: gone.clone(),
                        replaces_in_list: None,
                        add_to_list: false,
                    },
                    (None, None) => NewEsp {
                        dev: dev.clone(),
                        number: p.number,
                        uuid: fresh_id(),
                        replaces_in_list: None,
                        add_to_list: f.esp_list.is_some(),
                    },
                });
            }
            "bios" => bios_grub = f.grub_devices.is_some(),
            _ => {}
        }
        partitions.push(NewPartition {
            number: p.number,
            dev,
            label: format!("{PARTLABEL_PREFIX}{role}-{index}"),
            array,
        });
    }
    let old_paths: Vec<String> = old_name
        .and_then(|o| find_disk(disks, o))
        .map(|d| {
            let mut v = vec![d.dev_path()];
            v.extend(d.by_id.iter().map(|i| format!("/dev/disk/by-id/{i}")));
            v
        })
        .unwrap_or_default();
    let grub_devices = f.grub_devices.as_ref().map(|devs| {
        let mut v: Vec<String> = devs
            .iter()
            .filter(|(p, present)| *present && !old_paths.contains(p))
            .map(|(p, _)| p.clone())
            .collect();
        v.push(new.stable_path());
        v
    });
    let mount_boot_efi = esp.as_ref().is_some_and(|e| {
        !e.add_to_list
            && e.replaces_in_list.is_none()
            && !f
                .esps
                .values()
                .any(|c| matches!(c, EspContent::Mounted { .. }))
    });
    let mut warnings = Vec::new();
    if new.size_bytes > min + (min / 100) {
        warnings.push(format!(
            "{name} is larger than the members ({} against {}): the rest stays unused",
            crate::answer::Size(new.size_bytes).human(),
            crate::answer::Size(min).human()
        ));
    }
    if matches!(old, Old::Present { .. }) {
        warnings.push(
            "the old disk stays attached until you pull it; its arrays run without it from \
             the first step until the rebuild ends"
                .into(),
        );
    }
    Ok(Replacement {
        new: name.clone(),
        new_stable: new.stable_path(),
        new_size_bytes: new.size_bytes,
        new_logical_sector: new.logical_sector,
        old,
        template: template.dev_path(),
        partitions,
        esp,
        bios_grub,
        grub_devices,
        efi_entry: (f.firmware == Firmware::Uefi).then_some(f.efi_loader),
        mount_boot_efi,
        peers: peers.iter().map(|d| d.name.clone()).collect(),
        warnings,
    })
}

fn members_on(arrays: &[MdArray], d: &Disk) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for a in arrays {
        for m in &a.members {
            if d.partitions.iter().any(|p| p.name == m.dev) {
                v.push((format!("/dev/{}", a.dev), format!("/dev/{}", m.dev)));
            }
        }
    }
    v
}

/// One step of the replacement.
#[derive(Debug, Clone)]
pub enum Step {
    Run(Cmd),
    /// `mdadm --add`; undone when a later add fails, so no array keeps half a new disk.
    Add {
        array: String,
        part: String,
    },
    /// Copy /boot/efi (or, while it is not mounted, another ESP) onto the new ESP.
    FillEsp {
        dev: String,
    },
    /// /etc/tandem/esps: replace `old`'s line (or add one) with `new`.
    EspList {
        old: Option<String>,
        new: String,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Run(c) if c.has_stdin() => write!(f, "$ {} < (input)", c.display()),
            Step::Run(c) => write!(f, "$ {}", c.display()),
            Step::Add { array, part } => write!(f, "$ mdadm --manage {array} --add {part}"),
            Step::FillEsp { dev } => write!(f, "copy /boot/efi onto {dev} (as esp-sync does)"),
            Step::EspList { old: Some(o), new } => {
                write!(f, "{}: {o} becomes {new}", crate::contract::ESP_LIST)
            }
            Step::EspList { old: None, new } => {
                write!(f, "{}: add {new}", crate::contract::ESP_LIST)
            }
        }
    }
}

/// The steps, in the order that keeps the arrays whole for as long as possible: the new
/// disk is prepared completely (partitions, ESP, boot code) before it joins any array.
pub fn steps(r: &Replacement, wipe: bool) -> Vec<Step> {
    let mut v = Vec::new();
    let run = |c: Cmd| Step::Run(c);
    if wipe {
        v.push(run(Cmd::new("wipefs").args(["--all", "--force", &r.new])));
    }
    v.push(run(
        Cmd::new("sgdisk").args([format!("--replicate={}", r.new), r.template.clone()])
    ));
    let mut names = Cmd::new("sgdisk").arg("--randomize-guids");
    for p in &r.partitions {
        names = names.arg(format!("--change-name={}:{}", p.number, p.label));
    }
    v.push(run(names.arg(&r.new)));
    v.push(run(Cmd::new("partprobe").arg(&r.new)));
    v.push(run(Cmd::new("udevadm").args(["settle", "--timeout=60"])));
    if wipe {
        // A used disk keeps its old partitions' contents at the same offsets: an md
        // superblock there would make `mdadm --add` see a member of another array.
        for p in &r.partitions {
            v.push(run(Cmd::new("wipefs").args(["--all", "--force", &p.dev])));
        }
    }
    if let Some(e) = &r.esp {
        let mut mkfs = Cmd::new("mkfs.vfat").args(["-F", "32"]);
        // As the install's: the sector size is shown where it is larger than 512 (0: an
        // inventory that did not say, left to mkfs.fat).
        if r.new_logical_sector > 512 {
            mkfs = mkfs.args(["-S".to_string(), r.new_logical_sector.to_string()]);
        }
        v.push(run(mkfs.args(["-i", &e.uuid.replace('-', ""), &e.dev])));
        v.push(Step::FillEsp { dev: e.dev.clone() });
        if e.add_to_list || e.replaces_in_list.is_some() {
            v.push(Step::EspList {
                old: e.replaces_in_list.clone(),
                new: e.uuid.clone(),
            });
        }
    }
    if r.bios_grub {
        v.push(run(
            Cmd::new("grub-install").args(["--target=i386-pc", &r.new_stable])
        ));
    }
    if let Old::Present { members, .. } = &r.old {
        for (array, part) in members {
            v.push(run(
                Cmd::new("mdadm").args(["--manage", array, "--fail", part, "--remove", part])
            ));
        }
    }
    for p in &r.partitions {
        if let Some(a) = &p.array {
            v.push(Step::Add {
                array: a.clone(),
                part: p.dev.clone(),
            });
        }
    }
    if r.mount_boot_efi {
        v.push(run(Cmd::new("mount").arg("/boot/efi")));
    }
    if let Some(devs) = &r.grub_devices {
        v.push(run(Cmd::new("debconf-set-selections").stdin(format!(
            "grub-pc grub-pc/install_devices multiselect {}\n",
            devs.join(", ")
        ))));
    }
    if let (Some(loader), Some(e)) = (r.efi_entry, &r.esp) {
        let disk = r.new.trim_start_matches("/dev/");
        v.push(run(Cmd::new("efibootmgr").args([
            "--quiet".to_string(),
            "--create".into(),
            "--disk".into(),
            r.new.clone(),
            "--part".into(),
            e.number.to_string(),
            "--label".into(),
            format!("debian ({disk})"),
            "--loader".into(),
            loader.into(),
        ])));
    }
    v
}

/// The plan a person reads before confirming.
pub fn describe(r: &Replacement, steps: &[Step]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let old = match &r.old {
        Old::Missing => "the missing member(s)".to_string(),
        Old::Present { disk, .. } => format!("/dev/{disk}"),
    };
    let _ = writeln!(
        o,
        "Replace {old} by {} ({}, {}), layout copied from {}",
        r.new,
        r.new_stable,
        crate::answer::Size(r.new_size_bytes).human(),
        r.template
    );
    for p in &r.partitions {
        let _ = writeln!(
            o,
            "  {:<12} {:<18} {}",
            p.dev,
            p.label,
            p.array
                .as_deref()
                .map(|a| format!("joins {a}"))
                .unwrap_or_default()
        );
    }
    if let Some(e) = &r.esp {
        let _ = writeln!(o, "  ESP {} gets volume id {}", e.dev, e.uuid);
    }
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    let _ = writeln!(
        o,
        "initramfs: unchanged (mdadm.conf names the arrays by UUID, which stays)"
    );
    let _ = writeln!(o, "Steps:");
    for s in steps {
        let _ = writeln!(o, "  {s}");
    }
    o
}

/// Rewrites the ESP list: `old`'s line becomes `new` (comments kept), or `new` is added.
fn edit_esp_list(text: &str, old: Option<&str>, new: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        let id = line.split('#').next().unwrap_or("").trim();
        if old.is_some_and(|o| o == id) {
            out.push_str(&line.replacen(id, new, 1));
            done = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !done {
        out.push_str(new);
        out.push('\n');
    }
    out
}

/// Runs the steps. A failed `mdadm --add` undoes the adds before it (fail, remove, zero
/// the superblock): the arrays are left as they were.
pub fn execute(runner: &mut Runner, steps: &[Step], say: &mut dyn FnMut(&str)) -> Result<()> {
    let mut added: Vec<(String, String)> = Vec::new();
    for s in steps {
        say(&s.to_string());
        runner.note(&format!("step: {s}"));
        match s {
            Step::Run(c) => {
                runner.run(c)?;
            }
            Step::Add { array, part } => {
                let r = runner.run(&Cmd::new("mdadm").args(["--manage", array, "--add", part]));
                if let Err(e) = r {
                    for (a, p) in added.iter().rev() {
                        let _ = runner.run(
                            &Cmd::new("mdadm").args(["--manage", a, "--fail", p, "--remove", p]),
                        );
                        let _ = runner.run(&Cmd::new("mdadm").args(["--zero-superblock", p]));
                    }
                    return Err(anyhow::Error::new(e).context(format!(
                        "adding {part} to {array} failed; {} undone, the arrays are as they \
                         were. Fix the cause and run the command again",
                        if added.is_empty() {
                            "nothing to be".to_string()
                        } else {
                            format!(
                                "the earlier add(s) of {}",
                                added
                                    .iter()
                                    .map(|x| x.1.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    )));
                }
                added.push((array.clone(), part.clone()));
            }
            Step::FillEsp { dev } => fill_esp(Path::new(dev))?,
            Step::EspList { old, new } => {
                let path = crate::contract::ESP_LIST;
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let edited = edit_esp_list(&text, old.as_deref(), new);
                let tmp = format!("{path}.tandem-tmp");
                std::fs::write(&tmp, edited).with_context(|| format!("writing {tmp}"))?;
                std::fs::rename(&tmp, path).with_context(|| format!("replacing {path}"))?;
            }
        }
    }
    Ok(())
}

/// The new ESP gets the content of /boot/efi; when /boot/efi is not mounted (its disk is
/// the one replaced), of the first other listed ESP that is there.
fn fill_esp(dev: &Path) -> Result<()> {
    use super::status::Mounted;
    let scratch = std::env::temp_dir().join(format!("tandem-replace-{}", std::process::id()));
    let target = Mounted::new(dev, scratch.join("new"), false)?;
    let boot_efi = Path::new("/boot/efi");
    let source = if crate::exec::system::mounted_device(boot_efi).is_ok() {
        None
    } else {
        let list = std::fs::read_to_string(crate::contract::ESP_LIST).unwrap_or_default();
        let new_dev = std::fs::canonicalize(dev)?;
        let other = crate::contract::read_esp_list(&list)
            .into_iter()
            .filter_map(|u| std::fs::canonicalize(Path::new("/dev/disk/by-uuid").join(u)).ok())
            .find(|d| *d != new_dev)
            .context(
                "no ESP to copy from: /boot/efi is not mounted and no other listed ESP is there",
            )?;
        Some(Mounted::new(&other, scratch.join("source"), true)?)
    };
    let from = source.as_ref().map(|m| m.dir.as_path()).unwrap_or(boot_efi);
    crate::exec::esp::mirror(from, &target.dir)
        .with_context(|| format!("copying {} onto {}", from.display(), dev.display()))?;
    // Unmounted before the directory that held both mounts goes.
    drop(target);
    drop(source);
    let _ = std::fs::remove_dir(&scratch);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::md::{
        self,
        fixture::{array, m, TempTree},
    };
    use super::*;
    use crate::hardware::{Inventory, Partition};
    use std::collections::BTreeMap;

    const GIB: u64 = 1 << 30;

    fn disk(name: &str, index: Option<u32>, size: u64) -> Disk {
        let roles = ["bios", "esp", "boot", "data"];
        Disk {
            name: name.into(),
            by_id: vec![format!("virtio-{name}")],
            size_bytes: size,
            partitions: match index {
                Some(i) => roles
                    .iter()
                    .enumerate()
                    .map(|(k, r)| Partition {
                        name: format!("{name}{}", k + 1),
                        number: k as u32 + 1,
                        label: Some(format!("tandem-{r}-{i}")),
                        signatures: if *r == "esp" {
                            vec![Signature::Filesystem {
                                fstype: "vfat".into(),
                                label: None,
                                uuid: Some(format!("AAAA-000{i}")),
                            }]
                        } else {
                            vec![]
                        },
                        ..Partition::default()
                    })
                    .collect(),
                None => vec![],
            },
            holders: if index.is_some() {
                vec!["md126".into(), "md127".into()]
            } else {
                vec![]
            },
            ..Disk::default()
        }
    }

    /// alpha with `present` of its four disks (by index), a blank 10 GiB vde, and md's state.
    fn disk_mut<'a>(f: &'a mut Facts, name: &str) -> &'a mut Disk {
        f.inventory
            .disks
            .iter_mut()
            .find(|d| d.name == name)
            .unwrap()
    }

    fn facts(t: &TempTree, present: &[u32], level: &str, bios: bool) -> Facts {
        let names = ["vda", "vdb", "vdc", "vdd"];
        let part = |i: u32, n: u32| format!("{}{n}", names[i as usize]);
        let mem = |n: u32| {
            present
                .iter()
                .map(|i| (part(*i, n), *i))
                .collect::<Vec<_>>()
        };
        let deg = 4 - present.len() as u32;
        let boot = mem(3);
        let data = mem(4);
        let bm: Vec<_> = boot
            .iter()
            .map(|(p, i)| m(p, Some(*i), "in_sync"))
            .collect();
        let dm: Vec<_> = data
            .iter()
            .map(|(p, i)| m(p, Some(*i), "in_sync"))
            .collect();
        array(
            t.path(),
            "md127",
            "boot",
            "raid1",
            4,
            deg,
            ("idle", "none"),
            &bm,
        );
        array(
            t.path(),
            "md126",
            "data",
            level,
            4,
            deg,
            ("idle", "none"),
            &dm,
        );
        let mut disks: Vec<Disk> = present
            .iter()
            .map(|i| disk(names[*i as usize], Some(*i), 10 * GIB))
            .collect();
        disks.push(disk("vde", None, 10 * GIB));
        let mut esps = BTreeMap::new();
        for i in 0..4u32 {
            let c = if !present.contains(&i) {
                EspContent::Missing
            } else if Some(&i) == present.first() && present.contains(&0) {
                EspContent::Mounted {
                    dev: format!("/dev/{}2", names[i as usize]),
                }
            } else {
                EspContent::Same {
                    dev: format!("/dev/{}2", names[i as usize]),
                }
            };
            esps.insert(format!("AAAA-000{i}"), c);
        }
        Facts {
            hostname: "alpha".into(),
            firmware: if bios { Firmware::Bios } else { Firmware::Uefi },
            arrays: md::read_arrays(t.path()).unwrap(),
            inventory: Inventory {
                disks,
                ..Inventory::default()
            },
            expected_arrays: vec![],
            esp_list: Some((0..4).map(|i| format!("AAAA-000{i}")).collect()),
            esps,
            grub_devices: bios.then(|| {
                (0..4u32)
                    .map(|i| {
                        (
                            format!("/dev/disk/by-id/virtio-{}", names[i as usize]),
                            present.contains(&i),
                        )
                    })
                    .collect()
            }),
            efi_loader: crate::contract::efi::SHIM,
            ..Facts::default()
        }
    }

    fn req(new: &str) -> Request {
        Request {
            new: new.into(),
            old: None,
            force: false,
        }
    }

    #[test]
    fn the_first_disk_gone_under_bios_raid10() {
        let t = TempTree::new("replace-bios");
        let f = facts(&t, &[1, 2, 3], "raid10", true);
        let r = decide(&f, &req("/dev/disk/by-id/virtio-vde"), || unreachable!()).unwrap();
        assert_eq!(r.old, Old::Missing);
        assert_eq!(r.template, "/dev/vdb");
        let labels: Vec<&str> = r.partitions.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "tandem-bios-0",
                "tandem-esp-0",
                "tandem-boot-0",
                "tandem-data-0"
            ]
        );
        let esp = r.esp.as_ref().unwrap();
        assert_eq!(
            (esp.uuid.as_str(), esp.dev.as_str()),
            ("AAAA-0000", "/dev/vde2")
        );
        assert!(r.bios_grub && r.mount_boot_efi && r.efi_entry.is_none());
        assert_eq!(
            r.grub_devices.as_deref().unwrap(),
            [
                "/dev/disk/by-id/virtio-vdb",
                "/dev/disk/by-id/virtio-vdc",
                "/dev/disk/by-id/virtio-vdd",
                "/dev/disk/by-id/virtio-vde"
            ]
        );
        let s: Vec<String> = steps(&r, false).iter().map(|s| s.to_string()).collect();
        let text = s.join("\n");
        assert!(
            text.contains("$ sgdisk --replicate=/dev/vde /dev/vdb"),
            "{text}"
        );
        assert!(
            text.contains("$ mkfs.vfat -F 32 -i AAAA0000 /dev/vde2"),
            "{text}"
        );
        assert!(
            text.contains("$ grub-install --target=i386-pc /dev/disk/by-id/virtio-vde"),
            "{text}"
        );
        // Boot code and ESP before any array changes.
        let first_add = s.iter().position(|l| l.contains("--add")).unwrap();
        let grub = s.iter().position(|l| l.contains("grub-install")).unwrap();
        assert!(grub < first_add, "{text}");
        assert_eq!(
            s.iter()
                .filter(|l| l.contains("--add"))
                .cloned()
                .collect::<Vec<_>>(),
            [
                "$ mdadm --manage /dev/md127 --add /dev/vde3",
                "$ mdadm --manage /dev/md126 --add /dev/vde4"
            ]
        );
    }

    #[test]
    fn uefi_raid6_makes_a_boot_entry_and_no_bios_code() {
        let t = TempTree::new("replace-uefi");
        let f = facts(&t, &[0, 2, 3], "raid6", false);
        let r = decide(&f, &req("vde"), || unreachable!()).unwrap();
        assert_eq!(r.esp.as_ref().unwrap().uuid, "AAAA-0001");
        assert!(!r.bios_grub && r.efi_entry.is_some() && !r.mount_boot_efi);
        assert_eq!(r.partitions[0].label, "tandem-bios-1");
        let text: Vec<String> = steps(&r, false).iter().map(|s| s.to_string()).collect();
        // The loader the install's entries start: shim, not GRUB behind its back.
        assert!(
            text.iter().any(
                |l| l.contains("efibootmgr --quiet --create --disk /dev/vde --part 2")
                    && l.ends_with(r"--loader '\EFI\debian\shimx64.efi'")
            ),
            "{text:?}"
        );
        assert!(!text
            .iter()
            .any(|l| l.contains("grub-install") || l.contains("debconf")));
    }

    #[test]
    fn a_4kn_new_disk_gets_its_sector_size_in_mkfs() {
        let t = TempTree::new("replace-4kn");
        let mut f = facts(&t, &[0, 2, 3], "raid6", false);
        // A 4Kn node's new disk into a 512-byte layout is refused (the partition entries
        // count sectors); into a 4Kn node's layout it gets its sector size.
        for d in &mut f.inventory.disks {
            d.logical_sector = 512;
        }
        let vde = disk_mut(&mut f, "vde");
        vde.logical_sector = 4096;
        let e = decide(&f, &req("vde"), || unreachable!()).unwrap_err().0;
        assert!(
            e.contains("/dev/vde: has 4096-byte logical sectors and the members (/dev/vd")
                && e.contains("have 512: the layout cannot be copied onto it"),
            "{e}"
        );
        for d in &mut f.inventory.disks {
            d.logical_sector = 4096;
        }
        let r = decide(&f, &req("vde"), || unreachable!()).unwrap();
        let text: Vec<String> = steps(&r, false).iter().map(|s| s.to_string()).collect();
        assert!(
            text.iter()
                .any(|l| l == "$ mkfs.vfat -F 32 -S 4096 -i AAAA0001 /dev/vde2"),
            "{text:?}"
        );
    }

    #[test]
    fn refusals_name_the_disk_and_why() {
        let t = TempTree::new("replace-refuse");
        let mut f = facts(&t, &[1, 2, 3], "raid10", true);
        let e = |f: &Facts, r: Request| decide(f, &r, || "BBBB-0000".into()).unwrap_err().0;
        assert!(
            e(&f, req("vdb")).contains("/dev/vdb: is in use: md126, md127"),
            "{}",
            e(&f, req("vdb"))
        );
        assert!(e(&f, req("sdz")).starts_with("sdz: no such disk"));
        let vde = disk_mut(&mut f, "vde");
        vde.signatures = vec![Signature::PartitionTable {
            table: "gpt".into(),
        }];
        assert!(
            e(&f, req("vde")).contains("holds data"),
            "{}",
            e(&f, req("vde"))
        );
        let forced = decide(
            &f,
            &Request {
                force: true,
                ..req("vde")
            },
            || unreachable!(),
        )
        .unwrap();
        let text: Vec<String> = steps(&forced, true).iter().map(|s| s.to_string()).collect();
        assert_eq!(text[0], "$ wipefs --all --force /dev/vde");
        assert!(
            text.contains(&"$ wipefs --all --force /dev/vde4".to_string()),
            "{text:?}"
        );
        let vde = disk_mut(&mut f, "vde");
        vde.signatures.clear();
        vde.size_bytes = 2 * GIB;
        assert!(
            e(&f, req("vde")).contains("is too small"),
            "{}",
            e(&f, req("vde"))
        );
        let vde = disk_mut(&mut f, "vde");
        vde.size_bytes = 10 * GIB;
        vde.boot_medium = true;
        assert!(e(&f, req("vde")).contains("booted from"));
    }

    #[test]
    fn nothing_degraded_needs_for() {
        let t = TempTree::new("replace-healthy");
        let f = facts(&t, &[0, 1, 2, 3], "raid10", true);
        let e = decide(&f, &req("vde"), || unreachable!()).unwrap_err().0;
        assert!(e.contains("no array is degraded"), "{e}");
        // --for a working member: its members are failed and removed, the ESP gets a new id
        // in the list (the old disk is still attached), its GRUB target is dropped.
        let r = decide(
            &f,
            &Request {
                old: Some("vdc".into()),
                ..req("vde")
            },
            || "BBBB-0000".into(),
        )
        .unwrap();
        assert_eq!(
            r.old,
            Old::Present {
                disk: "vdc".into(),
                members: vec![
                    ("/dev/md126".into(), "/dev/vdc4".into()),
                    ("/dev/md127".into(), "/dev/vdc3".into())
                ]
            }
        );
        let esp = r.esp.as_ref().unwrap();
        assert_eq!(
            (esp.uuid.as_str(), esp.replaces_in_list.as_deref()),
            ("BBBB-0000", Some("AAAA-0002"))
        );
        assert_eq!(r.partitions[3].label, "tandem-data-2");
        assert!(!r
            .grub_devices
            .as_ref()
            .unwrap()
            .iter()
            .any(|d| d.ends_with("vdc")));
        let text: Vec<String> = steps(&r, false).iter().map(|s| s.to_string()).collect();
        let fail = text
            .iter()
            .position(|l| l.contains("--fail /dev/vdc4"))
            .unwrap();
        let add = text.iter().position(|l| l.contains("--add")).unwrap();
        assert!(fail < add);
    }

    #[test]
    fn the_esp_list_keeps_its_comments() {
        let text = "# head\nAAAA-0000\t# disk0\nAAAA-0001\t# disk1\n";
        assert_eq!(
            edit_esp_list(text, Some("AAAA-0001"), "BBBB-0000"),
            "# head\nAAAA-0000\t# disk0\nBBBB-0000\t# disk1\n"
        );
        assert_eq!(edit_esp_list(text, None, "C-D"), format!("{text}C-D\n"));
    }
}
