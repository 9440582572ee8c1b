//! /etc/fstab from the plan's mounts. Names, not UUIDs: LVs as /dev/<vg>/<lv> (names
//! Tandem chose, stable, as PVE's installer writes them), /boot as /dev/md/boot (pinned by
//! mdadm.conf), ESPs by the FAT volume id the plan fixed before mkfs. So fstab is complete
//! before anything exists and needs no placeholder filled in later.

use super::{RenderedFile, HEADER};
use crate::plan::Plan;
use std::fmt::Write as _;

pub fn fstab(plan: &Plan) -> RenderedFile {
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(
        o,
        "# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>"
    );
    for m in &plan.storage.mounts {
        let _ = writeln!(
            o,
            "{}\t{}\t{}\t{}\t{}\t{}",
            m.spec, m.mountpoint, m.fstype, m.options, m.dump, m.pass
        );
    }
    if plan.storage.disks.len() > 1 && plan.firmware.uefi() {
        let _ = writeln!(
            o,
            "# The other disks' ESPs are not mounted: tandem esp-sync mounts each by the ids \
             in /etc/tandem/esps."
        );
    }
    RenderedFile::new("/etc/fstab", o)
}
