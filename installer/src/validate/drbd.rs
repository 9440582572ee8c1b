//! `[drbd]`: replicated block devices between this node and its one peer (DRBD 8.4 pairs
//! exactly two nodes).

use super::names::lvm_name_problem;
use super::{join, static_addresses};
use crate::answer::{enum_name, Answer, DrbdFencing, DrbdProtocol, DrbdSecret, Issue, SyncRate};
use std::collections::HashMap;

/// Ports other services of a Proxmox VE node listen on.
const TAKEN_PORTS: [(u16, u16, &str); 6] = [
    (3128, 3128, "spiceproxy"),
    (5405, 5412, "corosync"),
    (5900, 5999, "VNC consoles"),
    (8006, 8006, "pveproxy"),
    (60000, 60050, "live migration"),
    (111, 111, "rpcbind"),
];

/// The package DRBD's fence-peer handler talks to.
const PACEMAKER: &str = "pacemaker";

/// DRBD fencing calls drbd-utils' `crm-fence-peer.sh`, which asks Pacemaker to fence the
/// peer; a Tandem node has Proxmox VE's HA, not Pacemaker, unless the answer installs it.
/// Without it the handler fails and, with `resource-and-stonith`, I/O stays frozen until
/// an admin resumes it by hand: a lost link stops every VM on the resource.
pub(super) fn warnings(a: &Answer, out: &mut Vec<Issue>) {
    let Some(d) = &a.drbd else { return };
    if a.system.packages.iter().any(|p| p == PACEMAKER) {
        return;
    }
    for (i, r) in d.resources.iter().enumerate() {
        // dont-care renders no handler.
        let Some(f) = r.fencing.filter(|f| !matches!(f, DrbdFencing::DontCare)) else {
            continue;
        };
        out.push(Issue::new(
            format!("drbd.resources[{i}].fencing"),
            format!(
                "\"{}\" calls crm-fence-peer.sh, which needs Pacemaker, and this node has \
                 none (system.packages lacks \"{PACEMAKER}\"): when the peer is lost the \
                 handler fails{}; without Pacemaker leave fencing out and rely on \
                 after-sb.two-primaries = \"disconnect\" (docs/operations.md, Fencing)",
                enum_name(&f),
                if matches!(f, DrbdFencing::ResourceAndStonith) {
                    " and I/O on the resource stays frozen until resumed by hand"
                } else {
                    ""
                }
            ),
        ));
    }
}

pub(super) fn check(a: &Answer, node: Option<usize>, out: &mut Vec<Issue>) {
    let Some(d) = &a.drbd else { return };
    if d.resources.is_empty() {
        return;
    }
    peer(a, node, out);
    let mut names = HashMap::new();
    let mut devices = HashMap::new();
    let mut ports = HashMap::new();
    let mut backings = HashMap::new();
    let mut vgs = HashMap::new();
    for (i, r) in d.resources.iter().enumerate() {
        let p = |k: &str| format!("drbd.resources[{i}].{k}");
        let dup =
            |seen: &mut HashMap<String, usize>, key: String, out: &mut Vec<Issue>, k: &str| {
                if let Some(first) = seen.insert(key.clone(), i) {
                    out.push(Issue::new(
                        p(k),
                        format!(
                            "{key} is already used by resource {}",
                            d.resources[first].name
                        ),
                    ));
                }
            };
        if r.name.is_empty()
            || !r
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push(Issue::new(
                p("name"),
                format!(
                    "{:?} is not a resource name; allowed are letters, digits, '_' and '-'",
                    r.name
                ),
            ));
        } else {
            dup(&mut names, r.name.clone(), out, "name");
        }
        let minor = r.device.strip_prefix("/dev/drbd").and_then(|n| {
            (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                .then(|| n.parse::<u32>().ok())
                .flatten()
        });
        match minor {
            Some(m) if m <= 1_048_575 => dup(&mut devices, r.device.clone(), out, "device"),
            _ => out.push(Issue::new(
                p("device"),
                format!(
                    "{:?} is not a DRBD device; expected /dev/drbdN, like \"/dev/drbd0\"",
                    r.device
                ),
            )),
        }
        backing(a, i, &r.backing, out);
        dup(&mut backings, r.backing.clone(), out, "backing");
        if r.port < 1024 {
            out.push(Issue::new(
                p("port"),
                format!(
                    "{} is below 1024; DRBD ports are 1024–65535 (7788 by custom)",
                    r.port
                ),
            ));
        } else if let Some((_, _, what)) = TAKEN_PORTS
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&r.port))
        {
            out.push(Issue::new(
                p("port"),
                format!(
                    "{} is used by {what} on a Proxmox VE node; choose another, like 7788",
                    r.port
                ),
            ));
        } else {
            dup(&mut ports, r.port.to_string(), out, "port");
        }
        if r.dual_primary && r.protocol != DrbdProtocol::C {
            out.push(Issue::new(
                p("protocol"),
                format!(
                    "is {} but dual-primary = true; allow-two-primaries requires protocol C; \
                     the seed hit this at runtime as 'Failure: (139) Protocol C required'",
                    r.protocol
                ),
            ));
        }
        if let Some(prob) = r.secret.given().and_then(secret_problem) {
            out.push(Issue::new(p("secret"), prob));
        }
        if !["sha1", "sha256", "sha384", "sha512"].contains(&r.hmac_alg.as_str()) {
            out.push(Issue::new(
                p("hmac-alg"),
                format!(
                    "{:?} is not supported; allowed are sha1, sha256, sha384 and sha512",
                    r.hmac_alg
                ),
            ));
        }
        if r.sync_rate == SyncRate::Fixed(crate::answer::Size(0)) {
            out.push(Issue::new(
                p("sync-rate"),
                "is 0; give \"auto\" or a rate like \"110M\"",
            ));
        }
        if let Some(l) = &r.lvm {
            if let Some(prob) = lvm_name_problem(&l.vg) {
                out.push(Issue::new(p("lvm.vg"), prob));
            } else if l.vg == a.storage.vg {
                out.push(Issue::new(
                    p("lvm.vg"),
                    format!(
                        "{} is also storage.vg, the volume group under this DRBD device; give \
                         the DRBD volume group its own name",
                        l.vg
                    ),
                ));
            } else {
                dup(&mut vgs, l.vg.clone(), out, "lvm.vg");
            }
        }
    }
}

/// The backing device: a raw volume of `storage.volumes`, or a /dev path.
fn backing(a: &Answer, i: usize, b: &str, out: &mut Vec<Issue>) {
    let path = format!("drbd.resources[{i}].backing");
    if let Some(name) = b.strip_prefix("volume:") {
        match a.storage.volumes.get(name) {
            None => {
                let list: Vec<String> = a.storage.volumes.keys().cloned().collect();
                out.push(Issue::new(
                    path,
                    format!(
                        "names volume {name:?}, which storage.volumes does not define; volumes: {}",
                        join(&list)
                    ),
                ));
            }
            Some(v) => {
                let (fs, mount) = v.effective(name);
                if fs.is_some() || mount.is_some() {
                    out.push(Issue::new(
                        path,
                        format!(
                            "volume {name} has a filesystem or mount point; a DRBD backing \
                             volume is raw (neither fs nor mount)"
                        ),
                    ));
                }
            }
        }
    } else if !(b.starts_with("/dev/") && b.len() > 5 && !b.contains(char::is_whitespace)) {
        out.push(Issue::new(
            path,
            format!("{b:?} is neither \"volume:<name>\" nor a /dev path"),
        ));
    }
}

/// The message never repeats the secret.
pub fn secret_problem(s: &str) -> Option<String> {
    if s == DrbdSecret::GENERATE {
        return None;
    }
    let n = s.chars().count();
    if n < 16 {
        return Some(format!(
            "is {n} characters long; a shared secret needs at least 16, or write \"generate\" \
             and run `tandem prepare`"
        ));
    }
    if n > 63 {
        return Some(format!(
            "is {n} characters long; DRBD 8.4 takes at most 63 (a 64-character secret fails \
             at connect as 'Failure: (126) UnknownMandatoryTag')"
        ));
    }
    if s.chars()
        .any(|c| !c.is_ascii_graphic() || c == '"' || c == '\\')
    {
        return Some(
            "contains a space, a quote, a backslash or a non-ASCII character, which drbd.conf \
             cannot hold; use printable ASCII"
                .into(),
        );
    }
    let norm: String = s
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let distinct = {
        let mut c: Vec<char> = s.chars().collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    let placeholder = [
        "secret",
        "changeme",
        "password",
        "example",
        "placeholder",
        "drbd",
    ]
    .iter()
    .any(|w| norm.contains(w));
    (placeholder || distinct < 6).then(|| {
        "looks like a placeholder, not a secret; write \"generate\" and run `tandem prepare`, \
         which puts the same random secret in every node's file"
            .to_string()
    })
}

/// This node and its one peer, and the addresses DRBD replicates between.
fn peer(a: &Answer, node: Option<usize>, out: &mut Vec<Issue>) {
    let Some(c) = &a.cluster else {
        out.push(Issue::new(
            "drbd",
            "DRBD resources need a peer; add a [cluster] listing this node and its peer \
             (exactly 2 nodes)",
        ));
        return;
    };
    if c.nodes.len() != 2 {
        out.push(Issue::new(
            "cluster.nodes",
            format!(
                "lists {} nodes; DRBD 8.4 replicates between exactly 2, so a cluster with DRBD \
                 resources has 2 nodes",
                c.nodes.len()
            ),
        ));
        return;
    }
    // Not a member: the cluster check reports it.
    let Some(me) = node else { return };
    let statics = static_addresses(a);
    let list: Vec<String> = statics.iter().map(|n| n.to_string()).collect();
    let mine = &c.nodes[me];
    if let Some(r) = mine.replication_address {
        if !statics.iter().any(|n| n.addr() == r) {
            out.push(Issue::new(
                format!("cluster.nodes[{me}].replication-address"),
                format!(
                    "{r} is not one of this node's static addresses ({}); DRBD listens on it",
                    join(&list)
                ),
            ));
        }
    }
    let p = 1 - me;
    let peer = &c.nodes[p];
    let ip = peer.drbd_address();
    if !statics.iter().any(|n| n.contains(&ip)) {
        let key = if peer.replication_address.is_some() {
            "replication-address"
        } else {
            "address"
        };
        out.push(Issue::new(
            format!("cluster.nodes[{p}].{key}"),
            format!(
                "DRBD peer {} replicates from {ip}, which is in no subnet of this node's static \
                 addresses ({}); a DRBD peer needs a local address in a shared subnet",
                peer.name,
                join(&list)
            ),
        ));
    }
}

/// What must agree between the two nodes of one cluster file, each node's answer resolved
/// with its overrides: peers whose net options or ports differ never connect (or, for the
/// secret, fail authentication at every connect), which the seed found only at runtime.
/// Returns (node index, issue) pairs; the issue's path is the key in that node's view, so
/// it points at the node's override when the difference comes from there.
pub fn across_nodes(nodes: &[(String, Answer)]) -> Vec<(usize, Issue)> {
    let mut out = Vec::new();
    let Some(((first_name, first), rest)) = nodes.split_first() else {
        return out;
    };
    let empty = Vec::new();
    let res = |a: &Answer| {
        a.drbd
            .as_ref()
            .map(|d| &d.resources)
            .unwrap_or(&empty)
            .clone()
    };
    let base = res(first);
    for (j, (name, a)) in rest.iter().enumerate() {
        let j = j + 1;
        let mine = res(a);
        for (i, r) in mine.iter().enumerate() {
            let p = |k: &str| format!("drbd.resources[{i}].{k}");
            let Some(b) = base.iter().find(|b| b.name == r.name) else {
                out.push((
                    j,
                    Issue::new(
                        p("name"),
                        format!(
                            "resource {} exists on node {name} but not on node {first_name}; \
                             a DRBD resource needs both peers",
                            r.name
                        ),
                    ),
                ));
                continue;
            };
            let mut differ = |key: &str, here: String, there: String, what: &str| {
                if here != there {
                    out.push((
                        j,
                        Issue::new(
                            p(key),
                            format!(
                                "is {here} on node {name} but {there} on node {first_name}; \
                                 both peers of resource {} must use the same {what}",
                                r.name
                            ),
                        ),
                    ));
                }
            };
            differ("port", r.port.to_string(), b.port.to_string(), "port");
            differ(
                "protocol",
                r.protocol.to_string(),
                b.protocol.to_string(),
                "protocol",
            );
            differ(
                "dual-primary",
                r.dual_primary.to_string(),
                b.dual_primary.to_string(),
                "dual-primary setting (allow-two-primaries is a net option both must share)",
            );
            differ(
                "hmac-alg",
                r.hmac_alg.clone(),
                b.hmac_alg.clone(),
                "hmac-alg",
            );
            differ("device", r.device.clone(), b.device.clone(), "device");
            let sb = |x: &crate::answer::AfterSb| {
                [
                    enum_name(&x.zero_primaries),
                    enum_name(&x.one_primary),
                    enum_name(&x.two_primaries),
                ]
            };
            for (k, (h, t)) in ["zero-primaries", "one-primary", "two-primaries"]
                .iter()
                .zip(sb(&r.after_sb).into_iter().zip(sb(&b.after_sb)))
            {
                differ(&format!("after-sb.{k}"), h, t, "after-sb policies");
            }
            if r.secret != b.secret {
                // Never the values: they are the secret.
                out.push((
                    j,
                    Issue::new(
                        p("secret"),
                        format!(
                            "differs between node {name} and node {first_name}; both peers of \
                             resource {} must share one secret (DRBD would refuse every connect \
                             with an authentication failure); write secret = \"generate\" once \
                             and run `tandem prepare`",
                            r.name
                        ),
                    ),
                ));
            }
        }
        for b in base
            .iter()
            .filter(|b| !mine.iter().any(|r| r.name == b.name))
        {
            out.push((
                j,
                Issue::new(
                    "drbd",
                    format!(
                        "resource {} exists on node {first_name} but not on node {name}; a DRBD \
                         resource needs both peers",
                        b.name
                    ),
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    const CLUSTER: &str = "[cluster]\nname = \"lab\"\nnodes = [{ name = \"pve1\", address = \"10.0.0.5\" }, { name = \"pve2\", address = \"10.0.0.6\" }]\n";

    /// The base answer with a `drbd` volume, `cluster`, resource r0 (plus `res`), and
    /// `system` lines added to `[system]`.
    fn with_resource(res: &str, cluster: &str, system: &str) -> crate::answer::Answer {
        answer(|s| {
            format!(
                "{}\n{cluster}\n[[drbd.resources]]\nname = \"r0\"\ndevice = \"/dev/drbd0\"\nbacking = \"volume:drbd\"\n{res}",
                s.replace("[system]\n", &format!("[system]\n{system}\n"))
                    .replace("swap = { size = \"4G\" }", "swap = { size = \"4G\" }\ndrbd = { size = \"rest\" }")
            )
        })
    }

    fn issues(res: &str, cluster: &str) -> Vec<crate::answer::Issue> {
        let a = with_resource(res, cluster, "");
        let mut out = Vec::new();
        super::check(&a, Some(0), &mut out);
        out
    }

    #[test]
    fn resource_checks() {
        assert_eq!(issues("", CLUSTER), vec![]);
        let i = issues("protocol = \"B\"\ndual-primary = true\nsecret = \"my-secret\"\nport = 8006\nlvm = { vg = \"pve\" }", CLUSTER);
        assert_eq!(
            paths(&i),
            vec![
                "drbd.resources[0].port",
                "drbd.resources[0].protocol",
                "drbd.resources[0].secret",
                "drbd.resources[0].lvm.vg",
            ]
        );
        assert!(i[1].message.contains("(139) Protocol C required"));
        assert!(!i[2].message.contains("my-secret"));
        let far = CLUSTER.replace("10.0.0.6", "10.9.0.6");
        assert_eq!(paths(&issues("", &far)), vec!["cluster.nodes[1].address"]);
        assert_eq!(paths(&issues("", "")), vec!["drbd"]);
    }

    #[test]
    fn secrets() {
        assert!(super::secret_problem("generate").is_none());
        assert!(super::secret_problem("Zq8v0J2kLx7Wm4Rt9bNc").is_none());
        assert!(super::secret_problem("short").is_some());
        assert!(super::secret_problem("my-secret-my-secret").is_some());
        assert!(super::secret_problem("aaaaaaaaaaaaaaaaaaaa").is_some());
    }

    fn warned(res: &str, packages: &str) -> Vec<crate::answer::Issue> {
        let a = with_resource(res, CLUSTER, packages);
        let mut out = Vec::new();
        super::warnings(&a, &mut out);
        out
    }

    /// crm-fence-peer.sh without Pacemaker: a warning at the key, naming what to do.
    #[test]
    fn fencing_handlers_without_pacemaker_warn() {
        for f in ["resource-only", "resource-and-stonith"] {
            let w = warned(&format!("fencing = \"{f}\"\n"), "");
            assert_eq!(
                paths(&w),
                vec!["drbd.resources[0].fencing".to_string()],
                "{f}"
            );
            assert!(w[0].message.contains("Pacemaker"), "{}", w[0].message);
            assert!(w[0].message.contains("two-primaries"), "{}", w[0].message);
        }
        assert!(warned("fencing = \"resource-and-stonith\"\n", "")[0]
            .message
            .contains("frozen"));
        assert_eq!(warned("fencing = \"dont-care\"\n", ""), vec![]);
        assert_eq!(warned("", ""), vec![]);
        assert_eq!(
            warned(
                "fencing = \"resource-and-stonith\"\n",
                "packages = [\"pacemaker\"]"
            ),
            vec![]
        );
        // A warning is not an error: validation itself passes.
        assert_eq!(issues("fencing = \"resource-only\"\n", CLUSTER), vec![]);
    }
}
