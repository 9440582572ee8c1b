//! /etc/resolv.conf: the system domain searched first, then the answer's search domains.

use super::{RenderedFile, HEADER};
use crate::plan::Plan;
use std::fmt::Write as _;

pub fn resolv_conf(plan: &Plan) -> RenderedFile {
    let net = &plan.network;
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(o, "search {}", net.search.join(" "));
    for d in &net.dns {
        let _ = writeln!(o, "nameserver {d}");
    }
    RenderedFile::new("/etc/resolv.conf", o)
}
