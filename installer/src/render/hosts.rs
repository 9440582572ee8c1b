//! /etc/hostname and /etc/hosts. PVE's cluster stack resolves the node's own name to its
//! real address, so /etc/hosts has the node's IP with FQDN and short name, every cluster
//! peer, and no Debian-style 127.0.1.1 line (the seed removed it by hand).

use super::{RenderedFile, HEADER};
use crate::answer::{AddressMethod, Answer};
use crate::plan::Plan;
use std::fmt::Write as _;
use std::net::IpAddr;

pub fn hostname(plan: &Plan) -> RenderedFile {
    RenderedFile::new("/etc/hostname", format!("{}\n", plan.hostname))
}

/// This node's address: its cluster address, else its first static IPv4 address.
fn own_address(answer: &Answer, plan: &Plan) -> Option<IpAddr> {
    if let (Some(c), Some(n)) = (&answer.cluster, &plan.node) {
        if let Some(me) = c.nodes.iter().find(|x| &x.name == n) {
            return Some(me.address);
        }
    }
    let statics = plan
        .network
        .addresses
        .iter()
        .filter_map(|a| match a.address {
            AddressMethod::Static(n) => Some(n.addr()),
            _ => None,
        });
    let all: Vec<IpAddr> = statics.collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied()
}

pub fn hosts(answer: &Answer, plan: &Plan) -> RenderedFile {
    let domain = &answer.system.domain;
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(o, "127.0.0.1\tlocalhost");
    let me = own_address(answer, plan);
    match me {
        Some(ip) => {
            let _ = writeln!(o, "{ip}\t{} {}", plan.fqdn, plan.hostname);
        }
        None => {
            let _ = writeln!(
                o,
                "# {} has no static address: add its address here for Proxmox VE",
                plan.fqdn
            );
        }
    }
    // The name resolves to one address per family: PVE takes the node's IP from it, so a
    // second IPv4 line (a replication link, say) would be ambiguous. A static address of
    // the other family names the node too.
    let other = plan.network.addresses.iter().find_map(|a| match a.address {
        AddressMethod::Static(n) if me.is_some_and(|m| m.is_ipv4() != n.addr().is_ipv4()) => {
            Some(n.addr())
        }
        _ => None,
    });
    if let Some(ip) = other {
        let _ = writeln!(o, "{ip}\t{} {}", plan.fqdn, plan.hostname);
    }
    if let Some(c) = &answer.cluster {
        for n in c.nodes.iter().filter(|n| n.name != plan.hostname) {
            let _ = writeln!(o, "{}\t{}.{domain} {}", n.address, n.name, n.name);
        }
    }
    o.push_str(
        "\n# IPv6\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    RenderedFile::new("/etc/hosts", o)
}
