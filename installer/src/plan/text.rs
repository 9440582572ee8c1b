//! The plan as an admin reads it before confirming: what is written where, what survives
//! what, and which files land on the target.

use super::{DevPath, Plan};
use crate::answer::{enum_name, AddressMethod, Size};
use std::fmt::{self, Write as _};

fn h(b: u64) -> String {
    Size(b).human()
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = String::new();
        self.write(&mut o)?;
        f.write_str(&o)
    }
}

impl Plan {
    fn write(&self, o: &mut String) -> fmt::Result {
        write!(o, "Tandem plan for {}", self.fqdn)?;
        if let (Some(c), Some(n)) = (&self.cluster, &self.node) {
            write!(o, " (cluster {c}, node {n})")?;
        }
        writeln!(o)?;
        writeln!(
            o,
            "machine: {} firmware, CPU {}; disks made bootable for {}",
            enum_name(&self.machine_firmware),
            if self.cpu_vendor.is_empty() {
                "unknown"
            } else {
                &self.cpu_vendor
            },
            enum_name(&self.firmware)
        )?;

        let st = &self.storage;
        writeln!(
            o,
            "\nDisks ({} selected, each gets a new GPT; wipe = {})",
            st.disks.len(),
            enum_name(&self.wipe)
        )?;
        for d in &st.disks {
            writeln!(
                o,
                "  {}  {}  {}  {}",
                d.name,
                h(d.size_bytes),
                d.model.as_deref().unwrap_or("-"),
                d.stable_path
            )?;
            for p in &d.partitions {
                writeln!(
                    o,
                    "    {:<16} {}  {:>10}  at {:>10}  {}  {}",
                    p.dev,
                    p.type_code,
                    h(p.size_bytes),
                    h(p.start_bytes),
                    enum_name(&p.role),
                    p.label
                )?;
            }
        }
        if let Some(small) = st.disks.iter().min_by_key(|d| d.size_bytes) {
            let larger: Vec<String> = st
                .disks
                .iter()
                .filter(|d| d.unused_bytes > 0)
                .map(|d| format!("{} {}", d.name, h(d.unused_bytes)))
                .collect();
            if !larger.is_empty() {
                writeln!(
                    o,
                    "  members are sized for the smallest disk, {} ({}); left unused: {}",
                    small.name,
                    h(small.size_bytes),
                    larger.join(", ")
                )?;
            }
        }
        if !st.left_out.is_empty() {
            writeln!(o, "Left alone")?;
            for d in &st.left_out {
                writeln!(o, "  {}  {}  {}", d.name, h(d.size_bytes), d.reason)?;
            }
        }

        writeln!(o, "\nmd arrays")?;
        for a in &st.arrays {
            write!(
                o,
                "  {}  {}  {} × {}  → {} usable, survives {} failed disk{}",
                a.dev,
                a.level,
                a.members.len(),
                h(a.member_bytes),
                h(a.usable_bytes),
                a.failures_tolerated,
                if a.failures_tolerated == 1 { "" } else { "s" }
            )?;
            writeln!(o)?;
            write!(
                o,
                "      name {}, metadata {}, bitmap {}",
                a.md_name, a.metadata, a.bitmap
            )?;
            if let Some(c) = a.chunk {
                write!(o, ", chunk {c}")?;
            }
            if let Some(l) = a.layout {
                write!(o, ", layout {}", enum_name(&l))?;
            }
            writeln!(o)?;
            let members: Vec<&str> = a.members.iter().map(DevPath::as_str).collect();
            writeln!(o, "      members {}", members.join(" "))?;
        }

        let vg = &st.lvm;
        writeln!(
            o,
            "\nLVM volume group {} on {}: {} ({} extents of {}), {} free",
            vg.name,
            vg.pv,
            h(vg.size_bytes),
            vg.extents,
            h(vg.extent_bytes),
            h(vg.free_bytes)
        )?;
        for lv in &vg.volumes {
            writeln!(
                o,
                "  {:<16} {:>10}  (asked {})",
                lv.dev,
                h(lv.size_bytes),
                lv.requested
            )?;
        }

        writeln!(o, "\nFilesystems")?;
        for fs in &st.filesystems {
            write!(o, "  mkfs {:<5} {}", fs.fstype, fs.dev)?;
            if let Some(l) = &fs.label {
                write!(o, "  label {l}")?;
            }
            if let Some(u) = &fs.uuid {
                write!(o, "  id {u}")?;
            }
            match &fs.mount {
                Some(m) => writeln!(o, "  → {m}")?,
                None => writeln!(o)?,
            }
        }
        writeln!(o, "Mounts (fstab order)")?;
        for m in &st.mounts {
            writeln!(
                o,
                "  {:<12} {:<22} {:<6} {}",
                m.mountpoint, m.spec, m.fstype, m.options
            )?;
        }

        let net = &self.network;
        writeln!(o, "\nNetwork")?;
        for n in &net.nics {
            write!(o, "  NIC {}", n.name)?;
            if n.name != n.kernel_name {
                write!(o, " (now {})", n.kernel_name)?;
            }
            write!(o, "  {}", n.mac)?;
            if let Some(d) = &n.driver {
                write!(o, "  {d}")?;
            }
            if let Some(s) = n.speed_mbps {
                write!(o, "  {s} Mbit/s")?;
            }
            write!(o, "  {}", n.roles.join(", "))?;
            let off: Vec<String> = n
                .offload
                .settings()
                .iter()
                .map(|(k, v)| format!("{k} {}", if *v { "on" } else { "off" }))
                .collect();
            if !off.is_empty() {
                write!(o, "; offload {}", off.join(", "))?;
            }
            if let Some(m) = n.mtu {
                write!(o, "; mtu {m}")?;
            }
            writeln!(o)?;
        }
        if !net.nics.is_empty() {
            writeln!(
                o,
                "  names {}",
                if net.pin_names {
                    "pinned to permanent MACs by .link files"
                } else {
                    "not pinned"
                }
            )?;
        }
        for b in &net.bonds {
            write!(
                o,
                "  bond {}  {} over {}, miimon {}",
                b.name,
                b.mode,
                b.members.join(" + "),
                b.miimon
            )?;
            if let Some(r) = b.lacp_rate {
                write!(o, ", lacp-rate {}", enum_name(&r))?;
            }
            if let Some(x) = b.xmit_hash_policy {
                write!(o, ", xmit-hash-policy {}", enum_name(&x))?;
            }
            if let Some(p) = &b.primary {
                write!(o, ", primary {p}")?;
            }
            writeln!(o)?;
        }
        if !net.vlans.is_empty() {
            let v: Vec<&str> = net.vlans.iter().map(|v| v.name.as_str()).collect();
            writeln!(o, "  VLANs {}", v.join(" "))?;
        }
        for b in &net.bridges {
            write!(
                o,
                "  bridge {}  ports {}, stp {}, fd {}",
                b.name,
                if b.ports.is_empty() {
                    "none".to_string()
                } else {
                    b.ports.join(" ")
                },
                if b.stp { "on" } else { "off" },
                b.fd
            )?;
            if b.vlan_aware {
                write!(
                    o,
                    ", VLAN-aware ({})",
                    b.vids.as_deref().unwrap_or("2-4094")
                )?;
            }
            writeln!(o)?;
        }
        for a in &net.addresses {
            write!(o, "  address {} on {}", a.address, a.interface)?;
            if let Some(g) = a.gateway {
                write!(o, ", gateway {g}")?;
            }
            writeln!(o)?;
        }
        if !net
            .addresses
            .iter()
            .any(|a| matches!(a.address, AddressMethod::Static(_) | AddressMethod::Dhcp))
        {
            writeln!(o, "  no IPv4 address configured")?;
        }
        let dns: Vec<String> = net.dns.iter().map(|d| d.to_string()).collect();
        writeln!(
            o,
            "  DNS {}; search {}",
            if dns.is_empty() {
                "none".to_string()
            } else {
                dns.join(" ")
            },
            net.search.join(" ")
        )?;

        if !self.drbd.is_empty() {
            writeln!(o, "\nDRBD")?;
            for r in &self.drbd {
                writeln!(
                    o,
                    "  {} {} on {}, protocol {}{}",
                    r.name,
                    r.device,
                    r.disk,
                    r.protocol,
                    if r.dual_primary { ", dual-primary" } else { "" }
                )?;
                let hosts: Vec<String> = r
                    .hosts
                    .iter()
                    .map(|x| format!("{} {}:{}", x.name, x.address, r.port))
                    .collect();
                writeln!(o, "      peers {}", hosts.join(", "))?;
                writeln!(
                    o,
                    "      resync {}/s, dynamic up to {}/s ({})",
                    h(r.sync.resync_rate),
                    h(r.sync.c_max_rate),
                    r.sync.basis
                )?;
                if let Some(vg) = &r.lvm_vg {
                    writeln!(o, "      LVM volume group {vg} on {}", r.device)?;
                }
            }
        }

        writeln!(o, "\nGRUB")?;
        for d in &self.grub.bios {
            writeln!(o, "  BIOS  {d}")?;
        }
        for e in &self.grub.efi {
            writeln!(o, "  UEFI  {} (id {}) on {}", e.dev, e.uuid, e.disk)?;
        }

        writeln!(o, "\nPackages ({})", self.packages.len())?;
        for p in &self.packages {
            writeln!(o, "  {:<22} {}", p.name, p.why)?;
        }

        writeln!(o, "\nFiles ({})", self.files.len())?;
        for f in &self.files {
            writeln!(o, "  {} {}", f.mode, f.path)?;
        }
        Ok(())
    }
}
