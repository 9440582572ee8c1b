//! The network as it will be on the installed system: every NIC the config touches, found
//! in the inventory and given its final name; bonds, VLANs and bridges with every reference
//! resolved to an interface name.

use crate::answer::{
    AddressMethod, Answer, BondMode, Issue, LacpRate, MacAddr, Offload, XmitHashPolicy,
};
use crate::hardware::select::{match_nics, nic_final_name, nic_names};
use crate::hardware::{Inventory, Nic};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedNic {
    /// The name the kernel gave it in the live system.
    pub kernel_name: String,
    /// The name on the installed system (a `network.nics` name, else the kernel name),
    /// pinned by a .link file on the permanent MAC.
    pub name: String,
    pub mac: MacAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(skip_serializing_if = "Offload::is_empty")]
    pub offload: Offload,
    /// Why the config uses it: "bond0 member", "named", "VLAN parent", …
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedBond {
    pub name: String,
    /// Final names of the members.
    pub members: Vec<String>,
    pub mode: BondMode,
    pub miimon: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lacp_rate: Option<LacpRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<XmitHashPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedVlan {
    /// `<parent>.<id>`.
    pub name: String,
    pub parent: String,
    pub id: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedBridge {
    pub name: String,
    pub ports: Vec<String>,
    pub vlan_aware: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vids: Option<String>,
    pub stp: bool,
    pub fd: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedAddress {
    pub interface: String,
    pub address: AddressMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkPlan {
    pub pin_names: bool,
    pub nics: Vec<PlannedNic>,
    pub bonds: Vec<PlannedBond>,
    pub vlans: Vec<PlannedVlan>,
    pub bridges: Vec<PlannedBridge>,
    pub addresses: Vec<PlannedAddress>,
    pub dns: Vec<IpAddr>,
    pub search: Vec<String>,
}

impl NetworkPlan {
    pub fn nic(&self, name: &str) -> Option<&PlannedNic> {
        self.nics.iter().find(|n| n.name == name)
    }

    /// The physical NICs an interface's traffic leaves by (a bridge's ports, a VLAN's
    /// parent, a bond's members), for link-speed decisions.
    pub fn lower_nics(&self, iface: &str) -> Vec<&PlannedNic> {
        let mut out = Vec::new();
        self.collect_lower(iface, &mut out, 0);
        out
    }

    fn collect_lower<'a>(&'a self, iface: &str, out: &mut Vec<&'a PlannedNic>, depth: u8) {
        if depth > 8 {
            return;
        }
        if let Some(n) = self.nic(iface) {
            out.push(n);
        } else if let Some(b) = self.bonds.iter().find(|b| b.name == iface) {
            for m in &b.members {
                self.collect_lower(m, out, depth + 1);
            }
        } else if let Some(v) = self.vlans.iter().find(|v| v.name == iface) {
            self.collect_lower(&v.parent, out, depth + 1);
        } else if let Some(br) = self.bridges.iter().find(|b| b.name == iface) {
            for p in &br.ports {
                self.collect_lower(p, out, depth + 1);
            }
        }
    }

    /// The interface holding a static address, if any.
    pub fn interface_with(&self, ip: IpAddr) -> Option<&str> {
        self.addresses.iter().find_map(|a| match a.address {
            AddressMethod::Static(n) if n.addr() == ip => Some(a.interface.as_str()),
            _ => None,
        })
    }
}

/// Tracks the NICs in use, in inventory order, with what each is used for.
struct Used<'a> {
    inv: &'a Inventory,
    names: HashMap<String, String>,
    nics: Vec<PlannedNic>,
}

impl<'a> Used<'a> {
    fn mark(&mut self, nic: &Nic, role: String) -> String {
        let name = nic_final_name(nic, &self.names).to_string();
        if let Some(p) = self.nics.iter_mut().find(|p| p.kernel_name == nic.name) {
            if !p.roles.contains(&role) {
                p.roles.push(role);
            }
        } else {
            self.nics.push(PlannedNic {
                kernel_name: nic.name.clone(),
                name: name.clone(),
                mac: nic.hw_mac().clone(),
                driver: nic.driver.clone(),
                speed_mbps: nic.speed_mbps,
                mtu: None,
                offload: Offload::default(),
                roles: vec![role],
            });
        }
        name
    }

    fn get(&mut self, kernel: &str) -> Option<&mut PlannedNic> {
        self.nics.iter_mut().find(|p| p.kernel_name == kernel)
    }

    /// A physical NIC by its kernel name or its `network.nics` name.
    fn find(&self, r: &str) -> Option<&'a Nic> {
        self.inv
            .physical_nics()
            .find(|n| n.name == r || self.names.get(&n.name).is_some_and(|a| a == r))
    }
}

/// Overlays `over`'s set switches on `base`.
fn merge_offload(base: &mut Offload, over: &Offload) {
    let pairs = [
        (&mut base.tso, over.tso),
        (&mut base.gso, over.gso),
        (&mut base.gro, over.gro),
        (&mut base.lro, over.lro),
        (&mut base.rx, over.rx),
        (&mut base.tx, over.tx),
    ];
    for (b, o) in pairs {
        if o.is_some() {
            *b = o;
        }
    }
}

pub(super) fn build(answer: &Answer, inv: &Inventory) -> Result<NetworkPlan, Vec<Issue>> {
    let net = &answer.network;
    let mut issues = Vec::new();
    let mut used = Used {
        inv,
        names: nic_names(inv, &net.nics),
        nics: Vec::new(),
    };

    for (i, d) in net.nics.iter().enumerate() {
        let path = format!("network.nics[{i}].match");
        match match_nics(&d.matches, inv, &HashMap::new(), &path) {
            Ok(hits) if hits.len() == 1 => {
                used.mark(hits[0], "named".into());
                if let Some(p) = used.get(&hits[0].name) {
                    p.mtu = d.mtu;
                    merge_offload(&mut p.offload, &d.offload);
                }
            }
            Ok(hits) => issues.push(Issue::new(
                path,
                format!(
                    "must match exactly one NIC; matches {}",
                    hits.iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Err(mut e) => issues.append(&mut e),
        }
    }

    let mut bonds = Vec::new();
    for (i, b) in net.bonds.iter().enumerate() {
        let path = format!("network.bonds[{i}]");
        let hits = match match_nics(&b.members, inv, &used.names, &format!("{path}.members")) {
            Ok(h) => h,
            Err(mut e) => {
                issues.append(&mut e);
                continue;
            }
        };
        let mut members = Vec::new();
        for n in &hits {
            members.push(used.mark(n, format!("{} member", b.name)));
            if let Some(p) = used.get(&n.name) {
                merge_offload(&mut p.offload, &b.offload);
            }
        }
        let primary = match &b.primary {
            None => None,
            Some(p) => match hits
                .iter()
                .position(|n| n.name == *p || used.names.get(&n.name).is_some_and(|a| a == p))
            {
                Some(k) => Some(members[k].clone()),
                None => {
                    issues.push(Issue::new(
                        format!("{path}.primary"),
                        format!(
                            "{p:?} is not a member of {}; members: {}",
                            b.name,
                            members.join(", ")
                        ),
                    ));
                    None
                }
            },
        };
        bonds.push(PlannedBond {
            name: b.name.clone(),
            members,
            mode: b.mode,
            miimon: b.miimon,
            lacp_rate: b.lacp_rate,
            xmit_hash_policy: b.xmit_hash_policy,
            primary,
            mtu: b.mtu,
        });
    }

    // Interface references: a bond, a VLAN interface, a named NIC or a kernel NIC name.
    let mut vlans: Vec<PlannedVlan> = Vec::new();
    let mut bridges: Vec<PlannedBridge> = Vec::new();
    let resolve = |r: &str,
                   role: &str,
                   path: String,
                   used: &mut Used<'_>,
                   vlans: &[PlannedVlan],
                   issues: &mut Vec<Issue>|
     -> Option<String> {
        if bonds.iter().any(|b| b.name == r) || vlans.iter().any(|v| v.name == r) {
            return Some(r.to_string());
        }
        if let Some(n) = used.find(r) {
            return Some(used.mark(n, role.to_string()));
        }
        issues.push(Issue::new(
            path,
            format!("{r:?} is no bond, VLAN interface or NIC of this machine"),
        ));
        None
    };
    for (i, v) in net.vlans.iter().enumerate() {
        let Some(parent) = resolve(
            &v.parent,
            "VLAN parent",
            format!("network.vlans[{i}].parent"),
            &mut used,
            &vlans,
            &mut issues,
        ) else {
            continue;
        };
        for id in &v.ids {
            let name = format!("{parent}.{id}");
            vlans.push(PlannedVlan {
                name: name.clone(),
                parent: parent.clone(),
                id: *id,
                mtu: v.mtu,
            });
            if let Some(t) = &v.bridge {
                bridges.push(PlannedBridge {
                    name: t.replace("{id}", &id.to_string()),
                    ports: vec![name],
                    vlan_aware: false,
                    vids: None,
                    stp: false,
                    fd: 0,
                    mtu: v.mtu,
                });
            }
        }
    }
    for (i, b) in net.bridges.iter().enumerate() {
        let mut ports = Vec::new();
        for (k, p) in b.ports.iter().enumerate() {
            if let Some(r) = resolve(
                p,
                &format!("{} port", b.name),
                format!("network.bridges[{i}].ports[{k}]"),
                &mut used,
                &vlans,
                &mut issues,
            ) {
                ports.push(r);
            }
        }
        bridges.push(PlannedBridge {
            name: b.name.clone(),
            ports,
            vlan_aware: b.vlan_aware,
            vids: b.vids.clone(),
            stp: b.stp,
            fd: b.fd,
            mtu: b.mtu,
        });
    }
    let mut addresses = Vec::new();
    for (i, a) in net.addresses.iter().enumerate() {
        let known = bridges.iter().any(|b| b.name == a.interface);
        let iface = if known {
            Some(a.interface.clone())
        } else {
            resolve(
                &a.interface,
                "addressed",
                format!("network.addresses[{i}].interface"),
                &mut used,
                &vlans,
                &mut issues,
            )
        };
        if let Some(interface) = iface {
            addresses.push(PlannedAddress {
                interface,
                address: a.address,
                gateway: a.gateway,
            });
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    // Inventory order, so the plan reads like `ip link`.
    let order: Vec<&str> = inv.nics.iter().map(|n| n.name.as_str()).collect();
    let mut nics = used.nics;
    nics.sort_by_key(|n| order.iter().position(|o| *o == n.kernel_name));
    let mut search = vec![answer.system.domain.clone()];
    for s in &net.search {
        if !search.contains(s) {
            search.push(s.clone());
        }
    }
    Ok(NetworkPlan {
        pin_names: net.pin_names,
        nics,
        bonds,
        vlans,
        bridges,
        addresses,
        dns: net.dns.clone(),
        search,
    })
}
