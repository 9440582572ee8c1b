//! The last check before a disk is written, as coreos-installer does it: re-read the live
//! state and refuse a disk that is mounted, used as swap, held by an md array or a
//! device-mapper device, or the boot medium. The rule and its wording are
//! [`disk_busy`]'s, the same the answer matcher applies.

use super::detect::detect;
use crate::hardware::select::disk_busy;
use std::path::Path;

/// Why the installer will not write to some of the disks it was asked to.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExclusiveError {
    #[error("refusing to write: {}", .0.iter().map(|(d, why)| format!("/dev/{d}: {why}")).collect::<Vec<_>>().join("; "))]
    Busy(Vec<(String, String)>),
    #[error("refusing to write: no disk named {0} on this machine")]
    Missing(String),
    #[error("refusing to write: cannot read the machine's state: {0}")]
    Unreadable(String),
}

/// Re-reads the machine under `sysroot` (`/` when live) and checks every named disk.
pub fn check(disks: &[String], sysroot: &Path) -> Result<(), ExclusiveError> {
    let inv = detect(sysroot).map_err(|e| ExclusiveError::Unreadable(format!("{e:#}")))?;
    let mut busy = Vec::new();
    for name in disks {
        let name = name.trim_start_matches("/dev/");
        let d = inv
            .disk(name)
            .ok_or_else(|| ExclusiveError::Missing(name.to_string()))?;
        if let Some(why) = disk_busy(d) {
            busy.push((d.name.clone(), why));
        }
    }
    if busy.is_empty() {
        Ok(())
    } else {
        Err(ExclusiveError::Busy(busy))
    }
}
