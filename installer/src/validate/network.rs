//! `[network]`: NICs, bonds, VLANs, bridges and addresses. Interfaces are gathered first
//! (every name the config defines, plus the machine's NICs when an inventory is given),
//! then every reference to an interface is checked against them.

use super::join;
use super::names::{domain_problem, interface_name_problem};
use crate::answer::{AddressMethod, BondMode, Issue, Network, NicSelector};
use crate::hardware::select::{match_nics, nic_names, nic_selector_is_empty};
use crate::hardware::Inventory;
use glob::Pattern;
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

const DEFAULT_MTU: u32 = 1500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A NIC of the inventory, by kernel name.
    Nic,
    /// A `network.nics` entry.
    NamedNic,
    Bond,
    Vlan,
    Bridge,
}

#[derive(Debug)]
struct Iface {
    kind: Kind,
    /// Where the file defines it ("" for an inventory NIC).
    path: String,
    mtu: Option<u32>,
    /// A VLAN's parent.
    parent: Option<String>,
}

struct Net<'a> {
    n: &'a Network,
    inv: Option<&'a Inventory>,
    ifaces: IndexMap<String, Iface>,
    /// Kernel name → `network.nics` name (inventory only).
    renamed: HashMap<String, String>,
    /// Interface name (kernel and `network.nics` name alike) → the bond it is a member of.
    member_of: HashMap<String, String>,
    /// Without an inventory: bonds whose members are picked by a name glob.
    member_globs: Vec<(Pattern, String)>,
    /// Bridge port → bridge.
    port_of: HashMap<String, String>,
    out: &'a mut Vec<Issue>,
}

pub(super) fn check(n: &Network, inv: Option<&Inventory>, out: &mut Vec<Issue>) {
    let mut net = Net {
        n,
        inv,
        ifaces: IndexMap::new(),
        renamed: HashMap::new(),
        member_of: HashMap::new(),
        member_globs: Vec::new(),
        port_of: HashMap::new(),
        out,
    };
    net.resolver();
    net.mtus();
    if let Some(inv) = inv {
        for nic in inv.physical_nics() {
            net.ifaces.insert(
                nic.name.clone(),
                Iface {
                    kind: Kind::Nic,
                    path: String::new(),
                    mtu: None,
                    parent: None,
                },
            );
        }
    }
    net.nics();
    net.bonds();
    net.vlans();
    net.bridges();
    net.addresses();
    net.mtu_nesting();
}

impl Net<'_> {
    fn push(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.out.push(Issue::new(path, msg));
    }

    /// Registers an interface the config creates; false (and an issue) if the name is
    /// invalid or taken.
    fn define(
        &mut self,
        name: &str,
        kind: Kind,
        path: &str,
        mtu: Option<u32>,
        dot_ok: bool,
    ) -> bool {
        let problem = interface_name_problem(name, dot_ok);
        if let Some(p) = &problem {
            self.push(path, p.clone());
        }
        if let Some(prev) = self.ifaces.get(name) {
            if problem.is_some() {
                return false;
            }
            // A named NIC may keep its kernel name.
            if !(kind == Kind::NamedNic && prev.kind == Kind::Nic) {
                let msg = if prev.kind == Kind::Nic {
                    format!("{name} is already the name of a NIC of this machine")
                } else {
                    format!("interface {name} is already defined at {}", prev.path)
                };
                self.push(path, msg);
                return false;
            }
        }
        // Registered even when invalid, so its uses are not reported a second time.
        self.ifaces.insert(
            name.to_string(),
            Iface {
                kind,
                path: path.to_string(),
                mtu,
                parent: None,
            },
        );
        problem.is_none()
    }

    fn resolver(&mut self) {
        let mut seen = HashSet::new();
        for (i, d) in self.n.dns.iter().enumerate() {
            let path = format!("network.dns[{i}]");
            if d.is_unspecified() || d.is_multicast() || *d == IpAddr::from([255, 255, 255, 255]) {
                self.push(
                    path,
                    format!("{d} cannot be a name server; give a unicast address"),
                );
            } else if !seen.insert(*d) {
                self.push(path, format!("{d} is listed twice"));
            } else if i >= 3 {
                self.push(
                    path,
                    format!(
                        "is the name server number {}; resolv.conf uses only the first 3",
                        i + 1
                    ),
                );
            }
        }
        let mut seen = HashSet::new();
        for (i, s) in self.n.search.iter().enumerate() {
            let path = format!("network.search[{i}]");
            if let Some(p) = domain_problem(s) {
                self.push(path, p);
            } else if !seen.insert(s.to_ascii_lowercase()) {
                self.push(path, format!("{s} is listed twice"));
            }
        }
    }

    fn mtus(&mut self) {
        let n = self.n;
        let mut all: Vec<(String, u32)> = Vec::new();
        let at = |p: String, m: &Option<u32>| m.map(|m| (format!("{p}.mtu"), m));
        all.extend(
            n.nics
                .iter()
                .enumerate()
                .filter_map(|(i, d)| at(format!("network.nics[{i}]"), &d.mtu)),
        );
        all.extend(
            n.bonds
                .iter()
                .enumerate()
                .filter_map(|(i, d)| at(format!("network.bonds[{i}]"), &d.mtu)),
        );
        all.extend(
            n.vlans
                .iter()
                .enumerate()
                .filter_map(|(i, d)| at(format!("network.vlans[{i}]"), &d.mtu)),
        );
        all.extend(
            n.bridges
                .iter()
                .enumerate()
                .filter_map(|(i, d)| at(format!("network.bridges[{i}]"), &d.mtu)),
        );
        for (path, m) in all {
            if !(68..=65535).contains(&m) {
                self.push(path, format!("{m} is outside the MTU range 68–65535"));
            }
        }
    }

    fn nics(&mut self) {
        let n = self.n;
        let mut claimed: HashMap<String, String> = HashMap::new();
        for (i, d) in n.nics.iter().enumerate() {
            let path = format!("network.nics[{i}]");
            self.define(
                &d.name,
                Kind::NamedNic,
                &format!("{path}.name"),
                d.mtu,
                false,
            );
            let mpath = format!("{path}.match");
            let Some(inv) = self.inv else {
                if nic_selector_is_empty(&d.matches) {
                    self.push(mpath, "selects nothing specific; give mac, driver or name");
                }
                continue;
            };
            match match_nics(&d.matches, inv, &HashMap::new(), &mpath) {
                Err(issues) => self.out.extend(issues),
                Ok(hits) if hits.len() != 1 => {
                    let names: Vec<String> = hits.iter().map(|h| h.name.clone()).collect();
                    self.push(
                        mpath,
                        format!(
                            "matches {} NICs ({}); a named NIC must match exactly one, e.g. \
                             by mac",
                            hits.len(),
                            names.join(", ")
                        ),
                    );
                }
                Ok(hits) => {
                    let k = &hits[0].name;
                    if let Some(other) = claimed.insert(k.clone(), d.name.clone()) {
                        self.push(
                            mpath,
                            format!("matches NIC {k}, which network.nics already names {other}"),
                        );
                    }
                }
            }
        }
        if let Some(inv) = self.inv {
            self.renamed = nic_names(inv, &n.nics);
        }
    }

    fn bonds(&mut self) {
        let n = self.n;
        for (i, b) in n.bonds.iter().enumerate() {
            let path = format!("network.bonds[{i}]");
            self.define(&b.name, Kind::Bond, &format!("{path}.name"), b.mtu, false);
            let mode = b.mode;
            if b.lacp_rate.is_some() && mode != BondMode::Lacp {
                self.push(
                    format!("{path}.lacp-rate"),
                    format!("applies only to mode 802.3ad; this bond's mode is {mode}"),
                );
            }
            if b.xmit_hash_policy.is_some()
                && !matches!(mode, BondMode::Lacp | BondMode::BalanceXor)
            {
                self.push(
                    format!("{path}.xmit-hash-policy"),
                    format!(
                        "applies only to modes balance-xor and 802.3ad; this bond's mode is {mode}"
                    ),
                );
            }
            if b.primary.is_some()
                && !matches!(
                    mode,
                    BondMode::ActiveBackup | BondMode::BalanceTlb | BondMode::BalanceAlb
                )
            {
                self.push(
                    format!("{path}.primary"),
                    format!(
                        "applies only to modes active-backup, balance-tlb and balance-alb; this \
                         bond's mode is {mode}"
                    ),
                );
            }
            if b.miimon == 0 {
                self.push(
                    format!("{path}.miimon"),
                    "is 0, which turns link monitoring off so a dead link is never noticed; \
                     give an interval in milliseconds such as 100",
                );
            }
            let mpath = format!("{path}.members");
            let mut member_names: Vec<String> = Vec::new();
            match self.inv {
                Some(inv) => match match_nics(&b.members, inv, &self.renamed, &mpath) {
                    Err(issues) => self.out.extend(issues),
                    Ok(hits) => {
                        for h in hits {
                            let k = h.name.clone();
                            if let Some(other) = self.member_of.get(&k) {
                                let msg = format!(
                                    "NIC {k} is already a member of {other}; a NIC can be in one \
                                     bond only"
                                );
                                self.push(mpath.clone(), msg);
                                continue;
                            }
                            member_names.push(k.clone());
                            self.member_of.insert(k.clone(), b.name.clone());
                            if let Some(r) = self.renamed.get(&k).cloned() {
                                member_names.push(r.clone());
                                self.member_of.insert(r, b.name.clone());
                            }
                        }
                    }
                },
                None => self.bond_members_without_inventory(&b.members, &b.name, &mpath),
            }
            if let Some(p) = &b.primary {
                let known = if self.inv.is_some() {
                    // Unknown when matching failed; that was reported already.
                    member_names.is_empty() || member_names.contains(p)
                } else {
                    b.members
                        .name
                        .as_deref()
                        .and_then(|g| Pattern::new(g).ok())
                        .is_none_or(|g| g.matches(p))
                };
                if !known {
                    self.push(
                        format!("{path}.primary"),
                        format!(
                            "{p} is not a member of {}; members: {}",
                            b.name,
                            join(&member_names)
                        ),
                    );
                }
            }
        }
    }

    fn bond_members_without_inventory(&mut self, sel: &NicSelector, bond: &str, mpath: &str) {
        if nic_selector_is_empty(sel) {
            self.push(mpath, "selects nothing specific; give mac, driver or name");
            return;
        }
        for (j, mac) in sel.mac.iter().enumerate() {
            let owner = self
                .n
                .bonds
                .iter()
                .take_while(|b| b.name != bond)
                .find(|b| b.members.mac.contains(mac));
            if let Some(o) = owner {
                self.push(
                    format!("{mpath}.mac[{j}]"),
                    format!(
                        "NIC {mac} is already a member of {}; a NIC can be in one bond only",
                        o.name
                    ),
                );
            }
            // A named NIC found by one of these MACs is a member too.
            for d in &self.n.nics {
                if d.matches.mac.contains(mac) {
                    self.member_of.insert(d.name.clone(), bond.to_string());
                }
            }
        }
        match sel.name.as_deref().map(Pattern::new) {
            Some(Ok(g)) => {
                for d in &self.n.nics {
                    if g.matches(&d.name) {
                        self.member_of.insert(d.name.clone(), bond.to_string());
                    }
                }
                self.member_globs.push((g, bond.to_string()));
            }
            Some(Err(e)) => self.push(
                format!("{mpath}.name"),
                format!(
                    "invalid glob {:?}: {e}",
                    sel.name.as_deref().unwrap_or_default()
                ),
            ),
            None => {}
        }
    }

    fn vlans(&mut self) {
        let n = self.n;
        let mut used: HashMap<(String, u16), String> = HashMap::new();
        for (i, v) in n.vlans.iter().enumerate() {
            let path = format!("network.vlans[{i}]");
            if v.ids.is_empty() {
                self.push(
                    format!("{path}.ids"),
                    "lists no VLAN ids; give at least one (1–4094)",
                );
            }
            let template = v.bridge.as_deref();
            if let Some(t) = template {
                if !t.contains("{id}") && v.ids.len() > 1 {
                    self.push(
                        format!("{path}.bridge"),
                        format!(
                            "{t:?} has no {{id}}, so all {} VLANs would get the same bridge; \
                             write it like \"vmbr{{id}}\"",
                            v.ids.len()
                        ),
                    );
                }
            }
            let mut template_bad = false;
            for (j, id) in v.ids.iter().enumerate() {
                let ipath = format!("{path}.ids[{j}]");
                if !(1..=4094).contains(id) {
                    self.push(ipath, format!("VLAN id {id} is outside 1–4094"));
                    continue;
                }
                if let Some(first) = used.insert((v.parent.clone(), *id), ipath.clone()) {
                    self.push(
                        ipath,
                        format!("VLAN {id} on {} is already defined at {first}", v.parent),
                    );
                    continue;
                }
                let ifname = format!("{}.{id}", v.parent);
                if !self.define(&ifname, Kind::Vlan, &ipath, v.mtu, true) {
                    continue;
                }
                if let Some(f) = self.ifaces.get_mut(&ifname) {
                    f.parent = Some(v.parent.clone());
                }
                if let Some(t) = template {
                    let br = t.replace("{id}", &id.to_string());
                    let bpath = format!("{path}.bridge");
                    if let Some(p) = interface_name_problem(&br, false) {
                        // Said once per template; the names stay known so their uses are
                        // not reported again.
                        if !template_bad {
                            self.push(
                                bpath.clone(),
                                format!("template {t:?} makes an invalid bridge name: {p}"),
                            );
                        }
                        template_bad = true;
                        self.ifaces.entry(br).or_insert(Iface {
                            kind: Kind::Bridge,
                            path: bpath,
                            mtu: None,
                            parent: None,
                        });
                        continue;
                    }
                    // Without {id} every VLAN would claim the same bridge; said above.
                    if template_bad {
                        continue;
                    }
                    if self.define(&br, Kind::Bridge, &bpath, None, false) {
                        self.port_of.insert(ifname, br);
                    }
                    template_bad = !t.contains("{id}");
                }
            }
        }
    }

    fn bridges(&mut self) {
        for (i, b) in self.n.bridges.iter().enumerate() {
            let path = format!("network.bridges[{i}]");
            self.define(&b.name, Kind::Bridge, &format!("{path}.name"), b.mtu, false);
            if let Some(v) = &b.vids {
                if !b.vlan_aware {
                    self.push(
                        format!("{path}.vids"),
                        "applies only to a VLAN-aware bridge; set vlan-aware = true",
                    );
                } else if let Some(p) = vids_problem(v) {
                    self.push(format!("{path}.vids"), p);
                }
            }
            if b.stp && !(2..=30).contains(&b.fd) {
                self.push(
                    format!("{path}.fd"),
                    format!(
                        "is {}; with stp on the kernel takes a forward delay of 2–30 s",
                        b.fd
                    ),
                );
            }
        }
        // Ports are checked once every bridge is known.
        for (i, b) in self.n.bridges.iter().enumerate() {
            for (j, p) in b.ports.iter().enumerate() {
                let path = format!("network.bridges[{i}].ports[{j}]");
                if !self.reference(p, &path, "port") {
                    continue;
                }
                if self.ifaces.get(p).is_some_and(|f| f.kind == Kind::Bridge) {
                    self.push(
                        path,
                        format!("{p} is a bridge; a bridge cannot be a port of another bridge"),
                    );
                } else if let Some(other) = self.port_of.get(p) {
                    let msg = format!("{p} is already a port of bridge {other}");
                    self.push(path, msg);
                } else {
                    self.port_of.insert(p.clone(), b.name.clone());
                }
            }
        }
        // VLAN parents likewise, now that bridges exist.
        for (i, v) in self.n.vlans.iter().enumerate() {
            self.reference(&v.parent, &format!("network.vlans[{i}].parent"), "parent");
        }
    }

    /// Checks a use of interface `name`; true if it exists and may be used directly.
    fn reference(&mut self, name: &str, path: &str, what: &str) -> bool {
        if let Some(bond) = self.member_of.get(name).cloned().or_else(|| {
            self.member_globs
                .iter()
                .find(|(g, _)| g.matches(name))
                .map(|(_, b)| b.clone())
        }) {
            if self
                .ifaces
                .get(name)
                .is_none_or(|f| matches!(f.kind, Kind::Nic | Kind::NamedNic))
            {
                self.push(
                    path,
                    format!(
                        "{name} is a member of {bond}; a bond member carries no traffic of its \
                         own, use {bond}"
                    ),
                );
                return false;
            }
        }
        // A kernel name that network.nics renames is gone once the names are pinned
        // (unless another NIC takes it over by network.nics).
        let named = self
            .ifaces
            .get(name)
            .is_some_and(|f| f.kind == Kind::NamedNic);
        if let Some(r) = self.renamed.get(name).filter(|_| !named) {
            if r != name {
                let r = r.clone();
                self.push(
                    path,
                    format!("NIC {name} is renamed to {r} by network.nics; use {r}"),
                );
                return false;
            }
        }
        let exists = self.ifaces.contains_key(name)
            || (self.inv.is_none()
                && interface_name_problem(name, false).is_none()
                && !looks_virtual(name));
        if !exists {
            let mut known: Vec<String> = self.ifaces.keys().cloned().collect();
            known.sort();
            let msg = format!(
                "{what} {name} does not exist; interfaces{}: {}",
                if self.inv.is_some() {
                    " here"
                } else {
                    " defined"
                },
                join(&known)
            );
            self.push(path, msg);
        }
        exists
    }

    fn addresses(&mut self) {
        let n = self.n;
        let mut ips: HashMap<IpAddr, usize> = HashMap::new();
        let mut gateways: [Option<usize>; 2] = [None, None];
        for (i, a) in n.addresses.iter().enumerate() {
            let path = format!("network.addresses[{i}]");
            self.reference(&a.interface, &format!("{path}.interface"), "interface");
            let net = match a.address {
                AddressMethod::Static(net) => net,
                other => {
                    if a.gateway.is_some() {
                        self.push(
                            format!("{path}.gateway"),
                            format!(
                                "a gateway goes with a static address; with address = \"{other}\" \
                                 the network provides the route"
                            ),
                        );
                    }
                    continue;
                }
            };
            let ip = net.addr();
            let apath = format!("{path}.address");
            let v4_subnet_edge = match net {
                ipnet::IpNet::V4(n4) if n4.prefix_len() < 31 => {
                    if n4.addr() == n4.network() {
                        Some("the subnet's network address")
                    } else if n4.addr() == n4.broadcast() {
                        Some("the subnet's broadcast address")
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
                self.push(apath, format!("{ip} cannot be a host's address"));
                continue;
            }
            if let Some(what) = v4_subnet_edge {
                self.push(
                    apath,
                    format!("{net} is {what}; give the host's own address"),
                );
                continue;
            }
            if let Some(first) = ips.get(&ip) {
                let other = &n.addresses[*first].interface;
                self.push(
                    apath,
                    format!("{ip} is already assigned to {other} at network.addresses[{first}]"),
                );
            } else {
                ips.insert(ip, i);
            }
            let Some(gw) = a.gateway else { continue };
            let gpath = format!("{path}.gateway");
            let fam = usize::from(gw.is_ipv6());
            if gw.is_ipv6() != ip.is_ipv6() {
                self.push(
                    &gpath,
                    format!(
                        "{gw} and the address {net} are of different IP families; the gateway \
                         must be of the address's family"
                    ),
                );
                continue;
            }
            if !net.contains(&gw) {
                self.push(
                    &gpath,
                    format!(
                        "{gw} is outside the subnet {} of {net}; the gateway must be reachable \
                         on that link",
                        net.trunc()
                    ),
                );
            } else if gw == ip {
                self.push(&gpath, format!("{gw} is this node's own address"));
            }
            match gateways[fam] {
                Some(first) => {
                    let prev = n.addresses[first]
                        .gateway
                        .map(|g| g.to_string())
                        .unwrap_or_default();
                    self.push(
                        &gpath,
                        format!(
                            "is a second IPv{} default gateway; network.addresses[{first}] already \
                             sets {prev}, and there is one per address family",
                            if fam == 1 { 6 } else { 4 }
                        ),
                    );
                }
                None => gateways[fam] = Some(i),
            }
        }
    }

    /// An interface's MTU once inheritance applies: its own, else its VLAN parent's,
    /// else 1500.
    fn effective_mtu(&self, name: &str, depth: usize) -> u32 {
        let Some(f) = self.ifaces.get(name) else {
            return DEFAULT_MTU;
        };
        if let Some(m) = f.mtu {
            return m;
        }
        match (&f.parent, depth < 8) {
            (Some(p), true) => self.effective_mtu(p, depth + 1),
            _ => DEFAULT_MTU,
        }
    }

    fn mtu_nesting(&mut self) {
        for (i, v) in self.n.vlans.iter().enumerate() {
            if let Some(m) = v.mtu {
                let pm = self.effective_mtu(&v.parent, 0);
                if m > pm {
                    self.push(
                        format!("network.vlans[{i}].mtu"),
                        format!(
                            "{m} is above the MTU of its parent {} ({pm}); a VLAN cannot carry \
                             larger frames than its parent",
                            v.parent
                        ),
                    );
                }
            }
        }
        for (i, b) in self.n.bridges.iter().enumerate() {
            let Some(m) = b.mtu else { continue };
            for p in &b.ports {
                let pm = self.effective_mtu(p, 0);
                if m > pm {
                    self.push(
                        format!("network.bridges[{i}].mtu"),
                        format!(
                            "{m} is above the MTU of its port {p} ({pm}); set the port's MTU \
                             first"
                        ),
                    );
                    break;
                }
            }
        }
    }
}

/// Names that only a config creates (bonds, bridges, VLANs); without an inventory any other
/// valid name may be a NIC.
fn looks_virtual(name: &str) -> bool {
    name.contains('.')
        || ["bond", "vmbr", "vlan", "br"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// `bridge-vids`: VLAN ids and ranges separated by spaces.
fn vids_problem(v: &str) -> Option<String> {
    let id = |s: &str| s.parse::<u16>().ok().filter(|n| (1..=4094).contains(n));
    let ok = !v.trim().is_empty()
        && v.split_whitespace().all(|t| match t.split_once('-') {
            Some((a, b)) => matches!((id(a), id(b)), (Some(a), Some(b)) if a <= b),
            None => id(t).is_some(),
        });
    (!ok).then(|| {
        format!(
            "{v:?} is not a VLAN list; expected ids and ranges within 1–4094 separated by \
             spaces, like \"2-4094\" or \"10 20 100-199\""
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::hardware::Inventory;

    fn issues(extra: &str, inv: Option<&Inventory>) -> Vec<crate::answer::Issue> {
        let a = answer(|s| {
            let s = s.replace(
                "[[network.addresses]]\ninterface = \"eno1\"\naddress = \"10.0.0.5/24\"\ngateway = \"10.0.0.1\"\n",
                "",
            );
            format!("{s}\n{extra}")
        });
        let mut out = Vec::new();
        super::check(&a.network, inv, &mut out);
        out
    }

    fn seed() -> Inventory {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hardware/seed-lxeon-5disk-2nic.json"
        );
        Inventory::from_json(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    const SEED_NET: &str = r#"
[[network.bonds]]
name = "bond0"
members = { mac = ["52:54:00:00:00:01", "52:54:00:00:00:02"] }
mode = "802.3ad"
[[network.vlans]]
parent = "bond0"
ids = [7, 374]
bridge = "vmbr{id}"
[[network.addresses]]
interface = "vmbr374"
address = "10.7.4.45/24"
gateway = "10.7.4.1"
"#;

    #[test]
    fn seed_network_is_valid() {
        assert_eq!(issues(SEED_NET, None), vec![]);
        assert_eq!(issues(SEED_NET, Some(&seed())), vec![]);
    }

    #[test]
    fn gateway_and_duplicates() {
        let i = issues(
            r#"
[[network.addresses]]
interface = "eno1"
address = "10.0.0.5/24"
gateway = "10.0.1.1"
[[network.addresses]]
interface = "eno2"
address = "10.0.0.5/24"
gateway = "10.0.0.1"
[[network.addresses]]
interface = "eno2"
address = "10.0.2.0/24"
"#,
            None,
        );
        assert_eq!(
            paths(&i),
            vec![
                "network.addresses[0].gateway",
                "network.addresses[1].address",
                "network.addresses[1].gateway",
                "network.addresses[2].address",
            ]
        );
    }

    #[test]
    fn bond_members_and_references() {
        let extra = r#"
[[network.bonds]]
name = "bond0"
members = { mac = ["52:54:00:00:00:01", "52:54:00:00:00:02"] }
lacp-rate = "fast"
[[network.bonds]]
name = "bond1"
members = { mac = ["52:54:00:00:00:02"] }
[[network.bridges]]
name = "vmbr0"
ports = ["eno1", "bond9"]
"#;
        let i = issues(extra, Some(&seed()));
        assert_eq!(
            paths(&i),
            vec![
                "network.bonds[0].lacp-rate",
                "network.bonds[1].members",
                "network.bridges[0].ports[0]",
                "network.bridges[0].ports[1]",
            ],
            "{i:#?}"
        );
        let i = issues(extra, None);
        assert_eq!(
            paths(&i),
            vec![
                "network.bonds[0].lacp-rate",
                "network.bonds[1].members.mac[0]",
                "network.bridges[0].ports[1]",
            ],
            "{i:#?}"
        );
    }

    #[test]
    fn vlans_and_names() {
        let i = issues(
            r#"
[[network.vlans]]
parent = "bond0"
ids = [7, 4095, 7]
bridge = "vmbr-production{id}"
[[network.bonds]]
name = "bond0"
members = { name = "eno*" }
mtu = 9000
[[network.vlans]]
parent = "bond0"
ids = [8]
mtu = 9100
"#,
            None,
        );
        assert_eq!(
            paths(&i),
            vec![
                "network.vlans[0].bridge",
                "network.vlans[0].ids[1]",
                "network.vlans[0].ids[2]",
                "network.vlans[1].mtu",
            ],
            "{i:#?}"
        );
    }

    #[test]
    fn renamed_nics() {
        let rename = r#"
[[network.nics]]
name = "lan0"
match = { mac = ["52:54:00:00:00:01"] }
[[network.bridges]]
name = "vmbr0"
ports = ["eno1"]
"#;
        let i = issues(rename, Some(&seed()));
        assert_eq!(paths(&i), vec!["network.bridges[0].ports[0]"], "{i:#?}");
        assert!(i[0].message.contains("renamed to lan0"), "{}", i[0].message);
        assert_eq!(
            issues(&rename.replace("[\"eno1\"]", "[\"lan0\"]"), Some(&seed())),
            vec![]
        );
        // Swapping two names is fine: the new eno2 is the old eno1.
        let swap = r#"
[[network.nics]]
name = "eno2"
match = { mac = ["52:54:00:00:00:01"] }
[[network.nics]]
name = "eno1"
match = { mac = ["52:54:00:00:00:02"] }
[[network.bridges]]
name = "vmbr0"
ports = ["eno2"]
"#;
        assert_eq!(issues(swap, Some(&seed())), vec![]);
    }

    #[test]
    fn vids() {
        assert!(super::vids_problem("2-4094").is_none());
        assert!(super::vids_problem("10 20 100-199").is_none());
        assert!(super::vids_problem("10,20").is_some());
        assert!(super::vids_problem("20-10").is_some());
        assert!(super::vids_problem("0-10").is_some());
    }
}
