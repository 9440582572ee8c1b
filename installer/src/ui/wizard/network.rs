//! The uplink (one NIC, or a bond of the NICs that have a link), VLANs each in a bridge
//! of its own, the bridge vmbr0 over the uplink as Proxmox VE has it, this node's
//! address, gateway (inside the address's subnet) and name servers.

use super::draft::Draft;
use super::{Kind, Reply};
use crate::answer::{AddressMethod, BondMode};
use crate::hardware::{Inventory, Nic};
use ipnet::IpNet;
use std::net::IpAddr;

pub const BOND: &str = "bond0";
pub const BRIDGE: &str = "vmbr0";
/// Each VLAN's bridge, as the answer file's `vlans.bridge` template.
pub const VLAN_BRIDGE: &str = "vmbr{id}";

type Shown = (String, Vec<String>, Kind);

/// The uplink NICs: the reply, else the NICs with a link (else the first NIC).
pub fn members(d: &Draft, inv: &Inventory) -> Vec<String> {
    if let Some(m) = &d.members {
        return m.clone();
    }
    let up: Vec<String> = inv
        .physical_nics()
        .filter(|n| n.carrier)
        .map(|n| n.name.clone())
        .collect();
    if up.is_empty() {
        inv.physical_nics()
            .take(1)
            .map(|n| n.name.clone())
            .collect()
    } else {
        up
    }
}

pub fn nic_row(n: &Nic) -> String {
    let speed = match (n.carrier, n.speed_mbps) {
        (false, _) => "no link".to_string(),
        (true, Some(s)) if s >= 1000 => format!("link up, {} Gb/s", s / 1000),
        (true, Some(s)) => format!("link up, {s} Mb/s"),
        (true, None) => "link up".to_string(),
    };
    format!(
        "{:<12} {}  {:<10} {}",
        n.name,
        n.hw_mac(),
        n.driver.as_deref().unwrap_or("-"),
        speed
    )
}

pub fn members_prompt(d: &Draft, inv: &Inventory) -> Shown {
    let nics: Vec<&Nic> = inv.physical_nics().collect();
    let cur = members(d, inv);
    (
        "Uplink NICs".into(),
        vec![
            "Two or more selected NICs become bond bond0; a single one is used directly.".into(),
            "Proposed: the NICs that have a link. Space toggles, Enter accepts.".into(),
        ],
        Kind::MultiSelect {
            items: nics.iter().map(|n| nic_row(n)).collect(),
            checked: nics.iter().map(|n| cur.contains(&n.name)).collect(),
        },
    )
}

pub fn members_apply(d: &mut Draft, inv: &Inventory, reply: Reply) -> Result<(), String> {
    let nics: Vec<&Nic> = inv.physical_nics().collect();
    let picked = reply.choices(nics.len())?;
    if picked.is_empty() {
        return Err("select at least one NIC (space toggles a NIC)".into());
    }
    let names: Vec<String> = picked.iter().map(|i| nics[*i].name.clone()).collect();
    d.members = Some(names);
    // A replication NIC that is now an uplink is not free any more.
    if d.replication_nic
        .as_ref()
        .is_some_and(|r| d.members.as_ref().is_some_and(|m| m.contains(r)))
    {
        d.replication_nic = None;
    }
    Ok(())
}

const MODES: [(BondMode, &str); 2] = [
    (
        BondMode::ActiveBackup,
        "active-backup  one link carries traffic, another takes over; any switch",
    ),
    (
        BondMode::Lacp,
        "802.3ad        LACP, all links carry traffic; switch ports must form a LAG",
    ),
];

pub fn mode_prompt(d: &Draft) -> Shown {
    (
        "Bond mode of bond0".into(),
        vec![],
        Kind::Select {
            items: MODES.iter().map(|(_, t)| t.to_string()).collect(),
            default: MODES
                .iter()
                .position(|(m, _)| *m == d.bond_mode)
                .unwrap_or(0),
        },
    )
}

pub fn mode_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    d.bond_mode = MODES[reply.choice(MODES.len())?].0;
    Ok(())
}

pub fn vlans_prompt(d: &Draft, inv: &Inventory) -> Shown {
    let cur = if d.vlans.is_empty() {
        "none".to_string()
    } else {
        d.vlans
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    (
        "Tagged VLANs".into(),
        vec![
            format!(
                "Bridge {BRIDGE} carries the untagged traffic of {}.",
                super::draft::uplink(d, inv)
            ),
            "Each VLAN id listed here gets a bridge of its own, vmbr<id> (e.g. 7,370).".into(),
            "\"none\" for no VLANs.".into(),
        ],
        Kind::Input { default: Some(cur) },
    )
}

fn parse_vlans(t: &str) -> Result<Vec<u16>, String> {
    if t.is_empty() || t == "none" {
        return Ok(vec![]);
    }
    let mut v = Vec::new();
    for part in t.split([',', ' ']).filter(|s| !s.is_empty()) {
        let id: u16 = part
            .parse()
            .ok()
            .filter(|i| (1..=4094).contains(i))
            .ok_or_else(|| format!("{part:?} is not a VLAN id; ids are 1 to 4094"))?;
        if v.contains(&id) {
            return Err(format!("VLAN {id} is listed twice"));
        }
        v.push(id);
    }
    Ok(v)
}

pub fn vlans_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    d.vlans = parse_vlans(&reply.text()?)?;
    if let Some(i) = &d.address_interface {
        if !bridges(d).contains(i) {
            d.address_interface = None;
        }
    }
    Ok(())
}

fn bridges(d: &Draft) -> Vec<String> {
    let mut v = vec![BRIDGE.to_string()];
    v.extend(
        d.vlans
            .iter()
            .map(|id| VLAN_BRIDGE.replace("{id}", &id.to_string())),
    );
    v
}

pub fn address_interface(d: &Draft) -> String {
    d.address_interface.clone().unwrap_or_else(|| BRIDGE.into())
}

pub fn address_interface_prompt(d: &Draft, inv: &Inventory) -> Shown {
    let b = bridges(d);
    let up = super::draft::uplink(d, inv);
    let items = b
        .iter()
        .enumerate()
        .map(|(i, name)| match i {
            0 => format!("{name:<9} untagged on {up}"),
            _ => format!("{name:<9} VLAN {} on {up}", d.vlans[i - 1]),
        })
        .collect();
    let cur = address_interface(d);
    (
        "Which bridge holds this node's address".into(),
        vec![],
        Kind::Select {
            items,
            default: b.iter().position(|x| *x == cur).unwrap_or(0),
        },
    )
}

pub fn address_interface_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let b = bridges(d);
    d.address_interface = Some(b[reply.choice(b.len())?].clone());
    Ok(())
}

pub fn is_static(a: &AddressMethod) -> bool {
    matches!(a, AddressMethod::Static(_))
}

pub fn address_prompt(d: &Draft) -> Shown {
    (
        format!("Address of this node on {}", address_interface(d)),
        vec![
            "An address with prefix length: 192.168.1.10/24 or 2001:db8::10/64;".into(),
            "or dhcp. A node with a DRBD peer needs a static address.".into(),
        ],
        Kind::Input {
            default: d.address.map(|a| a.to_string()),
        },
    )
}

pub fn address_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    if t.is_empty() {
        return Err("an address is needed, e.g. 192.168.1.10/24, or dhcp".into());
    }
    let a: AddressMethod = t.parse()?;
    match a {
        // Whether it is a host's address is the validator's to say (network.addresses).
        AddressMethod::Static(n) => {
            if d.gateway.is_some_and(|g| !n.contains(&g)) {
                d.gateway = None;
            }
        }
        _ if d.drbd => {
            return Err(format!(
                "{t} is not static; a node with a DRBD peer needs a static address, \
                 e.g. 192.168.1.10/24"
            ))
        }
        _ => d.gateway = None,
    }
    d.address = Some(a);
    Ok(())
}

fn subnet(d: &Draft) -> Option<IpNet> {
    match d.address {
        Some(AddressMethod::Static(n)) => Some(n),
        _ => None,
    }
}

pub fn gateway_prompt(d: &Draft) -> Shown {
    let default = d
        .gateway
        .or_else(|| subnet(d).and_then(|n| n.hosts().find(|h| *h != n.addr() && *h != n.network())))
        .map(|g| g.to_string());
    (
        "Default gateway".into(),
        vec![
            match subnet(d) {
                Some(n) => format!("It must lie in {} (this node's subnet).", n.trunc()),
                None => String::new(),
            },
            "\"none\" for no default route.".into(),
        ],
        Kind::Input { default },
    )
}

pub fn gateway_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    if t == "none" {
        d.gateway = None;
        return Ok(());
    }
    // Inside the subnet, not the node's own: the validator checks that (and re-asks here).
    let g: IpAddr = t
        .parse()
        .map_err(|_| format!("{t:?} is not an IP address, e.g. 192.168.1.1, or none"))?;
    d.gateway = Some(g);
    Ok(())
}

pub fn dns(d: &Draft) -> Vec<IpAddr> {
    d.dns
        .clone()
        .unwrap_or_else(|| d.gateway.into_iter().collect())
}

pub fn dns_prompt(d: &Draft) -> Shown {
    let cur = dns(d);
    let default = if cur.is_empty() {
        "none".to_string()
    } else {
        cur.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    (
        "Name servers".into(),
        vec!["IP addresses, comma-separated; \"none\" for none (with dhcp: from DHCP).".into()],
        Kind::Input {
            default: Some(default),
        },
    )
}

pub fn dns_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    let mut v = Vec::new();
    if t != "none" && !t.is_empty() {
        for part in t.split([',', ' ']).filter(|s| !s.is_empty()) {
            v.push(
                part.parse::<IpAddr>()
                    .map_err(|_| format!("{part:?} is not an IP address"))?,
            );
        }
    }
    d.dns = Some(v);
    Ok(())
}
