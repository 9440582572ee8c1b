//! /etc/mdadm/mdadm.conf. ARRAY lines name arrays by the UUID the plan fixed and the
//! install creates them with (`mdadm --create --uuid`): mdadm ≥ 4.3 takes only the UUID as
//! an array's identity, so the file is complete up front, and the initramfs assembles
//! exactly these arrays as /dev/md/boot and /dev/md/data, the names fstab and the LVM
//! filter use.

use super::{RenderedFile, HEADER};
use crate::plan::Plan;
use std::fmt::Write as _;

pub fn mdadm_conf(plan: &Plan) -> RenderedFile {
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(o, "# Arrays are identified by UUID; see mdadm.conf(5).\n");
    let _ = writeln!(o, "HOMEHOST <system>");
    let _ = writeln!(o, "CREATE owner=root group=disk mode=0660 auto=yes");
    let _ = writeln!(o, "MAILADDR root\n");
    for a in &plan.storage.arrays {
        let _ = writeln!(o, "ARRAY {} metadata={} UUID={}", a.dev, a.metadata, a.uuid);
    }
    RenderedFile::new("/etc/mdadm/mdadm.conf", o)
}
