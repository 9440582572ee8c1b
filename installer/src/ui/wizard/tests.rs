//! The wizard's logic against the hardware fixtures, with test-only stand-ins for the
//! validator and the planner.

use super::*;
use crate::answer::{
    AddressMethod, BondMode, NodeHint, RaidLevel, Size, VolumeSize, WipePolicy, GIB,
};
use crate::hardware::select::{disk_busy, match_disks};
use std::collections::HashMap;

fn fixture(name: &str) -> Inventory {
    let p = format!(
        "{}/tests/fixtures/hardware/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    Inventory::from_json(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

const FIXTURES: [&str; 10] = [
    "eight-disk-mixed-4nic",
    "existing-md-4disk-1nic",
    "nvme-sata-uefi-2nic",
    "qemu-4disk-virtio-2nic",
    "seed-lxeon-5disk-2nic",
    "seed-nettop-4disk-2nic",
    "two-disk-1nic",
    "three-disk-2nic",
    "uefi-sb-4kn-2disk-1nic",
    "qemu-nvme4kn-uefi-2disk-1nic",
];

// Test-only stand-ins for the seam: no validator, and the answer's TOML as "summary".
fn no_issues(_: &Answer, _: Option<usize>, _: &Inventory) -> Vec<Issue> {
    Vec::new()
}
fn toml_summary(a: &Answer, _: Option<usize>, _: &Inventory) -> Result<String, Vec<Issue>> {
    Ok(toml::to_string(a).unwrap())
}
fn services() -> Services<'static> {
    Services {
        validate: &no_issues,
        summarize: &toml_summary,
    }
}

fn pw(s: &str) -> Reply {
    Reply::Password(Zeroizing::new(s.into()), Zeroizing::new(s.into()))
}

/// The reply a user gives who takes every default and types what has none.
fn default_reply(p: &Prompt, d: &Draft, inv: &Inventory) -> Reply {
    match p.step {
        Step::Address => return Reply::Text("192.168.10.5/24".into()),
        Step::Hostname => return Reply::Text("pve1".into()),
        Step::Domain => return Reply::Text("example.org".into()),
        Step::PeerName => return Reply::Text("pve2".into()),
        Step::PeerAddress => return Reply::Text("192.168.10.6".into()),
        Step::ReplicationAddress => return Reply::Text("10.99.0.1/30".into()),
        Step::RootPassword => return pw("correct horse"),
        Step::SavePath => return Reply::Text("/tmp/tandem-test-answer.toml".into()),
        Step::Confirm => {
            let names: Vec<String> = match &d.disks {
                Some(n) => n.clone(),
                None => disks::eligible(inv)
                    .iter()
                    .map(|x| x.name.clone())
                    .collect(),
            };
            return Reply::Text(format!("erase {}", names.join(" ")));
        }
        _ => {}
    }
    match &p.kind {
        Kind::Select { default, .. } => Reply::Choice(*default),
        Kind::MultiSelect { checked, .. } => Reply::Choices(
            checked
                .iter()
                .enumerate()
                .filter(|(_, c)| **c)
                .map(|(i, _)| i)
                .collect(),
        ),
        Kind::Input { default } => Reply::Text(default.clone().unwrap_or_default()),
        Kind::Password => pw("correct horse"),
    }
}

/// Runs the wizard to the end: `pick` may answer a step, else the default reply is given.
/// Returns the steps asked, in order.
fn drive(
    w: &mut Wizard<'_>,
    inv: &Inventory,
    mut pick: impl FnMut(&Prompt, &Draft) -> Option<Reply>,
) -> Vec<Step> {
    let mut asked = Vec::new();
    for _ in 0..200 {
        if w.step() == Step::Done {
            return asked;
        }
        let p = w.prompt();
        asked.push(p.step);
        let r = pick(&p, w.draft()).unwrap_or_else(|| default_reply(&p, w.draft(), inv));
        if let Err(e) = w.reply(r) {
            panic!("step {:?} re-asked: {e}", p.step);
        }
    }
    panic!("the wizard did not finish: {asked:?}");
}

fn items(p: &Prompt) -> Vec<String> {
    match &p.kind {
        Kind::Select { items, .. } | Kind::MultiSelect { items, .. } => items.clone(),
        k => panic!("not a choice: {k:?}"),
    }
}

/// Steps the wizard with default replies until `step` is asked.
fn until(w: &mut Wizard<'_>, inv: &Inventory, step: Step) {
    for _ in 0..100 {
        if w.step() == step {
            return;
        }
        let p = w.prompt();
        let r = default_reply(&p, w.draft(), inv);
        w.reply(r).unwrap_or_else(|e| panic!("{:?}: {e}", p.step));
    }
    panic!("never reached {step:?}");
}

#[test]
fn offered_disks_exclude_boot_medium_removable_and_busy() {
    for f in FIXTURES {
        let inv = fixture(f);
        let offered = disks::eligible(&inv);
        for d in &inv.disks {
            let ok = !d.boot_medium && !d.removable && disk_busy(d).is_none();
            assert_eq!(
                offered.iter().any(|o| o.name == d.name),
                ok,
                "{f}: {}",
                d.name
            );
        }
        let w = Wizard::new(&inv, services(), None);
        let mut w = w;
        until(&mut w, &inv, Step::Disks);
        let p = w.prompt();
        let shown = items(&p).join("\n") + &p.body.join("\n");
        for d in inv.disks.iter().filter(|d| d.boot_medium) {
            assert!(
                !shown.contains(&d.name),
                "{f}: boot medium {} listed",
                d.name
            );
        }
    }
    assert_eq!(disks::eligible(&fixture("seed-lxeon-5disk-2nic")).len(), 5);
    assert_eq!(disks::eligible(&fixture("three-disk-2nic")).len(), 3);
}

#[test]
fn disk_table_shows_size_model_serial_bus_speed_and_contents() {
    let inv = fixture("three-disk-2nic");
    let row = disks::row(&inv.disks[0]);
    for want in [
        "sda",
        "4.0 TiB",
        "ST4000NM0035",
        "ZC100001",
        "sata",
        "212 MB/s",
        "empty",
    ] {
        assert!(row.contains(want), "{want:?} not in {row:?}");
    }
    let inv = fixture("existing-md-4disk-1nic");
    let row = disks::row(&inv.disks[0]);
    assert!(row.contains("partition table"), "{row}");
    assert!(row.contains("md RAID member"), "{row}");
}

#[test]
fn the_disk_step_points_out_a_member_much_slower_than_its_peers() {
    let mut inv = fixture("three-disk-2nic");
    let body = |inv: &Inventory| disks::prompt(&Draft::default(), inv).1.join("\n");
    assert!(!body(&inv).contains("slow:"), "{}", body(&inv));
    let slow = inv.disks[2].name.clone();
    inv.disks[2].read_mbps = Some(40.0);
    let text = body(&inv);
    assert!(
        text.contains(&format!("slow: {slow} reads 40 MB/s")),
        "{text}"
    );
}

/// The captured 4Kn NVMe machine has a 2 GiB disk beside its two NVMe: offered, left
/// unchecked with the reason, and the default choice boots by UEFI only.
#[test]
fn a_disk_too_small_to_be_a_member_is_offered_unchecked() {
    let inv = fixture("qemu-nvme4kn-uefi-2disk-1nic");
    let (_, body, kind) = disks::prompt(&Draft::default(), &inv);
    let Kind::MultiSelect { items, checked } = kind else {
        panic!("multi-select")
    };
    let rows: Vec<(&str, bool)> = items
        .iter()
        .map(|i| i.split_whitespace().next().unwrap())
        .zip(checked)
        .collect();
    assert_eq!(rows, [("nvme0n1", true), ("nvme1n1", true), ("vda", false)]);
    let body = body.join("\n");
    assert!(
        body.contains(
            "not checked: vda (too small for the boot partitions and a 1.0 GiB data member)"
        ),
        "{body}"
    );
    assert_eq!(
        disks::firmware(&Draft::default(), &inv),
        crate::answer::FirmwareTarget::Uefi
    );
    assert!(!disks::prompt(&Draft::default(), &fixture("two-disk-1nic"))
        .1
        .join("\n")
        .contains("not checked"));
}

#[test]
fn raid_levels_follow_min_disks() {
    assert_eq!(raid::offered(2), vec![RaidLevel::Raid1]);
    assert_eq!(raid::offered(3), vec![RaidLevel::Raid1, RaidLevel::Raid5]);
    // raid10 needs 4 (min_disks); with 5 the near layout spreads 2 copies over 5 disks.
    assert_eq!(raid::offered(4), RaidLevel::ALL.to_vec());
    assert_eq!(raid::offered(5), RaidLevel::ALL.to_vec());
}

#[test]
fn raid_choices_for_three_and_five_disks_show_capacity_and_failures() {
    let inv = fixture("three-disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Level);
    let p = w.prompt();
    let it = items(&p);
    assert_eq!(it.len(), 2);
    assert!(
        it[0].starts_with("raid1 ") && it[1].starts_with("raid5 "),
        "{it:?}"
    );
    let member = raid::member_bytes(w.draft(), &inv);
    assert!(member < 4 * 1024 * GIB && member > 4 * 1024 * GIB - 2 * GIB);
    assert!(it[1].contains(&Size(2 * member).human()), "{it:?}");
    assert!(it[0].contains("survives 2 disk failures"), "{it:?}");
    assert!(it[1].contains("survives 1 disk failure"), "{it:?}");
    // Proposed: raid5 for three disks.
    assert_eq!(
        p.kind,
        Kind::Select {
            items: it.clone(),
            default: 1
        }
    );

    let inv = fixture("seed-lxeon-5disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Level);
    let it = items(&w.prompt());
    let names: Vec<&str> = it.iter().map(|s| s.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["raid1", "raid5", "raid6", "raid10"]);
    // The smallest member (2 TiB) counts: raid6 over 5 gives 3 members' worth.
    let member = raid::member_bytes(w.draft(), &inv);
    assert!(it[2].contains(&Size(3 * member).human()), "{it:?}");
    assert!(it[3].contains(&Size(5 * member / 2).human()), "{it:?}");
}

#[test]
fn choosing_fewer_disks_narrows_the_levels_and_fewer_than_two_re_asks() {
    let inv = fixture("seed-lxeon-5disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Disks);
    let e = w.reply(Reply::Choices(vec![0])).unwrap_err();
    assert!(e.0.contains("at least 2 disks"), "{e}");
    assert_eq!(w.step(), Step::Disks);
    w.reply(Reply::Choices(vec![0, 1, 4])).unwrap();
    assert_eq!(w.step(), Step::Level);
    assert_eq!(items(&w.prompt()).len(), 2);
    // Back to the disks, all five again: all levels come back.
    w.reply(Reply::Back).unwrap();
    assert_eq!(w.step(), Step::Disks);
    w.reply(Reply::Choices(vec![0, 1, 2, 3, 4])).unwrap();
    assert_eq!(items(&w.prompt()).len(), 4);
}

#[test]
fn a_level_chosen_for_more_disks_is_dropped_when_disks_are_removed() {
    let inv = fixture("seed-lxeon-5disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Level);
    w.reply(Reply::Choice(2)).unwrap(); // raid6
    assert_eq!(w.draft().level, Some(RaidLevel::Raid6));
    w.reply(Reply::Back).unwrap();
    w.reply(Reply::Back).unwrap();
    assert_eq!(w.step(), Step::Disks);
    w.reply(Reply::Choices(vec![0, 1, 2])).unwrap();
    assert_eq!(w.draft().level, None);
    assert_eq!(w.answer().storage.level, RaidLevel::Raid5);
}

#[test]
fn volume_defaults_fit_the_array_and_the_ram() {
    for f in FIXTURES {
        let inv = fixture(f);
        let d = Draft::default();
        let vg = volumes::vg_bytes(&d, &inv);
        let VolumeSize::Fixed(root) = volumes::default_size(Step::RootSize, &d, &inv) else {
            panic!("root not fixed")
        };
        let VolumeSize::Fixed(swap) = volumes::default_size(Step::SwapSize, &d, &inv) else {
            panic!("swap not fixed")
        };
        assert!(root.0 <= 32 * GIB && root.0 + swap.0 < vg, "{f}");
        assert!(swap.0 <= 8 * GIB && swap.0 <= inv.machine.memory_bytes.max(8 * GIB));
        assert_eq!(
            volumes::default_size(Step::VzSize, &d, &inv),
            VolumeSize::Rest
        );
        let with_peer = Draft {
            drbd: true,
            ..Draft::default()
        };
        let VolumeSize::Fixed(vz) = volumes::default_size(Step::VzSize, &with_peer, &inv) else {
            panic!("vz not fixed with a peer")
        };
        assert!(root.0 + swap.0 + vz.0 < vg, "{f}");
        assert_eq!(
            volumes::default_size(Step::DrbdSize, &with_peer, &inv),
            VolumeSize::Rest
        );
    }
    // 4×20G raid6 holds ~37G: root is a quarter of it, not 32G.
    let inv = fixture("qemu-4disk-virtio-2nic");
    let d = Draft::default();
    assert!(matches!(
        volumes::default_size(Step::RootSize, &d, &inv),
        VolumeSize::Fixed(s) if s.0 < 32 * GIB
    ));
    // 16G of RAM, 3×4T: swap 8G.
    let inv = fixture("three-disk-2nic");
    assert_eq!(
        volumes::default_size(Step::SwapSize, &d, &inv),
        VolumeSize::Fixed(Size(8 * GIB))
    );
}

#[test]
fn volume_sizes_re_ask_when_they_do_not_fit_or_take_the_rest_twice() {
    let inv = fixture("qemu-4disk-virtio-2nic");
    let mut w = Wizard::new(&inv, crate::ui::services(), None);
    until(&mut w, &inv, Step::RootSize);
    // The planner's capacity check, at storage.volumes, re-asks the size.
    let e = w.reply(Reply::Text("500G".into())).unwrap_err();
    assert!(e.0.starts_with("storage.volumes: volumes need"), "{e}");
    assert_eq!(w.step(), Step::RootSize);
    let e = w.reply(Reply::Text("12Q".into())).unwrap_err();
    assert!(e.0.contains("unknown unit"), "{e}");
    let e = w.reply(Reply::Text("0".into())).unwrap_err();
    assert!(e.0.contains("storage.volumes.root.size"), "{e}");
    w.reply(Reply::Text("10G".into())).unwrap();
    // swap takes the rest; then vz may not too.
    w.reply(Reply::Text("rest".into())).unwrap();
    assert_eq!(w.step(), Step::VzSize);
    let e = w.reply(Reply::Text("rest".into())).unwrap_err();
    assert!(e.0.starts_with("storage.vol"), "{e}");
    assert!(e.0.contains("only one volume"), "{e}");
    w.reply(Reply::Text("5G".into())).unwrap();
}

#[test]
fn network_proposes_a_bond_of_the_nics_with_link() {
    let inv = fixture("seed-lxeon-5disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    let asked = drive(&mut w, &inv, |_, _| None);
    assert!(asked.contains(&Step::BondMode));
    let a = w.answer();
    assert_eq!(a.network.bonds.len(), 1);
    assert_eq!(a.network.bonds[0].mode, BondMode::ActiveBackup);
    assert_eq!(a.network.bonds[0].members.mac.len(), 2);
    assert_eq!(a.network.bridges[0].name, "vmbr0");
    assert_eq!(a.network.bridges[0].ports, ["bond0"]);

    // eight-disk: four NICs, two with link → a bond of those two; 802.3ad when chosen.
    let inv = fixture("eight-disk-mixed-4nic");
    let mut w = Wizard::new(&inv, services(), None);
    drive(&mut w, &inv, |p, _| {
        (p.step == Step::BondMode).then_some(Reply::Choice(1))
    });
    let a = w.answer();
    let want: Vec<_> = inv
        .physical_nics()
        .filter(|n| n.carrier)
        .map(|n| n.hw_mac().clone())
        .collect();
    assert_eq!(a.network.bonds[0].members.mac, want);
    assert_eq!(a.network.bonds[0].mode, BondMode::Lacp);

    // three-disk: one NIC with link → no bond, no bond question, vmbr0 on the NIC.
    let inv = fixture("three-disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    let asked = drive(&mut w, &inv, |_, _| None);
    assert!(!asked.contains(&Step::BondMode));
    let a = w.answer();
    assert!(a.network.bonds.is_empty());
    assert_eq!(a.network.bridges[0].ports, ["eno1"]);
}

#[test]
fn nic_rows_show_link_and_speed() {
    let inv = fixture("three-disk-2nic");
    let rows: Vec<String> = inv.physical_nics().map(network::nic_row).collect();
    assert!(rows[0].contains("link up, 1 Gb/s"), "{rows:?}");
    assert!(rows[1].contains("no link"), "{rows:?}");
}

#[test]
fn bad_addresses_re_ask_with_the_reason() {
    let inv = fixture("three-disk-2nic");
    let mut w = Wizard::new(&inv, crate::ui::services(), None);
    until(&mut w, &inv, Step::Address);
    for (bad, why) in [
        ("10.0.0.300/24", "invalid address \"10.0.0.300/24\""),
        ("10.0.0.5", "invalid address"),
        (
            "10.0.0.0/24",
            "network.addresses[0].address: 10.0.0.0/24 is the subnet's network",
        ),
        ("10.0.0.255/24", "broadcast address"),
        ("", "an address is needed"),
    ] {
        let e = w.reply(Reply::Text(bad.into())).unwrap_err();
        assert!(e.0.contains(why), "{bad:?}: {e}");
        assert_eq!(w.step(), Step::Address);
    }
    w.reply(Reply::Text("10.0.0.5/24".into())).unwrap();
    assert_eq!(w.step(), Step::Gateway);
    // Proposed gateway: the subnet's first host.
    assert_eq!(
        w.prompt().kind,
        Kind::Input {
            default: Some("10.0.0.1".into())
        }
    );
    let e = w.reply(Reply::Text("10.1.0.1".into())).unwrap_err();
    assert!(
        e.0.starts_with("network.addresses[0].gateway: 10.1.0.1 is outside the subnet 10.0.0.0/24"),
        "{e}"
    );
    let e = w.reply(Reply::Text("10.0.0.5".into())).unwrap_err();
    assert!(e.0.contains("own address"), "{e}");
    let e = w.reply(Reply::Text("gw".into())).unwrap_err();
    assert!(e.0.contains("not an IP address"), "{e}");
    assert_eq!(
        w.draft().gateway,
        None,
        "a refused reply leaves the draft as it was"
    );
    w.reply(Reply::Text("10.0.0.254".into())).unwrap();
    // DNS defaults to the gateway.
    assert_eq!(
        w.prompt().kind,
        Kind::Input {
            default: Some("10.0.0.254".into())
        }
    );
    let e = w
        .reply(Reply::Text("10.0.0.254, dns.example".into()))
        .unwrap_err();
    assert!(e.0.contains("\"dns.example\" is not an IP address"), "{e}");
}

#[test]
fn dhcp_skips_the_gateway_and_is_refused_with_a_drbd_peer() {
    let inv = fixture("three-disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Address);
    w.reply(Reply::Text("dhcp".into())).unwrap();
    assert_eq!(w.step(), Step::Dns);

    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::DrbdWanted);
    w.reply(Reply::Choice(1)).unwrap();
    until(&mut w, &inv, Step::Address);
    let e = w.reply(Reply::Text("dhcp".into())).unwrap_err();
    assert!(e.0.contains("needs a static address"), "{e}");
}

#[test]
fn vlans_get_bridges_and_the_address_can_sit_on_one() {
    let inv = fixture("seed-lxeon-5disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Vlans);
    let e = w.reply(Reply::Text("7,5000".into())).unwrap_err();
    assert!(e.0.contains("1 to 4094"), "{e}");
    let e = w.reply(Reply::Text("7,7".into())).unwrap_err();
    assert!(e.0.contains("twice"), "{e}");
    w.reply(Reply::Text("7, 370".into())).unwrap();
    assert_eq!(w.step(), Step::AddressInterface);
    assert_eq!(items(&w.prompt()).len(), 3);
    w.reply(Reply::Choice(2)).unwrap();
    drive(&mut w, &inv, |_, _| None);
    let a = w.answer();
    assert_eq!(a.network.vlans[0].ids, [7, 370]);
    assert_eq!(a.network.vlans[0].parent, "bond0");
    assert_eq!(a.network.addresses[0].interface, "vmbr370");
}

#[test]
fn password_is_typed_twice_and_only_its_hash_is_kept() {
    let inv = fixture("two-disk-1nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::RootPassword);
    let e = w
        .reply(Reply::Password(
            Zeroizing::new("correct horse".into()),
            Zeroizing::new("correct hose".into()),
        ))
        .unwrap_err();
    assert!(e.0.contains("differ"), "{e}");
    let e = w.reply(pw("short")).unwrap_err();
    assert!(e.0.contains("at least 8"), "{e}");
    w.reply(pw("correct horse")).unwrap();
    let h = w.draft().password_hash.clone().unwrap();
    assert!(h.starts_with("$6$"), "{h}");
    let salt = h.split('$').nth(2).unwrap();
    assert_eq!(salt.len(), 16, "{h}");
    let text = format!("{:?}{:?}", w.draft(), w.answer());
    assert!(!text.contains("correct horse"));
}

#[test]
fn sha512_crypt_matches_openssl() {
    for pass in ["correct horse", "pässwörd with spaces", "x"] {
        let salt = accounts::random_salt().unwrap();
        let h = accounts::sha512_crypt(pass.as_bytes(), &salt);
        let s = h.split('$').nth(2).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["passwd", "-6", "-salt", s, "-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(pass.as_bytes())?;
                c.wait_with_output()
            })
            .expect("openssl (Debian package openssl) runs");
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), h);
    }
    // Two hashes of one password differ by their salts.
    let a = accounts::sha512_crypt(b"pw", &accounts::random_salt().unwrap());
    let b = accounts::sha512_crypt(b"pw", &accounts::random_salt().unwrap());
    assert_ne!(a, b);
}

#[test]
fn ssh_keys_are_checked() {
    let k =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZqB50G928tJUsr4fitqaZ8J+QCa7Qodrb+afWAd6gO admin@x";
    assert_eq!(accounts::parse_keys("none").unwrap(), Vec::<String>::new());
    assert_eq!(accounts::parse_keys(k).unwrap(), [k]);
    let two = format!("# keys\n{k}\n\n{k} ; {k}");
    assert_eq!(accounts::parse_keys(&two).unwrap().len(), 3);
    for bad in ["hello world", "ssh-rsa", "ssh-ed25519 AAAA!!!"] {
        let e = accounts::parse_keys(bad).unwrap_err();
        assert!(e.starts_with(&format!("{bad:?}: ")), "{e}");
    }
}

#[test]
fn erasing_needs_the_exact_typed_confirmation() {
    let inv = fixture("three-disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Confirm);
    assert!(w.prompt().title.contains("erase sda sdb sdc"));
    for wrong in [
        "y",
        "yes",
        "erase sda sdb",
        "erase  sda sdb sdc",
        "ERASE sda sdb sdc",
        "",
    ] {
        let e = w.reply(Reply::Text(wrong.into())).unwrap_err();
        assert!(
            e.0.contains("type exactly \"erase sda sdb sdc\""),
            "{wrong:?}: {e}"
        );
        assert!(!w.confirmed());
        assert_eq!(w.step(), Step::Confirm);
    }
    w.reply(Reply::Text("erase sda sdb sdc".into())).unwrap();
    assert!(w.confirmed());
    // No going back past the confirmation.
    assert!(w.reply(Reply::Back).is_err());
    assert_eq!(w.step(), Step::SaveTarget);
}

#[test]
fn back_returns_through_skipped_steps_to_the_previous_question() {
    let inv = fixture("three-disk-2nic");
    let mut w = Wizard::new(&inv, services(), None);
    assert!(
        w.reply(Reply::Back).is_err(),
        "nothing before the first question"
    );
    until(&mut w, &inv, Step::Vlans);
    // One NIC: the bond mode was skipped, so back goes to the NICs.
    w.reply(Reply::Back).unwrap();
    assert_eq!(w.step(), Step::NetMembers);
    w.reply(Reply::Back).unwrap();
    assert_eq!(w.step(), Step::VzSize);
    // The earlier reply is offered again as the default.
    w.reply(Reply::Text("100G".into())).unwrap();
    w.reply(Reply::Back).unwrap();
    assert_eq!(
        w.prompt().kind,
        Kind::Input {
            default: Some("100G".into())
        }
    );
}

#[test]
fn summary_shows_the_planners_text_and_problems_only_go_back() {
    let inv = fixture("two-disk-1nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Summary);
    let p = w.prompt();
    assert_eq!(
        p.body.join("\n").trim(),
        toml_summary(&w.answer(), None, &inv).unwrap().trim()
    );
    w.reply(Reply::Choice(1)).unwrap();
    assert_eq!(
        w.step(),
        Step::SshKeys,
        "\"back\" goes to the previous question"
    );

    fn refuse(_: &Answer, _: Option<usize>, _: &Inventory) -> Result<String, Vec<Issue>> {
        Err(vec![Issue::new("storage.firmware", "leaves out bios")])
    }
    let s = Services {
        validate: &no_issues,
        summarize: &refuse,
    };
    let mut w = Wizard::new(&inv, s, None);
    until(&mut w, &inv, Step::Summary);
    let p = w.prompt();
    assert!(p
        .body
        .join("\n")
        .contains("storage.firmware: leaves out bios"));
    assert_eq!(items(&p), [finish::BACK]);
    w.reply(Reply::Choice(0)).unwrap();
    assert_ne!(w.step(), Step::Summary);
    assert_ne!(w.step(), Step::Confirm);
}

#[test]
fn validator_issues_on_a_steps_keys_re_ask_that_step() {
    // Test-only: a validator that objects to one host name, to show the plumbing.
    fn picky(a: &Answer, _: Option<usize>, _: &Inventory) -> Vec<Issue> {
        let mut v = Vec::new();
        if a.system.hostname == "good" {
            v.push(Issue::new("network.dns", "unrelated to the host name"));
        }
        if a.system.hostname == "bad_name" {
            v.push(Issue::new("system.hostname", "contains '_'"));
        }
        v
    }
    let inv = fixture("two-disk-1nic");
    let s = Services {
        validate: &picky,
        summarize: &toml_summary,
    };
    let mut w = Wizard::new(&inv, s, None);
    until(&mut w, &inv, Step::Hostname);
    let e = w.reply(Reply::Text("bad_name".into())).unwrap_err();
    assert_eq!(e.0, "system.hostname: contains '_'");
    w.reply(Reply::Text("good".into())).unwrap();
    assert_eq!(w.step(), Step::Domain);
    let e = w.reply(Reply::Text("a.example".into()));
    assert!(
        e.is_ok(),
        "an issue under another step's key does not re-ask this one"
    );
}

#[test]
fn disk_selection_picks_exactly_the_chosen_disks() {
    for f in FIXTURES {
        let inv = fixture(f);
        let all: Vec<String> = disks::eligible(&inv)
            .iter()
            .map(|d| d.name.clone())
            .collect();
        let subsets = [
            all.clone(),
            all[..2].to_vec(),
            all[all.len() - 2..].to_vec(),
        ];
        for names in subsets {
            let d = Draft {
                disks: Some(names.clone()),
                ..Draft::default()
            };
            let sel = disks::selection(&d, &inv);
            let m = match_disks(&sel, &inv, "storage.disks").unwrap();
            let got: Vec<String> = m.selected.iter().map(|d| d.name.clone()).collect();
            assert_eq!(got, names, "{f}: {sel:?}");
            // Every eligible disk: the filter form, which also fits an identical peer.
            assert_eq!(sel.ids.is_empty(), names == all, "{f}: {sel:?}");
        }
    }
}

#[test]
fn wipe_is_forced_only_for_disks_that_hold_something() {
    let d = Draft::default();
    assert_eq!(
        disks::wipe_policy(&d, &fixture("three-disk-2nic")),
        WipePolicy::IfEmpty
    );
    assert_eq!(
        disks::wipe_policy(&d, &fixture("existing-md-4disk-1nic")),
        WipePolicy::Force
    );
}

#[test]
fn drbd_peer_makes_a_two_node_cluster_with_a_replication_link() {
    let inv = fixture("eight-disk-mixed-4nic");
    let mut w = Wizard::new(&inv, services(), None);
    let asked = drive(&mut w, &inv, |p, _| match p.step {
        Step::DrbdWanted => Some(Reply::Choice(1)),
        Step::ReplicationNic => Some(Reply::Choice(1)),
        _ => None,
    });
    for s in [
        Step::DrbdSize,
        Step::ClusterName,
        Step::PeerName,
        Step::ReplicationAddress,
    ] {
        assert!(asked.contains(&s), "{s:?} not asked");
    }
    let o = w.outcome().unwrap();
    assert_eq!(o.node, Some(0));
    let a = o.answer;
    let c = a.cluster.as_ref().unwrap();
    assert_eq!(c.name, "example", "from the domain example.org");
    assert_eq!(c.nodes[0].name, "pve1");
    assert_eq!(c.nodes[1].name, "pve2");
    assert_eq!(c.nodes[0].address.to_string(), "192.168.10.5");
    assert_eq!(c.nodes[1].address.to_string(), "192.168.10.6");
    assert_eq!(
        c.nodes[0].replication_address.unwrap().to_string(),
        "10.99.0.1"
    );
    assert_eq!(
        c.nodes[1].replication_address.unwrap().to_string(),
        "10.99.0.2"
    );
    let free = drbd::free_nics(w.draft(), &inv)[0].name.clone();
    assert_eq!(a.network.addresses[1].interface, free);
    assert_eq!(
        a.network.addresses[1].address,
        AddressMethod::Static("10.99.0.1/30".parse().unwrap())
    );
    let r = &a.drbd.as_ref().unwrap().resources[0];
    assert_eq!(r.backing, "volume:drbd");
    assert_eq!(a.storage.volumes["drbd"].size, VolumeSize::Rest);
    assert!(matches!(a.storage.volumes["vz"].size, VolumeSize::Fixed(_)));
}

#[test]
fn replication_address_must_be_off_the_cluster_subnet() {
    let inv = fixture("eight-disk-mixed-4nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::DrbdWanted);
    w.reply(Reply::Choice(1)).unwrap();
    until(&mut w, &inv, Step::PeerAddress);
    let e = w.reply(Reply::Text("192.168.10.5".into())).unwrap_err();
    assert!(e.0.contains("own address"), "{e}");
    w.reply(Reply::Text("192.168.10.6".into())).unwrap();
    w.reply(Reply::Choice(1)).unwrap();
    let e = w.reply(Reply::Text("192.168.10.7/24".into())).unwrap_err();
    assert!(e.0.contains("overlaps the cluster network"), "{e}");
    w.reply(Reply::Text("10.99.0.1/30".into())).unwrap();
    let e = w.reply(Reply::Text("10.98.0.2".into())).unwrap_err();
    assert!(e.0.contains("not in the replication subnet"), "{e}");
}

/// A reply given at a step instead of the default.
type Scripted = (Step, fn() -> Reply);

/// Answers from many paths through the wizard: (fixture, replies by step). Made once per
/// test run: each hashes a password.
fn generated_answers() -> &'static [(&'static str, Outcome)] {
    static MADE: std::sync::OnceLock<Vec<(&'static str, Outcome)>> = std::sync::OnceLock::new();
    MADE.get_or_init(make_answers)
}

fn make_answers() -> Vec<(&'static str, Outcome)> {
    let mut out = Vec::new();
    let variants: [&[Scripted]; 5] = [
        &[],
        &[(Step::DrbdWanted, || Reply::Choice(1))],
        &[
            (Step::Vlans, || Reply::Text("7,370,371".into())),
            (Step::AddressInterface, || Reply::Choice(1)),
            (Step::Keyboard, || Reply::Text("us,ru".into())),
            (Step::Timezone, || Reply::Text("Europe/Moscow".into())),
        ],
        &[
            (Step::Address, || Reply::Text("dhcp".into())),
            (Step::SshKeys, || {
                Reply::Text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZqB50G928tJUsr4fitqaZ8J+QCa7Qodrb+afWAd6gO a@b".into())
            }),
            (Step::RootSize, || Reply::Text("10%".into())),
        ],
        &[
            (Step::Level, || Reply::Choice(0)),
            (Step::DrbdWanted, || Reply::Choice(1)),
            (Step::BondMode, || Reply::Choice(1)),
            (Step::Address, || Reply::Text("2001:db8::5/64".into())),
            (Step::PeerAddress, || Reply::Text("2001:db8::6".into())),
        ],
    ];
    for f in FIXTURES {
        let inv = fixture(f);
        for v in variants {
            let by: HashMap<Step, fn() -> Reply> = v.iter().copied().collect();
            let mut w = Wizard::new(&inv, services(), Some("/tmp/x.toml".into()));
            drive(&mut w, &inv, |p, _| by.get(&p.step).map(|f| f()));
            out.push((f, w.outcome().unwrap()));
        }
    }
    out
}

#[test]
fn saved_answers_read_back_as_the_same_answer() {
    let answers = generated_answers();
    assert_eq!(answers.len(), FIXTURES.len() * 5);
    for (f, o) in answers {
        let inv = fixture(f);
        let o = o.clone();
        let text = finish::answer_file(&o.answer, o.node, &inv, &services())
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        let back = crate::answer::load("saved.toml", &text, &NodeHint::default())
            .unwrap_or_else(|e| panic!("{f}: {e}\n{text}"));
        assert_eq!(back.answer, o.answer, "{f}\n{text}");
        // IndexMap's == ignores order; the volumes' order is part of the answer.
        let order = |a: &Answer| a.storage.volumes.keys().cloned().collect::<Vec<_>>();
        assert_eq!(order(&back.answer), order(&o.answer), "{f}");
        assert_eq!(back.node, o.node, "{f}");
        assert_eq!(
            o.save_to.as_deref(),
            Some(std::path::Path::new("/tmp/x.toml"))
        );
    }
}

/// With the services the binary uses (the validator and planner once wired), every
/// generated answer validates, plans, and saves.
#[test]
fn generated_answers_pass_the_binarys_services() {
    let real = crate::ui::services();
    for (f, o) in generated_answers() {
        let inv = fixture(f);
        let o = o.clone();
        let issues = (real.validate)(&o.answer, o.node, &inv);
        assert!(issues.is_empty(), "{f}: {issues:?}");
        let plan = (real.summarize)(&o.answer, o.node, &inv);
        assert!(plan.is_ok(), "{f}: {plan:?}");
        finish::answer_file(&o.answer, o.node, &inv, &real).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn saving_refuses_an_answer_the_validator_rejects() {
    fn reject(_: &Answer, _: Option<usize>, _: &Inventory) -> Vec<Issue> {
        vec![Issue::new("storage.level", "no")]
    }
    let inv = fixture("two-disk-1nic");
    let mut w = Wizard::new(&inv, services(), None);
    drive(&mut w, &inv, |_, _| None);
    let o = w.outcome().unwrap();
    let s = Services {
        validate: &reject,
        summarize: &toml_summary,
    };
    let e = finish::answer_file(&o.answer, o.node, &inv, &s).unwrap_err();
    assert!(e.contains("does not validate: storage.level: no"), "{e}");
}

#[test]
fn the_answer_file_is_written_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("tandem-wizard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("a.toml");
    crate::answer::write_private(&p, "x = 1\n").unwrap();
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "x = 1\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_targets_offer_the_given_path_usb_sticks_another_path_and_none() {
    let mut inv = fixture("three-disk-2nic");
    // A second stick, mounted, not the boot medium.
    let mut stick = inv.disks.iter().find(|d| d.boot_medium).unwrap().clone();
    stick.name = "sdy".into();
    stick.boot_medium = false;
    stick.mounts = vec!["/media/usb".into()];
    inv.disks.push(stick);
    let d = Draft {
        save_default: Some("/root/a.toml".into()),
        ..Draft::default()
    };
    let t: Vec<finish::Target> = finish::targets(&d, &inv)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        t,
        [
            finish::Target::Path("/root/a.toml".into()),
            finish::Target::Path("/media/usb/tandem-answer.toml".into()),
            finish::Target::Other,
            finish::Target::Nowhere,
        ]
    );
    // The stick is not offered as an install disk.
    assert!(!disks::eligible(&inv).iter().any(|x| x.name == "sdy"));
}

#[test]
fn proposed_ipv6_gateway_is_a_host_not_the_subnet_router_address() {
    let inv = fixture("two-disk-1nic");
    let mut w = Wizard::new(&inv, services(), None);
    until(&mut w, &inv, Step::Address);
    w.reply(Reply::Text("2001:db8::5/64".into())).unwrap();
    assert_eq!(
        w.prompt().kind,
        Kind::Input {
            default: Some("2001:db8::1".into())
        }
    );
}

#[test]
fn the_validators_reasons_re_ask_each_step() {
    let inv = fixture("three-disk-2nic");
    let mut w = Wizard::new(&inv, crate::ui::services(), None);
    let reask = |w: &mut Wizard<'_>, bad: &str, good: &str, key: &str| {
        let e = w.reply(Reply::Text(bad.into())).unwrap_err();
        assert!(e.0.starts_with(&format!("{key}: ")), "{bad:?}: {e}");
        w.reply(Reply::Text(good.into())).unwrap();
    };
    reask(&mut w, "US", "us,ru", "system.keyboard");
    reask(&mut w, "english", "ru_RU.UTF-8", "system.locale");
    reask(&mut w, "Mars/Olympus", "Europe/Moscow", "system.timezone");
    until(&mut w, &inv, Step::Hostname);
    reask(&mut w, "bad_name", "good", "system.hostname");
    reask(&mut w, "a..b", "example.org", "system.domain");
}

/// An IPMI serial console is 80 columns: every line the wizard writes fits in 79 (the
/// terminal layer wraps what does not, but a wrapped table is hard to read). Exceptions:
/// the plan summary (the `tandem plan` text), and a disk's contents, which can be long
/// (md array ids) and then wrap.
#[test]
fn every_screen_fits_an_80_column_console() {
    const HEAD: usize = "Tandem installer  [31/31]  ".len();
    for f in FIXTURES {
        let inv = fixture(f);
        let mut w = Wizard::new(&inv, services(), None);
        let mut long = Vec::new();
        drive(&mut w, &inv, |p, _| {
            if p.step == Step::Summary {
                return None;
            }
            let wide = |l: &str, pre: usize| l.chars().count() + pre > 79;
            if wide(&p.title, HEAD) {
                long.push(format!("{:?} title: {}", p.step, p.title));
            }
            for l in p.body.iter().filter(|l| !l.contains("  now: ")) {
                if wide(l, 0) {
                    long.push(format!("{:?} body: {l}", p.step));
                }
            }
            let (items, pre) = match &p.kind {
                Kind::MultiSelect { items, .. } => (items.clone(), "> [x] ".len()),
                Kind::Select { items, .. } => (items.clone(), "> ".len()),
                _ => (vec![], 0),
            };
            for l in items {
                let contents_may_wrap = p.step == Step::Disks && !l.ends_with("  empty");
                if wide(&l, pre) && !contents_may_wrap {
                    long.push(format!("{:?} item: {l}", p.step));
                }
            }
            None
        });
        assert!(
            long.is_empty(),
            "{f}: lines over 79 columns:\n{}",
            long.join("\n")
        );
    }
}
