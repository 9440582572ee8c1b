//! The plan: everything the installer will do, decided up front as a pure function of
//! (answer, inventory), printable before a single byte is written.

pub mod drbd;
pub mod network;
pub mod packages;
pub mod storage;
mod text;

use crate::answer::{Answer, FirmwareTarget, Issue, WipePolicy};
use crate::hardware::{Firmware, Inventory};
use serde::Serialize;

pub use drbd::{DrbdHost, DrbdSync, PlannedDrbd};
pub use network::{NetworkPlan, PlannedBond, PlannedBridge, PlannedNic, PlannedVlan};
pub use packages::PlannedPackage;
pub use storage::{
    DevPath, FsType, LeftOutDisk, LogicalVolume, MdArray, Mount, PartRole, PlannedDisk, PlannedFs,
    PlannedPartition, StoragePlan, VolumeGroup,
};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    pub hostname: String,
    pub fqdn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The cluster node this plan is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The firmware the machine booted the installer with.
    pub machine_firmware: Firmware,
    /// The firmware the disks are made bootable for.
    pub firmware: FirmwareTarget,
    pub cpu_vendor: String,
    /// When a selected disk may be wiped (checked against the disks before any write).
    pub wipe: WipePolicy,
    pub storage: StoragePlan,
    pub network: NetworkPlan,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drbd: Vec<PlannedDrbd>,
    pub packages: Vec<PlannedPackage>,
    pub grub: GrubTargets,
    /// Every file the installer writes into the target, from the renderers.
    pub files: Vec<PlannedFile>,
}

impl Plan {
    /// The exact words that confirm erasing the selected disks.
    pub fn confirmation_text(&self) -> String {
        erase_phrase(self.storage.disks.iter().map(|d| d.name.as_str()))
    }
}

/// "erase sda sdb sdc": what a person types to let disks be erased, in the installer, the
/// wizard and `disk replace` alike. Naming every disk makes a stray keypress harmless.
pub fn erase_phrase<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    format!("erase {}", names.join(" "))
}

/// Where GRUB goes: so the machine boots from any surviving disk.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct GrubTargets {
    /// Every selected disk by its stable by-id path (grub-install --target=i386-pc).
    pub bios: Vec<String>,
    /// Every ESP (grub-install --target=x86_64-efi, then the sync hook keeps them equal).
    pub efi: Vec<EspTarget>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EspTarget {
    pub dev: DevPath,
    pub uuid: String,
    pub disk: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedFile {
    pub path: String,
    pub mode: Mode,
}

/// A file's permission bits; shown (and serialized) in octal, as `chmod` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A target that leaves out the firmware this machine booted with would install a system
/// this machine, as it is set up now, cannot boot.
fn firmware_issues(answer: &Answer, inv: &Inventory) -> Vec<Issue> {
    let target = answer.storage.firmware;
    let (booted, ok) = match inv.machine.firmware {
        Firmware::Bios => ("BIOS", target.bios()),
        Firmware::Uefi => ("UEFI", target.uefi()),
    };
    if ok {
        return vec![];
    }
    vec![Issue::new(
        "storage.firmware",
        format!(
            "this machine booted the installer with {booted} firmware, but firmware = {:?} \
             makes the disks bootable for {} only: it would not boot as set up now; use \
             \"both\" (the default), or switch the machine's firmware and boot the installer \
             again",
            crate::answer::enum_name(&target),
            if booted == "BIOS" { "UEFI" } else { "BIOS" }
        ),
    )]
}

/// Builds the plan for one node. Errors are Issues with key paths, placed in the answer
/// file by the caller's SourceMap: disk selection, NIC matching, capacity. `files` lists
/// the files the plan writes (the renderers' list, handed in by the session, so the plan
/// shows exactly what gets written without depending on the renderers).
pub fn build(
    answer: &Answer,
    node: Option<usize>,
    inv: &Inventory,
    files: impl FnOnce(&Answer, &Plan) -> Vec<PlannedFile>,
) -> Result<Plan, Vec<Issue>> {
    let mut issues = firmware_issues(answer, inv);
    let storage = crate::hardware::select::match_disks(&answer.storage.disks, inv, "storage.disks")
        .and_then(|m| storage::build(answer, &m));
    let network = network::build(answer, inv);
    let (storage, network) = match (storage, network) {
        (Ok(s), Ok(n)) => (s, n),
        (s, n) => {
            if let Err(mut e) = s {
                issues.append(&mut e);
            }
            if let Err(mut e) = n {
                issues.append(&mut e);
            }
            return Err(issues);
        }
    };
    if !issues.is_empty() {
        return Err(issues);
    }
    let drbd = drbd::build(answer, node, &storage, &network)?;
    let packages = packages::build(answer, inv, &storage);
    let grub = GrubTargets {
        bios: if answer.storage.firmware.bios() {
            storage
                .disks
                .iter()
                .map(|d| d.stable_path.clone())
                .collect()
        } else {
            vec![]
        },
        efi: storage
            .filesystems
            .iter()
            .filter(|f| f.fstype == FsType::Vfat)
            .filter_map(|f| {
                let disk = storage
                    .disks
                    .iter()
                    .find(|d| d.partitions.iter().any(|p| p.dev == f.dev))?;
                Some(EspTarget {
                    dev: f.dev.clone(),
                    uuid: f.uuid.clone()?,
                    disk: disk.stable_path.clone(),
                })
            })
            .collect(),
    };
    let sys = &answer.system;
    let cluster = answer.cluster.as_ref();
    let mut plan = Plan {
        hostname: sys.hostname.clone(),
        fqdn: format!("{}.{}", sys.hostname, sys.domain),
        cluster: cluster.map(|c| c.name.clone()),
        node: cluster.zip(node).map(|(c, i)| c.nodes[i].name.clone()),
        machine_firmware: inv.machine.firmware,
        firmware: answer.storage.firmware,
        cpu_vendor: inv.machine.cpu_vendor.clone(),
        wipe: answer.storage.wipe,
        storage,
        network,
        drbd,
        packages,
        grub,
        files: vec![],
    };
    plan.files = files(answer, &plan);
    Ok(plan)
}
