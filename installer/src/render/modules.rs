//! /etc/modules-load.d/tandem.conf: the kernel modules the configured features need,
//! loaded at boot before anything uses them. ifupdown2 would load the network ones on
//! demand too; listing them makes the dependency visible and early. The seed also loaded
//! `loop`: not needed today, the loop driver loads itself through /dev/loop-control.

use super::{RenderedFile, HEADER};
use crate::plan::Plan;
use std::fmt::Write as _;

pub fn modules(plan: &Plan) -> RenderedFile {
    let net = &plan.network;
    let names = |v: Vec<&str>| v.join(" ");
    let mut want: Vec<(&str, String)> = Vec::new();
    if !net.bonds.is_empty() {
        want.push((
            "bonding",
            names(net.bonds.iter().map(|b| b.name.as_str()).collect()),
        ));
    }
    if !net.vlans.is_empty() {
        want.push((
            "8021q",
            names(net.vlans.iter().map(|v| v.name.as_str()).collect()),
        ));
    }
    if !net.bridges.is_empty() {
        want.push((
            "bridge",
            names(net.bridges.iter().map(|b| b.name.as_str()).collect()),
        ));
    }
    if !plan.drbd.is_empty() {
        want.push((
            "drbd",
            names(plan.drbd.iter().map(|r| r.name.as_str()).collect()),
        ));
    }
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    if want.is_empty() {
        let _ = writeln!(o, "# No feature of this node needs an extra module.");
    }
    for (m, why) in want {
        let _ = writeln!(o, "# for {why}\n{m}");
    }
    RenderedFile::new("/etc/modules-load.d/tandem.conf", o)
}
