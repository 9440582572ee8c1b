//! systemd .link files that pin each used NIC's name to its permanent MAC, so names never
//! move between boots, kernels or added cards. The permanent MAC, not the current one: a
//! bond member's current MAC becomes the bond's.

use super::{RenderedFile, HEADER};
use crate::plan::Plan;

pub fn links(plan: &Plan) -> Vec<RenderedFile> {
    if !plan.network.pin_names {
        return vec![];
    }
    plan.network
        .nics
        .iter()
        .map(|n| {
            RenderedFile::new(
                format!("/etc/systemd/network/10-tandem-{}.link", n.name),
                format!(
                    "{HEADER}\n# Pins the name {} to the NIC with this permanent MAC.\n\
                     [Match]\nPermanentMACAddress={}\n\n[Link]\nName={}\n",
                    n.name, n.mac, n.name
                ),
            )
        })
        .collect()
}
