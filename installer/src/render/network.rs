//! /etc/network/interfaces in ifupdown2 syntax, laid out as Proxmox VE 9 writes it: a tab
//! before each attribute, `auto` on bonds, VLANs and bridges, physical NICs as
//! `inet manual` stanzas, `source /etc/network/interfaces.d/*` last.

use super::{RenderedFile, HEADER};
use crate::answer::{enum_name, AddressMethod};
use crate::plan::network::{NetworkPlan, PlannedAddress};
use crate::plan::Plan;
use std::fmt::Write as _;

pub const PATH: &str = "/etc/network/interfaces";

/// An address family's method and its attribute lines.
type Stanza = (String, Vec<String>);

/// The `inet` and `inet6` stanzas of one interface: method and attribute lines.
fn address_stanzas(net: &NetworkPlan, iface: &str) -> (Stanza, Option<Stanza>) {
    let mine: Vec<&PlannedAddress> = net
        .addresses
        .iter()
        .filter(|a| a.interface == iface)
        .collect();
    let mut v4 = ("manual".to_string(), Vec::new());
    let mut v6: Option<Stanza> = None;
    for a in mine {
        match a.address {
            AddressMethod::Static(n) if n.addr().is_ipv4() => {
                v4.0 = "static".into();
                v4.1.push(format!("address {n}"));
                if let Some(g) = a.gateway {
                    v4.1.push(format!("gateway {g}"));
                }
            }
            AddressMethod::Dhcp => v4.0 = "dhcp".into(),
            AddressMethod::Static(n) => {
                let e = v6.get_or_insert_with(|| ("static".into(), Vec::new()));
                e.0 = "static".into();
                e.1.push(format!("address {n}"));
                if let Some(g) = a.gateway {
                    e.1.push(format!("gateway {g}"));
                }
            }
            AddressMethod::Dhcp6 => v6 = Some(("dhcp".into(), Vec::new())),
            AddressMethod::Auto6 => v6 = Some(("auto".into(), Vec::new())),
        }
    }
    (v4, v6)
}

fn stanza(out: &mut String, net: &NetworkPlan, name: &str, auto: bool, attrs: Vec<String>) {
    let ((method, mut addr), v6) = address_stanzas(net, name);
    let addressed = method != "manual" || v6.is_some();
    if auto || addressed {
        let _ = writeln!(out, "auto {name}");
    }
    let _ = writeln!(out, "iface {name} inet {method}");
    addr.extend(attrs);
    for a in addr {
        let _ = writeln!(out, "\t{a}");
    }
    if let Some((m, lines)) = v6 {
        let _ = writeln!(out, "\niface {name} inet6 {m}");
        for a in lines {
            let _ = writeln!(out, "\t{a}");
        }
    }
    out.push('\n');
}

pub fn interfaces(plan: &Plan) -> RenderedFile {
    let net = &plan.network;
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(o, "# network interface settings (ifupdown2)\n");
    let _ = writeln!(o, "auto lo\niface lo inet loopback\n");
    for n in &net.nics {
        let mut attrs = Vec::new();
        // ifupdown2's ethtool addon applies these; the seed's `post-up ethtool -K … tso off`.
        for (k, on) in n.offload.settings() {
            attrs.push(format!("{k}-offload {}", if on { "on" } else { "off" }));
        }
        if let Some(m) = n.mtu {
            attrs.push(format!("mtu {m}"));
        }
        stanza(&mut o, net, &n.name, false, attrs);
    }
    for b in &net.bonds {
        let mut attrs = vec![
            format!("bond-slaves {}", b.members.join(" ")),
            format!("bond-miimon {}", b.miimon),
            format!("bond-mode {}", b.mode),
        ];
        if let Some(r) = b.lacp_rate {
            attrs.push(format!("bond-lacp-rate {}", enum_name(&r)));
        }
        if let Some(x) = b.xmit_hash_policy {
            attrs.push(format!("bond-xmit-hash-policy {}", enum_name(&x)));
        }
        if let Some(p) = &b.primary {
            attrs.push(format!("bond-primary {p}"));
        }
        if let Some(m) = b.mtu {
            attrs.push(format!("mtu {m}"));
        }
        stanza(&mut o, net, &b.name, true, attrs);
    }
    for v in &net.vlans {
        // `<parent>.<id>`: ifupdown2 takes the raw device and id from the name.
        let mut attrs = Vec::new();
        if let Some(m) = v.mtu {
            attrs.push(format!("mtu {m}"));
        }
        stanza(&mut o, net, &v.name, true, attrs);
    }
    for b in &net.bridges {
        let mut attrs = vec![
            format!(
                "bridge-ports {}",
                if b.ports.is_empty() {
                    "none".to_string()
                } else {
                    b.ports.join(" ")
                }
            ),
            format!("bridge-stp {}", if b.stp { "on" } else { "off" }),
            format!("bridge-fd {}", b.fd),
        ];
        if b.vlan_aware {
            attrs.push("bridge-vlan-aware yes".into());
            attrs.push(format!(
                "bridge-vids {}",
                b.vids.as_deref().unwrap_or("2-4094")
            ));
        }
        if let Some(m) = b.mtu {
            attrs.push(format!("mtu {m}"));
        }
        stanza(&mut o, net, &b.name, true, attrs);
    }
    o.push_str("source /etc/network/interfaces.d/*\n");
    RenderedFile::new(PATH, o)
}
