//! The optional DRBD peer: whether there is one (asked before the volumes, since its
//! backing volume takes the rest of the array), then the cluster name, the peer's name and
//! address, and the NIC replication runs over.

use super::draft::{own_ip, Draft};
use super::{network, Kind, Reply};
use crate::answer::AddressMethod;
use crate::hardware::{Inventory, Nic};
use ipnet::IpNet;
use std::net::IpAddr;

type Shown = (String, Vec<String>, Kind);

pub fn wanted_prompt(d: &Draft) -> Shown {
    (
        "DRBD peer".into(),
        vec![
            "With a peer, volume \"drbd\" is replicated to the other node (DRBD resource r0)"
                .into(),
            "and both nodes form a Proxmox VE cluster.".into(),
        ],
        Kind::Select {
            items: vec![
                "no peer: a single node".into(),
                "a peer node: replicate volume drbd with DRBD".into(),
            ],
            default: usize::from(d.drbd),
        },
    )
}

pub fn wanted_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    d.drbd = reply.choice(2)? == 1;
    Ok(())
}

/// Cluster name: the reply, else the domain's first label (the seed's "minobr" from
/// "minobr.local"), else the host name.
pub fn cluster_name(d: &Draft) -> String {
    if let Some(c) = &d.cluster_name {
        return c.clone();
    }
    let from = |s: &str| -> String {
        s.split('.')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(15)
            .collect()
    };
    let c = from(d.domain.as_deref().unwrap_or_default());
    if c.is_empty() {
        from(d.hostname.as_deref().unwrap_or_default())
    } else {
        c
    }
}

pub fn cluster_name_prompt(d: &Draft) -> Shown {
    (
        "Proxmox VE cluster name".into(),
        vec!["Up to 15 letters, digits and '-'. Both nodes use the same name.".into()],
        Kind::Input {
            default: Some(cluster_name(d)),
        },
    )
}

pub fn cluster_name_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    if t.is_empty() {
        return Err("a cluster name is needed".into());
    }
    d.cluster_name = Some(t);
    Ok(())
}

pub fn peer_name_prompt(d: &Draft) -> Shown {
    (
        "Host name of the peer node".into(),
        vec![],
        Kind::Input {
            default: d.peer_name.clone(),
        },
    )
}

pub fn peer_name_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    if t.is_empty() {
        return Err("the peer's host name is needed".into());
    }
    if d.hostname.as_deref() == Some(t.as_str()) {
        return Err(format!("{t} is this node's own name"));
    }
    d.peer_name = Some(t);
    Ok(())
}

pub fn peer_address_prompt(d: &Draft) -> Shown {
    (
        format!(
            "Cluster address of {}",
            d.peer_name.as_deref().unwrap_or("the peer")
        ),
        vec![format!(
            "This node's is {}.",
            own_ip(d).map(|a| a.to_string()).unwrap_or_default()
        )],
        Kind::Input {
            default: d.peer_address.map(|a| a.to_string()),
        },
    )
}

fn parse_ip(t: &str) -> Result<IpAddr, String> {
    t.parse().map_err(|_| {
        format!("{t:?} is not an IP address (without prefix length), e.g. 192.168.1.11")
    })
}

pub fn peer_address_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let a = parse_ip(&reply.text()?)?;
    if let Some(me) = own_ip(d) {
        if me == a {
            return Err(format!("{a} is this node's own address"));
        }
        if me.is_ipv4() != a.is_ipv4() {
            return Err(format!(
                "{a} and this node's {me} are not of one IP version"
            ));
        }
    }
    d.peer_address = Some(a);
    Ok(())
}

/// NICs not in the uplink: candidates for a replication link of its own.
pub fn free_nics<'a>(d: &Draft, inv: &'a Inventory) -> Vec<&'a Nic> {
    let up = network::members(d, inv);
    inv.physical_nics()
        .filter(|n| !up.contains(&n.name))
        .collect()
}

pub fn replication_nic_prompt(d: &Draft, inv: &Inventory) -> Shown {
    let free = free_nics(d, inv);
    let mut items = vec![format!(
        "the cluster network ({}, {})",
        network::address_interface(d),
        own_ip(d).map(|a| a.to_string()).unwrap_or_default()
    )];
    items.extend(free.iter().map(|n| network::nic_row(n)));
    let default = d
        .replication_nic
        .as_ref()
        .and_then(|r| free.iter().position(|n| &n.name == r))
        .map_or(0, |i| i + 1);
    (
        "Which link DRBD replicates over".into(),
        vec!["A direct cable between the nodes keeps resync off the cluster network.".into()],
        Kind::Select { items, default },
    )
}

pub fn replication_nic_apply(d: &mut Draft, inv: &Inventory, reply: Reply) -> Result<(), String> {
    let free = free_nics(d, inv);
    let i = reply.choice(free.len() + 1)?;
    d.replication_nic = (i > 0).then(|| free[i - 1].name.clone());
    Ok(())
}

pub fn replication_address_prompt(d: &Draft) -> Shown {
    (
        format!(
            "This node's replication address on {}",
            d.replication_nic.as_deref().unwrap_or_default()
        ),
        vec!["With prefix length, in a subnet of its own, e.g. 10.99.0.1/30.".into()],
        Kind::Input {
            default: d.replication_address.map(|a| a.to_string()),
        },
    )
}

fn cluster_subnet(d: &Draft) -> Option<IpNet> {
    match d.address {
        Some(AddressMethod::Static(n)) => Some(n.trunc()),
        _ => None,
    }
}

pub fn replication_address_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    let n: IpNet = t
        .parse()
        .map_err(|_| format!("{t:?} is not an address with prefix length, e.g. 10.99.0.1/30"))?;
    if let Some(c) = cluster_subnet(d) {
        if c.contains(&n.addr()) || n.contains(&c.addr()) {
            return Err(format!(
                "{n} overlaps the cluster network {c}; a replication link needs a subnet of its own"
            ));
        }
    }
    if d.peer_replication_address.is_some_and(|p| !n.contains(&p)) {
        d.peer_replication_address = None;
    }
    d.replication_address = Some(n);
    Ok(())
}

pub fn peer_replication_address_prompt(d: &Draft) -> Shown {
    let default = d.peer_replication_address.or_else(|| {
        d.replication_address
            .and_then(|n| n.hosts().find(|h| *h != n.addr() && *h != n.network()))
    });
    (
        format!(
            "Replication address of {}",
            d.peer_name.as_deref().unwrap_or("the peer")
        ),
        vec![match d.replication_address {
            Some(n) => format!("In {} (this node has {}).", n.trunc(), n.addr()),
            None => String::new(),
        }],
        Kind::Input {
            default: default.map(|a| a.to_string()),
        },
    )
}

pub fn peer_replication_address_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let a = parse_ip(&reply.text()?)?;
    if let Some(n) = d.replication_address {
        if !n.contains(&a) {
            return Err(format!(
                "{a} is not in the replication subnet {}",
                n.trunc()
            ));
        }
        if n.addr() == a {
            return Err(format!("{a} is this node's own replication address"));
        }
    }
    d.peer_replication_address = Some(a);
    Ok(())
}
