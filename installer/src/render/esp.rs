//! /etc/tandem/esps: the FAT volume ids of every disk's ESP, the list `tandem esp-sync`
//! mirrors /boot/efi onto after GRUB updates.

use super::{RenderedFile, HEADER};
use crate::contract::ESP_LIST;
use crate::plan::Plan;
use std::fmt::Write as _;

pub fn esp_list(plan: &Plan) -> Option<RenderedFile> {
    if plan.grub.efi.is_empty() {
        return None;
    }
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(
        o,
        "# Every disk's EFI system partition, by filesystem UUID."
    );
    for e in &plan.grub.efi {
        let _ = writeln!(o, "{}\t# {}", e.uuid, e.disk);
    }
    Some(RenderedFile::new(ESP_LIST, o))
}
