//! DRBD configuration in 8.4 syntax: trixie's kernel module is DRBD 8.4 and drbd-utils 9
//! drives it with the 8.4 grammar. One .res per resource, 0600 (it holds the shared
//! secret), with an `on` section for every host: both peers render the same file.

use super::{RenderedFile, Secrets, HEADER};
use crate::answer::{enum_name, DrbdFencing, MIB};
use crate::contract::drbd;
use crate::plan::{Plan, PlannedDrbd};
use std::fmt::Write as _;
use std::net::IpAddr;

pub fn files(plan: &Plan, secrets: &Secrets) -> Vec<RenderedFile> {
    if plan.drbd.is_empty() {
        return vec![];
    }
    let mut v = vec![RenderedFile::new(
        "/etc/drbd.d/global_common.conf",
        format!("{HEADER}\nglobal {{\n\tusage-count no;\n}}\n\ncommon {{\n}}\n"),
    )];
    for r in &plan.drbd {
        v.push(RenderedFile::secret(
            format!("/etc/drbd.d/{}.res", r.name),
            resource(r, secrets.drbd(&r.name)),
        ));
    }
    if let Some(cfg) = node_config(plan) {
        let json = serde_json::to_string_pretty(&cfg).unwrap_or_default();
        v.push(RenderedFile::new(drbd::CONFIG, format!("{json}\n")));
    }
    // The first-boot marker: this backing volume is made empty by this install, so
    // `tandem drbd-start` may create DRBD metadata on it and, with the peer's agreement
    // through DRBD, skip the initial sync. A /dev path backing gets none: it may hold data.
    for r in plan.drbd.iter().filter(|r| r.volume.is_some()) {
        v.push(RenderedFile::new(
            format!("{}/{}.new", drbd::STATE_DIR, r.name),
            format!(
                "{} was created empty by tandem install; tandem drbd-start creates the DRBD \
                 metadata of {} on it at first boot and removes this file.\n",
                r.disk, r.name
            ),
        ));
    }
    v
}

/// What `tandem drbd-start` needs to know about this node's resources.
fn node_config(plan: &Plan) -> Option<drbd::NodeConfig> {
    let me = plan.node.clone()?;
    let resources = plan
        .drbd
        .iter()
        .map(|r| drbd::ResourceConfig {
            name: r.name.clone(),
            device: r.device.clone(),
            disk: r.disk.clone(),
            first_node: r.hosts.first().map(|h| h.name.clone()).unwrap_or_default(),
            peer: r
                .hosts
                .iter()
                .find(|h| h.name != me)
                .map(|h| h.name.clone())
                .unwrap_or_default(),
            address: r
                .hosts
                .iter()
                .find(|h| h.name == me)
                .map(|h| h.address.to_string()),
            dual_primary: r.dual_primary,
            lvm_vg: r.lvm_vg.clone(),
            wfc_timeout: r.wfc_timeout,
        })
        .collect();
    Some(drbd::NodeConfig {
        node: me,
        resources,
    })
}

/// A rate in DRBD's units: whole MiB/s ("M") when at least 1 MiB/s, else KiB/s ("K").
fn rate(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{}M", bytes / MIB)
    } else {
        format!("{}K", (bytes / 1024).max(1))
    }
}

fn address(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("ipv6 [{a}]:{port}"),
    }
}

pub fn resource(r: &PlannedDrbd, secret: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    let _ = writeln!(
        o,
        "# DRBD resource {}; mode 0600: it holds the shared secret.",
        r.name
    );
    let _ = writeln!(o, "resource {} {{", r.name);
    let _ = writeln!(o, "\tstartup {{");
    if let Some(t) = r.wfc_timeout {
        let _ = writeln!(o, "\t\twfc-timeout {t};");
    }
    if let Some(t) = r.degr_wfc_timeout {
        let _ = writeln!(o, "\t\tdegr-wfc-timeout {t};");
    }
    if r.dual_primary {
        let _ = writeln!(o, "\t\tbecome-primary-on both;");
    }
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "\tnet {{");
    let _ = writeln!(o, "\t\tprotocol {};", r.protocol);
    let _ = writeln!(o, "\t\tcram-hmac-alg {};", r.hmac_alg);
    let escaped = secret.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(o, "\t\tshared-secret \"{escaped}\";");
    if r.dual_primary {
        let _ = writeln!(o, "\t\tallow-two-primaries;");
    }
    let _ = writeln!(
        o,
        "\t\tafter-sb-0pri {};",
        enum_name(&r.after_sb.zero_primaries)
    );
    let _ = writeln!(
        o,
        "\t\tafter-sb-1pri {};",
        enum_name(&r.after_sb.one_primary)
    );
    let _ = writeln!(
        o,
        "\t\tafter-sb-2pri {};",
        enum_name(&r.after_sb.two_primaries)
    );
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "\tdisk {{");
    let _ = writeln!(o, "\t\t# Resync rate: {}.", r.sync.basis);
    let _ = writeln!(o, "\t\tresync-rate {};", rate(r.sync.resync_rate));
    let _ = writeln!(o, "\t\tc-plan-ahead {};", r.sync.c_plan_ahead);
    if r.sync.c_plan_ahead > 0 {
        let _ = writeln!(o, "\t\tc-max-rate {};", rate(r.sync.c_max_rate));
    }
    if let Some(f) = r.fencing {
        let _ = writeln!(o, "\t\tfencing {};", enum_name(&f));
    }
    let _ = writeln!(o, "\t}}");
    let _ = writeln!(o, "\thandlers {{");
    // drbd-utils' notify-split-brain.sh mails root and fails (exit 127) where no `mail`
    // is installed, as on a Tandem node (seen in the QEMU pair): the journal always gets
    // the event, root's mail too when a mailer exists.
    let _ = writeln!(
        o,
        "\t\tsplit-brain \"logger -p daemon.crit -t drbd \\\"split brain on resource {}: see \
         docs/operations.md\\\"; if [ -x /usr/bin/mail ]; then \
         /usr/lib/drbd/notify-split-brain.sh root; fi\";",
        r.name
    );
    if matches!(
        r.fencing,
        Some(DrbdFencing::ResourceOnly | DrbdFencing::ResourceAndStonith)
    ) {
        // drbd-utils' own handlers. Until the peer is confirmed fenced, DRBD keeps I/O
        // frozen (resource-and-stonith): safe, never two diverging primaries.
        let _ = writeln!(o, "\t\tfence-peer \"/usr/lib/drbd/crm-fence-peer.sh\";");
        let _ = writeln!(
            o,
            "\t\tafter-resync-target \"/usr/lib/drbd/crm-unfence-peer.sh\";"
        );
    }
    let _ = writeln!(o, "\t}}");
    for h in &r.hosts {
        let _ = writeln!(o, "\ton {} {{", h.name);
        let _ = writeln!(o, "\t\tdevice {};", r.device);
        let _ = writeln!(o, "\t\tdisk {};", r.disk);
        let _ = writeln!(o, "\t\taddress {};", address(h.address, r.port));
        let _ = writeln!(o, "\t\tmeta-disk internal;");
        let _ = writeln!(o, "\t}}");
    }
    let _ = writeln!(o, "}}");
    o
}
