//! The replies so far, and the `Answer` they make. A question not answered yet takes its
//! default, so a partial draft is always a whole answer (the validator can look at it).

use super::{disks, drbd, locale, network, volumes};
use crate::answer::{
    Address, AddressMethod, Answer, Apt, Bond, BondMode, Bridge, Cluster, ClusterNode, Drbd,
    DrbdResource, Install, Network, NicSelector, RaidLevel, Storage, System, Vlan, Volume,
    VolumeSize,
};
use crate::hardware::Inventory;
use indexmap::IndexMap;
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub keyboard: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    /// Kernel names of the chosen disks, in inventory order.
    pub disks: Option<Vec<String>>,
    pub level: Option<RaidLevel>,
    /// Whether this node replicates to a DRBD peer.
    pub drbd: bool,
    pub root: Option<VolumeSize>,
    pub swap: Option<VolumeSize>,
    pub vz: Option<VolumeSize>,
    pub drbd_size: Option<VolumeSize>,
    /// Kernel names of the uplink NICs (two or more make a bond).
    pub members: Option<Vec<String>>,
    pub bond_mode: BondMode,
    pub vlans: Vec<u16>,
    /// The bridge that holds this node's address.
    pub address_interface: Option<String>,
    pub address: Option<AddressMethod>,
    pub gateway: Option<IpAddr>,
    pub dns: Option<Vec<IpAddr>>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    /// SHA-512 crypt hash; the plain text is never kept.
    pub password_hash: Option<String>,
    pub ssh_keys: Vec<String>,
    pub cluster_name: Option<String>,
    pub peer_name: Option<String>,
    pub peer_address: Option<IpAddr>,
    /// A NIC of its own for DRBD replication; None replicates over the cluster network.
    pub replication_nic: Option<String>,
    pub replication_address: Option<IpNet>,
    pub peer_replication_address: Option<IpAddr>,
    pub confirmed: bool,
    pub save_default: Option<PathBuf>,
    pub save_to: Option<PathBuf>,
    /// "Save to another path" was chosen: ask for the path.
    pub save_other: bool,
}

/// A model type with the answer file's own defaults for every field `toml` leaves out, so
/// the wizard never restates a default the model already has.
pub(crate) fn with_model_defaults<T: DeserializeOwned>(toml_text: &str) -> T {
    toml::from_str(toml_text).expect("the required fields given here satisfy the model")
}

/// Index of this node in `cluster.nodes`: it is listed first when there is a peer.
pub fn node_index(d: &Draft) -> Option<usize> {
    d.drbd.then_some(0)
}

pub fn to_answer(d: &Draft, inv: &Inventory) -> Answer {
    let mut system: System = with_model_defaults("domain = \"\"");
    system.hostname = d.hostname.clone().unwrap_or_default();
    system.domain = d.domain.clone().unwrap_or_default();
    system.keyboard = locale::keyboard(d);
    system.locale = locale::locale(d);
    system.timezone = locale::timezone(d);
    system.root_password_hash = d.password_hash.clone();
    system.root_ssh_keys = d.ssh_keys.clone();

    let mut storage: Storage = with_model_defaults("level = \"raid1\"\ndisks = {}\nvolumes = {}");
    storage.disks = disks::selection(d, inv);
    storage.wipe = disks::wipe_policy(d, inv);
    storage.level = super::raid::level(d, inv);
    storage.firmware = disks::firmware(d, inv);
    storage.volumes = volume_table(d, inv);

    let answer_drbd = d.drbd.then(|| {
        let r: DrbdResource = with_model_defaults(
            "name = \"r0\"\ndevice = \"/dev/drbd0\"\nbacking = \"volume:drbd\"",
        );
        Drbd { resources: vec![r] }
    });
    let cluster = d.drbd.then(|| cluster(d));

    Answer {
        system,
        storage,
        network: network_section(d, inv),
        drbd: answer_drbd,
        cluster,
        apt: Apt::default(),
        install: Install::default(),
        report: None,
        first_boot: None,
    }
}

fn volume_table(d: &Draft, inv: &Inventory) -> IndexMap<String, Volume> {
    let vol = |size: VolumeSize| Volume {
        size,
        fs: None,
        mount: None,
        options: None,
    };
    let mut v = IndexMap::new();
    v.insert(
        "root".into(),
        vol(volumes::size(super::Step::RootSize, d, inv)),
    );
    v.insert(
        "swap".into(),
        vol(volumes::size(super::Step::SwapSize, d, inv)),
    );
    v.insert(
        "vz".into(),
        Volume {
            fs: Some(crate::answer::Filesystem::Ext4),
            mount: Some("/var/lib/vz".into()),
            ..vol(volumes::size(super::Step::VzSize, d, inv))
        },
    );
    if d.drbd {
        // Raw: the backing device of DRBD resource r0.
        v.insert(
            "drbd".into(),
            vol(volumes::size(super::Step::DrbdSize, d, inv)),
        );
    }
    v
}

/// The interface the node's uplink is: the bond, or the one NIC.
pub fn uplink(d: &Draft, inv: &Inventory) -> String {
    let m = network::members(d, inv);
    match m.as_slice() {
        [one] => one.clone(),
        _ => network::BOND.into(),
    }
}

fn network_section(d: &Draft, inv: &Inventory) -> Network {
    let members = network::members(d, inv);
    let up = uplink(d, inv);
    let mut net = Network {
        pin_names: true,
        dns: network::dns(d),
        ..Network::default()
    };
    if members.len() >= 2 {
        let mut b: Bond = with_model_defaults("name = \"bond0\"\nmembers = {}");
        b.name = network::BOND.into();
        b.members = NicSelector {
            mac: members
                .iter()
                .filter_map(|n| inv.physical_nics().find(|x| &x.name == n))
                .map(|n| n.hw_mac().clone())
                .collect(),
            ..NicSelector::default()
        };
        b.mode = d.bond_mode;
        net.bonds.push(b);
    }
    let mut br: Bridge = with_model_defaults("name = \"vmbr0\"");
    br.ports = vec![up.clone()];
    net.bridges.push(br);
    if !d.vlans.is_empty() {
        net.vlans.push(Vlan {
            parent: up,
            ids: d.vlans.clone(),
            bridge: Some(network::VLAN_BRIDGE.into()),
            mtu: None,
        });
    }
    net.addresses.push(Address {
        interface: network::address_interface(d),
        address: d.address.unwrap_or(AddressMethod::Dhcp),
        gateway: d.gateway,
    });
    if let (true, Some(nic), Some(a)) = (d.drbd, &d.replication_nic, d.replication_address) {
        net.addresses.push(Address {
            interface: nic.clone(),
            address: AddressMethod::Static(a),
            gateway: None,
        });
    }
    net
}

/// The address this node has on the cluster network.
pub fn own_ip(d: &Draft) -> Option<IpAddr> {
    match d.address {
        Some(AddressMethod::Static(n)) => Some(n.addr()),
        _ => None,
    }
}

fn cluster(d: &Draft) -> Cluster {
    let unknown = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let me = ClusterNode {
        name: d.hostname.clone().unwrap_or_default(),
        address: own_ip(d).unwrap_or(unknown),
        replication_address: d
            .replication_nic
            .as_ref()
            .and(d.replication_address.map(|n| n.addr())),
        macs: vec![],
        overrides: None,
    };
    let peer = ClusterNode {
        name: d.peer_name.clone().unwrap_or_default(),
        address: d.peer_address.unwrap_or(unknown),
        replication_address: d.replication_nic.as_ref().and(d.peer_replication_address),
        macs: vec![],
        overrides: None,
    };
    let mut c: Cluster = with_model_defaults("name = \"\"\nnodes = []");
    c.name = drbd::cluster_name(d);
    c.nodes = vec![me, peer];
    c
}
