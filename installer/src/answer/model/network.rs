//! `[network]`: NICs, bonds, VLANs, bridges and addresses.

use super::*;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Network {
    /// Name servers for /etc/resolv.conf.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<IpAddr>,
    /// DNS search domains; the system domain is always searched first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Write a systemd .link file for every NIC the config uses, keyed by its permanent MAC,
    /// so names never move between boots or kernels.
    #[serde(default = "default_true")]
    pub pin_names: bool,
    /// Named NICs: give a NIC found by MAC, driver or name a stable name of your own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<NicDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonds: Vec<Bond>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<Vlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<Bridge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
}

/// Picks NICs from the inventory. Criteria combine (a NIC must pass all that are given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NicSelector {
    /// Permanent MAC addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mac: Vec<MacAddr>,
    /// Kernel driver glob, e.g. "e1000e" or "mlx5*".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Interface name glob, e.g. "enp1s0f*", or a name from `network.nics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Exactly this many NICs must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NicDef {
    /// The name the NIC gets (pinned by a .link file), at most 15 characters.
    pub name: String,
    /// How to find it; must match exactly one NIC.
    #[serde(rename = "match")]
    pub matches: NicSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Offload::is_empty")]
    pub offload: Offload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Bond {
    pub name: String,
    /// The member NICs.
    pub members: NicSelector,
    #[serde(default)]
    pub mode: BondMode,
    /// Link monitoring interval in milliseconds.
    #[serde(default = "default_miimon")]
    pub miimon: u32,
    /// LACP rate, 802.3ad only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_rate: Option<LacpRate>,
    /// Transmit hash policy, for balance-xor and 802.3ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<XmitHashPolicy>,
    /// Preferred member for active-backup (a member's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Offload settings applied to every member (the seed turned TSO off on Intel NICs).
    #[serde(default, skip_serializing_if = "Offload::is_empty")]
    pub offload: Offload,
}

fn default_miimon() -> u32 {
    100
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BondMode {
    #[serde(rename = "balance-rr")]
    BalanceRr,
    #[default]
    #[serde(rename = "active-backup")]
    ActiveBackup,
    #[serde(rename = "balance-xor")]
    BalanceXor,
    #[serde(rename = "broadcast")]
    Broadcast,
    #[serde(rename = "802.3ad")]
    Lacp,
    #[serde(rename = "balance-tlb")]
    BalanceTlb,
    #[serde(rename = "balance-alb")]
    BalanceAlb,
}

impl fmt::Display for BondMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(enum_name(self).as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LacpRate {
    Slow,
    Fast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum XmitHashPolicy {
    #[serde(rename = "layer2")]
    Layer2,
    #[serde(rename = "layer2+3")]
    Layer23,
    #[serde(rename = "layer3+4")]
    Layer34,
    #[serde(rename = "encap2+3")]
    Encap23,
    #[serde(rename = "encap3+4")]
    Encap34,
}

/// Offload switches (ethtool -K). Unset means leave the driver's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Offload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tso: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gso: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gro: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lro: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<bool>,
}

impl Offload {
    pub fn is_empty(&self) -> bool {
        self == &Offload::default()
    }
    /// The set switches as (ethtool feature name, on) pairs, in a fixed order.
    pub fn settings(&self) -> Vec<(&'static str, bool)> {
        [
            ("tso", self.tso),
            ("gso", self.gso),
            ("gro", self.gro),
            ("lro", self.lro),
            ("rx", self.rx),
            ("tx", self.tx),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Vlan {
    /// The interface carrying the tagged frames: a bond, a named NIC or a NIC name.
    pub parent: String,
    /// VLAN ids, 1–4094; each becomes `<parent>.<id>`.
    pub ids: Vec<u16>,
    /// Put each VLAN in its own bridge named by this template; `{id}` is the VLAN id
    /// (e.g. "vmbr{id}"). Bridges get stp off and forward delay 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Bridge {
    pub name: String,
    /// Ports: bonds, VLAN interfaces, named NICs or NIC names. Empty for a host-only bridge.
    #[serde(default)]
    pub ports: Vec<String>,
    /// VLAN-aware bridge (PVE's per-VM VLAN tags), instead of one bridge per VLAN.
    #[serde(default)]
    pub vlan_aware: bool,
    /// VLAN ids a VLAN-aware bridge carries, e.g. "2-4094".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vids: Option<String>,
    #[serde(default)]
    pub stp: bool,
    /// Forward delay in seconds.
    #[serde(default)]
    pub fd: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Address {
    /// The interface that holds the address (usually a bridge).
    pub interface: String,
    /// A static address with prefix ("10.7.4.45/24", "2001:db8::5/64"), "dhcp" (IPv4),
    /// "dhcp6" or "auto6" (SLAAC).
    pub address: AddressMethod,
    /// Default gateway; must lie inside the address's subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressMethod {
    Static(IpNet),
    Dhcp,
    Dhcp6,
    Auto6,
}

impl fmt::Display for AddressMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(n) => write!(f, "{n}"),
            Self::Dhcp => f.write_str("dhcp"),
            Self::Dhcp6 => f.write_str("dhcp6"),
            Self::Auto6 => f.write_str("auto6"),
        }
    }
}

impl std::str::FromStr for AddressMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dhcp" => Ok(Self::Dhcp),
            "dhcp6" => Ok(Self::Dhcp6),
            "auto6" => Ok(Self::Auto6),
            _ => s.parse::<IpNet>().map(Self::Static).map_err(|_| {
                format!(
                    "invalid address {s:?}; expected an address with prefix length \
                     (\"10.7.4.45/24\", \"2001:db8::5/64\"), \"dhcp\", \"dhcp6\" or \"auto6\""
                )
            }),
        }
    }
}

impl Serialize for AddressMethod {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for AddressMethod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for AddressMethod {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AddressMethod".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An address with prefix length, \"dhcp\", \"dhcp6\" or \"auto6\".",
            "type": "string"
        })
    }
}

/// A MAC address, stored lower-case with colons.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub String);

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6
            || !parts
                .iter()
                .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(format!(
                "invalid MAC address {s:?}; expected six hex pairs like \"52:54:00:12:34:56\""
            ));
        }
        Ok(MacAddr(parts.join(":").to_ascii_lowercase()))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for MacAddr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MacAddr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$"
        })
    }
}
