//! `tandem esp-sync`: run by an apt hook on an installed node, so every disk's ESP stays
//! bootable after GRUB upgrades.

use anyhow::{Context, Result};
use std::path::Path;

pub fn run(source: &Path, list: &Path, by_uuid: &Path, quiet: bool) -> Result<()> {
    use crate::exec::esp::{self, EspOutcome};
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        // A node installed without UEFI (or by something else) has no list: nothing to do.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", list.display())),
    };
    let uuids = crate::contract::read_esp_list(&text);
    let scratch = std::env::temp_dir().join(format!("tandem-esp-sync.{}", std::process::id()));
    let mut runner = crate::exec::runner::Runner::unlogged();
    let res = esp::sync_all(&mut runner, source, &uuids, by_uuid, &scratch);
    // Never recursive: an ESP whose unmount failed must not be emptied.
    let _ = std::fs::remove_dir(&scratch);
    let mut missing = 0;
    for (uuid, outcome) in res? {
        match outcome {
            EspOutcome::Source => {}
            EspOutcome::Missing => {
                missing += 1;
                eprintln!("tandem esp-sync: ESP {uuid} not found (failed or removed disk?)");
            }
            EspOutcome::Synced(r) if !quiet => println!(
                "ESP {uuid}: {} copied, {} removed, {} unchanged",
                r.copied, r.removed, r.unchanged
            ),
            EspOutcome::Synced(_) => {}
        }
    }
    if missing > 0 && !quiet {
        eprintln!("tandem esp-sync: {missing} ESP(s) missing; the others are in sync");
    }
    Ok(())
}
