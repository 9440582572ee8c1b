//! `[cluster]`: the Proxmox VE cluster and this node's place in it.

use super::names::hostname_problem;
use super::static_addresses;
use crate::answer::{Answer, Issue};
use std::collections::HashMap;
use std::net::IpAddr;

pub(super) fn check(a: &Answer, node: Option<usize>, out: &mut Vec<Issue>) {
    let Some(c) = &a.cluster else { return };
    if c.name.is_empty()
        || c.name.len() > 15
        || !c
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
    {
        out.push(Issue::new(
            "cluster.name",
            format!(
                "{:?} is not a Proxmox VE cluster name; allowed are 1 to 15 letters, digits \
                 and '-'",
                c.name
            ),
        ));
    }
    if c.nodes.is_empty() {
        out.push(Issue::new(
            "cluster.nodes",
            "lists no nodes; list every node, this one included",
        ));
        return;
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addrs: HashMap<IpAddr, String> = HashMap::new();
    let mut macs: HashMap<String, usize> = HashMap::new();
    for (i, n) in c.nodes.iter().enumerate() {
        let p = format!("cluster.nodes[{i}]");
        if let Some(prob) = hostname_problem(&n.name) {
            out.push(Issue::new(format!("{p}.name"), prob));
        } else if let Some(first) = names.insert(&n.name, i) {
            out.push(Issue::new(
                format!("{p}.name"),
                format!(
                    "node {} is already listed at cluster.nodes[{first}]",
                    n.name
                ),
            ));
        }
        let mut own = vec![(format!("{p}.address"), n.address)];
        if let Some(r) = n.replication_address {
            own.push((format!("{p}.replication-address"), r));
        }
        for (path, ip) in own {
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
                out.push(Issue::new(path, format!("{ip} cannot be a node's address")));
            } else if let Some(first) = addrs.insert(ip, path.clone()) {
                out.push(Issue::new(path, format!("{ip} is already used at {first}")));
            }
        }
        for (j, m) in n.macs.iter().enumerate() {
            if let Some(first) = macs.insert(m.0.clone(), i) {
                out.push(Issue::new(
                    format!("{p}.macs[{j}]"),
                    format!(
                        "MAC {m} already identifies node {}; each MAC belongs to one node",
                        c.nodes[first].name
                    ),
                ));
            }
        }
    }
    let all: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    let host = &a.system.hostname;
    match node {
        None => {
            if !host.is_empty() {
                out.push(Issue::new(
                    "system.hostname",
                    format!(
                        "this node {host} is not in cluster.nodes ({}); list it there, or set \
                         the host name to one of them",
                        all.join(", ")
                    ),
                ));
            }
        }
        Some(i) => {
            let me = &c.nodes[i];
            if !host.is_empty() && host != &me.name {
                out.push(Issue::new(
                    "system.hostname",
                    format!(
                        "is {host} but this machine is cluster node {}; they must agree, since \
                         the cluster knows nodes by host name",
                        me.name
                    ),
                ));
            }
            let statics = static_addresses(a);
            if !statics.iter().any(|net| net.addr() == me.address) {
                let list: Vec<String> = statics.iter().map(|n| n.to_string()).collect();
                out.push(Issue::new(
                    format!("cluster.nodes[{i}].address"),
                    format!(
                        "{} is not one of this node's static addresses ({}); the cluster link \
                         needs a fixed address in network.addresses",
                        me.address,
                        super::join(&list)
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    fn issues(cluster: &str, node: Option<usize>) -> Vec<crate::answer::Issue> {
        let a = answer(|s| format!("{s}\n{cluster}"));
        let mut out = Vec::new();
        super::check(&a, node, &mut out);
        out
    }

    #[test]
    fn cluster_checks() {
        let ok = "[cluster]\nname = \"lab\"\nnodes = [{ name = \"pve1\", address = \"10.0.0.5\" }, { name = \"pve2\", address = \"10.0.0.6\" }]";
        assert_eq!(issues(ok, Some(0)), vec![]);
        assert_eq!(paths(&issues(ok, None)), vec!["system.hostname"]);
        let bad = "[cluster]\nname = \"a_very_long_cluster\"\nnodes = [{ name = \"pve1\", address = \"10.0.0.9\" }, { name = \"pve1\", address = \"10.0.0.9\" }]";
        assert_eq!(
            paths(&issues(bad, Some(0))),
            vec![
                "cluster.name",
                "cluster.nodes[1].name",
                "cluster.nodes[1].address",
                "cluster.nodes[0].address"
            ]
        );
    }
}
