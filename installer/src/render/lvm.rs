//! The LVM device filter. LVM has no drop-in directory for lvm.conf, but it reads
//! /etc/lvm/lvmlocal.conf after lvm.conf and any section there overrides lvm.conf's, so the
//! filter lives there and lvm.conf stays the package's. The filter accepts the data array
//! (the local PV) and the DRBD devices, and rejects everything else, above all the DRBD
//! backing volumes: they carry the same PV signature as the DRBD device on top of them.

use super::{RenderedFile, HEADER};
use crate::plan::Plan;
use std::fmt::Write as _;

pub const PATH: &str = "/etc/lvm/lvmlocal.conf";

/// The global_filter patterns, first match wins per device name.
pub fn filter(plan: &Plan) -> Vec<String> {
    let mut v = Vec::new();
    for r in &plan.drbd {
        v.push(format!("r|^{}$|", regex_escape(&r.disk)));
    }
    for r in &plan.drbd {
        v.push(format!("a|^{}$|", regex_escape(&r.device)));
    }
    v.push(format!("a|^{}$|", regex_escape(&plan.storage.lvm.pv)));
    v.push("r|.*|".into());
    v
}

fn regex_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if ".+*?()[]{}^$\\|".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

pub fn lvmlocal(plan: &Plan) -> RenderedFile {
    let quoted: Vec<String> = filter(plan).iter().map(|p| format!("\"{p}\"")).collect();
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(
        o,
        "# Overrides /etc/lvm/lvm.conf. LVM sees the data array and the DRBD devices only,\n\
         # never a DRBD backing volume.\n"
    );
    let _ = writeln!(o, "local {{\n}}\n");
    let _ = writeln!(o, "devices {{");
    if !plan.drbd.is_empty() {
        // The peer writes LVM metadata onto the DRBD device; LVM's hints (/run/lvm/hints)
        // would keep saying the device holds no PV, and the peer's VG stayed invisible here
        // (found in the QEMU pair). Without hints every command scans the few allowed devices.
        let _ = writeln!(
            o,
            "\t# The peer changes LVM metadata on the DRBD devices: no cached hints."
        );
        let _ = writeln!(o, "\thints = \"none\"");
    }
    let _ = writeln!(o, "\tglobal_filter = [ {} ]\n}}", quoted.join(", "));
    RenderedFile::new(PATH, o)
}
