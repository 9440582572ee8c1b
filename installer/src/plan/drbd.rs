//! DRBD resources with every path, address and rate decided: the renderer only formats.

use super::network::NetworkPlan;
use super::storage::StoragePlan;
use crate::answer::{AfterSb, Answer, DrbdFencing, DrbdProtocol, Issue, SyncRate, MIB};
use serde::Serialize;
use std::net::IpAddr;

/// Link speed assumed when the replication NIC's speed is unknown: gigabit, the seed's link.
pub const ASSUMED_LINK_MBPS: u32 = 1000;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DrbdHost {
    pub name: String,
    pub address: IpAddr,
}

/// Resync throttling, in bytes per second.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DrbdSync {
    /// Fixed resync rate (`resync-rate`): the rate when the dynamic controller is off, and
    /// its starting point when on.
    pub resync_rate: u64,
    /// Dynamic controller planning horizon in 0.1 s (`c-plan-ahead`); 0 turns it off.
    pub c_plan_ahead: u32,
    /// Ceiling of the dynamic controller (`c-max-rate`).
    pub c_max_rate: u64,
    /// Link speed the rates come from, when `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_mbps: Option<u32>,
    /// How the numbers were reached, for the plan and a comment in the .res file.
    pub basis: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedDrbd {
    pub name: String,
    pub device: String,
    /// The backing device on every host (one answer describes both peers).
    pub disk: String,
    /// The storage volume backing it, if `volume:<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    pub port: u16,
    pub protocol: DrbdProtocol,
    pub dual_primary: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wfc_timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degr_wfc_timeout: Option<u32>,
    pub after_sb: AfterSb,
    pub hmac_alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing: Option<DrbdFencing>,
    /// Every cluster node, in the file's order.
    pub hosts: Vec<DrbdHost>,
    pub sync: DrbdSync,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvm_vg: Option<String>,
}

/// The rates for `sync-rate`. `auto`: a third of the link for the fixed rate (what DRBD's
/// guide recommends, leaving room for application writes replicated over the same link) and
/// the dynamic controller (`c-plan-ahead` 2 s) allowed up to 90 % of the link when the
/// peer link is idle. A bond does not speed up one TCP connection, so a bond counts as its
/// slowest member.
pub fn sync_rates(rate: SyncRate, link_mbps: Option<u32>) -> DrbdSync {
    match rate {
        SyncRate::Fixed(r) => DrbdSync {
            resync_rate: r.0,
            c_plan_ahead: 0,
            c_max_rate: r.0,
            link_mbps: None,
            basis: format!("fixed sync-rate {r} from the answer; dynamic controller off"),
        },
        SyncRate::Auto => {
            let (mbps, basis) = match link_mbps {
                Some(m) if m > 0 => (m, format!("from the replication link's {m} Mbit/s")),
                _ => (
                    ASSUMED_LINK_MBPS,
                    format!(
                        "the replication link's speed is unknown; assuming {ASSUMED_LINK_MBPS} \
                         Mbit/s"
                    ),
                ),
            };
            let bytes = u64::from(mbps) * 1_000_000 / 8;
            DrbdSync {
                resync_rate: (bytes / 3).max(MIB),
                c_plan_ahead: 20,
                c_max_rate: (bytes * 9 / 10).max(MIB),
                link_mbps: Some(mbps),
                basis: format!("{basis}: resync-rate a third of it, c-max-rate 90 % of it"),
            }
        }
    }
}

pub(super) fn build(
    answer: &Answer,
    node: Option<usize>,
    storage: &StoragePlan,
    net: &NetworkPlan,
) -> Result<Vec<PlannedDrbd>, Vec<Issue>> {
    let Some(drbd) = &answer.drbd else {
        return Ok(vec![]);
    };
    let mut issues = Vec::new();
    let mut out = Vec::new();
    let cluster = answer.cluster.as_ref();
    for (i, r) in drbd.resources.iter().enumerate() {
        let path = format!("drbd.resources[{i}]");
        let (disk, volume) = match r.backing.strip_prefix("volume:") {
            Some(v) => match storage.lvm.volumes.iter().find(|lv| lv.name == v) {
                Some(lv) => (lv.dev.to_string(), Some(v.to_string())),
                None => {
                    issues.push(Issue::new(
                        format!("{path}.backing"),
                        format!("no volume {v:?} in storage.volumes"),
                    ));
                    continue;
                }
            },
            None => (r.backing.clone(), None),
        };
        // Every cluster node, in the file's order: both peers render the same file.
        let mut hosts = Vec::new();
        let mut me = None;
        match (cluster, node) {
            (Some(c), Some(i)) => {
                me = Some(c.nodes[i].drbd_address());
                hosts.extend(c.nodes.iter().map(|n| DrbdHost {
                    name: n.name.clone(),
                    address: n.drbd_address(),
                }));
            }
            _ => issues.push(Issue::new(
                path.clone(),
                "a DRBD resource needs its peer: describe both nodes in [cluster] nodes, \
                 this one included",
            )),
        }
        // The replication link: the interface holding this host's DRBD address.
        let link = me.and_then(|ip| net.interface_with(ip));
        let link_mbps = link.and_then(|l| {
            net.lower_nics(l)
                .iter()
                .map(|n| n.speed_mbps)
                .collect::<Option<Vec<u32>>>()
                .and_then(|v| v.into_iter().min())
        });
        out.push(PlannedDrbd {
            name: r.name.clone(),
            device: r.device.clone(),
            disk,
            volume,
            port: r.port,
            protocol: r.protocol,
            dual_primary: r.dual_primary,
            wfc_timeout: r.wfc_timeout,
            degr_wfc_timeout: r.degr_wfc_timeout,
            after_sb: r.after_sb.clone(),
            hmac_alg: r.hmac_alg.clone(),
            fencing: r.fencing,
            hosts,
            sync: sync_rates(r.sync_rate, link_mbps),
            lvm_vg: r.lvm.as_ref().map(|l| l.vg.clone()),
        });
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(issues)
    }
}
