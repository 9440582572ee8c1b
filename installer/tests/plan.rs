//! The planner against the hardware fixtures: layout arithmetic, capacity errors placed in
//! the answer file, firmware- and hardware-dependent choices, and the CLI around it.

use std::path::Path;
use std::process::Command;
use tandem::answer::{load, NodeHint, SyncRate, GIB, MIB};
use tandem::hardware::Inventory;
use tandem::plan::{drbd::sync_rates, PartRole, Plan};
use tandem::render::{self, Secrets};

fn fixture(name: &str) -> Inventory {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hardware")
        .join(format!("{name}.json"));
    Inventory::from_json(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn fixture_path(name: &str) -> String {
    format!(
        "{}/tests/fixtures/hardware/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A small answer; `extra` is appended (more tables, or keys for [storage] when it
/// starts with storage keys — callers pass whole tables).
fn answer(storage: &str, extra: &str) -> String {
    format!(
        "[system]\nhostname = \"t\"\ndomain = \"example.org\"\nroot-ssh-keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZqB50G928tJUsr4fitqaZ8J+QCa7Qodrb+afWAd6gO t@t\"]\n\n[storage]\n{storage}\n{extra}\n"
    )
}

fn plan_of(text: &str, inv: &Inventory) -> Result<Plan, String> {
    let l = load("a.toml", text, &NodeHint::default()).map_err(|e| e.to_string())?;
    tandem::session::plan_for(&l.answer, l.node, inv).map_err(|i| l.map.diagnostics(i).to_string())
}

const VOLS: &str = "[storage.volumes]\nroot = { size = \"8G\" }\nvz = { size = \"rest\", fs = \"ext4\", mount = \"/var/lib/vz\" }\n";

#[test]
fn layout_is_aligned_identical_and_fits_every_disk() {
    for (fx, level, n) in [
        ("qemu-4disk-virtio-2nic", "raid6", 4),
        ("nvme-sata-uefi-2nic", "raid10", 4),
        ("eight-disk-mixed-4nic", "raid6", 8),
        ("two-disk-1nic", "raid1", 2),
    ] {
        let inv = fixture(fx);
        let p = plan_of(
            &answer(&format!("disks = {{}}\nlevel = \"{level}\""), VOLS),
            &inv,
        )
        .unwrap_or_else(|e| panic!("{fx}: {e}"));
        let st = &p.storage;
        assert_eq!(st.disks.len(), n, "{fx}");
        let data: Vec<u64> = st
            .disks
            .iter()
            .map(|d| d.partition(PartRole::Data).unwrap().size_bytes)
            .collect();
        assert!(
            data.windows(2).all(|w| w[0] == w[1]),
            "{fx}: data members differ"
        );
        for d in &st.disks {
            let disk = inv.disk(&d.name).unwrap();
            // firmware "both" by default: BIOS-boot, ESP, /boot, data.
            let roles: Vec<PartRole> = d.partitions.iter().map(|p| p.role).collect();
            assert_eq!(
                roles,
                [
                    PartRole::BiosBoot,
                    PartRole::Esp,
                    PartRole::Boot,
                    PartRole::Data
                ]
            );
            let mut end = MIB;
            for p in &d.partitions {
                assert_eq!(p.start_bytes % MIB, 0, "{}", p.dev);
                assert_eq!(p.size_bytes % MIB, 0, "{}", p.dev);
                assert_eq!(p.start_bytes, end, "{}: partitions are contiguous", p.dev);
                end = p.start_bytes + p.size_bytes;
            }
            // Backup GPT and a MiB of slack stay free.
            assert!(end + MIB + 33 * 512 <= disk.size_bytes, "{}", d.name);
            let nvme = d.name.starts_with("nvme");
            assert_eq!(
                d.partitions[0].dev.ends_with("p1"),
                nvme,
                "{}",
                d.partitions[0].dev
            );
        }
        let data = st.array("data").unwrap();
        assert_eq!(data.members.len(), n);
        assert!(data.usable_bytes > 0 && data.usable_bytes < data.member_bytes * n as u64);
        assert_eq!(st.array("boot").unwrap().failures_tolerated, n - 1);
        // rest takes everything the fixed volumes leave.
        assert_eq!(st.lvm.free_bytes, 0, "{fx}");
        assert_eq!(
            st.lvm.volumes.iter().map(|v| v.size_bytes).sum::<u64>(),
            st.lvm.size_bytes
        );
    }
}

#[test]
fn volumes_over_capacity_are_placed_errors_with_numbers() {
    let inv = fixture("qemu-4disk-virtio-2nic");
    let text = answer(
        "disks = { count = 4 }\nlevel = \"raid6\"",
        "[storage.volumes]\nroot = { size = \"100G\" }\nswap = { size = \"40G\" }\n",
    );
    let e = plan_of(&text, &inv).unwrap_err();
    assert!(
        e.starts_with(
            "a.toml:9:10: storage.volumes: volumes need 140.0 GiB but the raid6 data array of 4 × "
        ),
        "{e}"
    );
    assert!(e.contains("GiB members gives 3"), "{e}");

    let text = answer(
        "disks = { count = 4 }\nlevel = \"raid6\"",
        "[storage.volumes]\nroot = { size = \"100%\" }\nvz = { size = \"rest\", fs = \"ext4\", mount = \"/v\" }\n",
    );
    let e = plan_of(&text, &inv).unwrap_err();
    assert!(
        e.contains("storage.volumes.vz.size: \"rest\" leaves nothing for vz"),
        "{e}"
    );
}

#[test]
fn disk_selection_errors_pass_through() {
    let inv = fixture("qemu-4disk-virtio-2nic");
    let e = plan_of(
        &answer("disks = { count = 5 }\nlevel = \"raid6\"", VOLS),
        &inv,
    )
    .unwrap_err();
    assert!(
        e.contains("storage.disks.count: count = 5 but 4 disks match"),
        "{e}"
    );
    let e = plan_of(
        &answer(
            "disks = { count = 2 }\nlevel = \"raid6\"\nchunk = \"512K\"",
            VOLS,
        ),
        &fixture("two-disk-1nic"),
    )
    .unwrap_err();
    assert!(
        e.contains("storage.level: raid6 needs at least 4 disks; 2 selected"),
        "{e}"
    );
}

#[test]
fn boot_medium_is_left_out_with_its_reason() {
    let p = plan_of(
        &answer("disks = { min-size = \"100G\" }\nlevel = \"raid6\"", VOLS),
        &fixture("seed-lxeon-5disk-2nic"),
    )
    .unwrap();
    assert_eq!(p.storage.left_out.len(), 1);
    assert_eq!(p.storage.left_out[0].name, "sdz");
    assert!(p.storage.left_out[0].reason.contains("boot medium"));
}

#[test]
fn firmware_target_decides_partitions_packages_and_grub() {
    let inv = fixture("nvme-sata-uefi-2nic");
    let pkgs = |p: &Plan| {
        p.packages
            .iter()
            .map(|x| x.name.clone())
            .collect::<Vec<_>>()
    };
    // The UEFI machine cannot boot a BIOS-only install: refused, with the way out.
    let e = plan_of(
        &answer("disks = {}\nlevel = \"raid10\"\nfirmware = \"bios\"", VOLS),
        &inv,
    )
    .unwrap_err();
    assert!(
        e.contains("storage.firmware: this machine booted the installer with UEFI firmware"),
        "{e}"
    );
    let bios_inv = fixture("qemu-4disk-virtio-2nic");
    let bios = plan_of(
        &answer("disks = {}\nlevel = \"raid10\"\nfirmware = \"bios\"", VOLS),
        &bios_inv,
    )
    .unwrap();
    assert!(bios.storage.disks[0].partition(PartRole::Esp).is_none());
    assert!(bios.grub.efi.is_empty() && bios.grub.bios.len() == 4);
    assert!(pkgs(&bios).contains(&"grub-pc".to_string()));
    assert!(!pkgs(&bios).iter().any(|p| p.starts_with("grub-efi")));
    assert!(!bios.files.iter().any(|f| f.path == "/etc/tandem/esps"));
    assert!(pkgs(&bios).contains(&"intel-microcode".to_string()));
    assert!(!pkgs(&bios).contains(&"amd64-microcode".to_string()));
    assert!(!pkgs(&bios).contains(&"drbd-utils".to_string()));

    let uefi = plan_of(
        &answer("disks = {}\nlevel = \"raid10\"\nfirmware = \"uefi\"", VOLS),
        &inv,
    )
    .unwrap();
    assert!(uefi.storage.disks[0]
        .partition(PartRole::BiosBoot)
        .is_none());
    assert!(uefi.grub.bios.is_empty() && uefi.grub.efi.len() == 4);
    assert!(!pkgs(&uefi).contains(&"grub-pc".to_string()));
    assert!(pkgs(&uefi).contains(&"grub-efi-amd64".to_string()));
    assert!(pkgs(&uefi).contains(&"amd64-microcode".to_string()));
    let ids: std::collections::BTreeSet<&str> =
        uefi.grub.efi.iter().map(|e| e.uuid.as_str()).collect();
    assert_eq!(ids.len(), 4, "every ESP gets its own volume id");

    let both = plan_of(&answer("disks = {}\nlevel = \"raid10\"", VOLS), &inv).unwrap();
    for p in ["grub-pc", "grub-efi-amd64-bin", "grub-efi-amd64-signed"] {
        assert!(pkgs(&both).contains(&p.to_string()), "{p}");
    }
    assert!(!pkgs(&both).contains(&"grub-efi-amd64".to_string()));
    let raid10 = both.storage.array("data").unwrap();
    assert_eq!(tandem::answer::enum_name(&raid10.layout.unwrap()), "n2");
    assert!(both.storage.array("boot").unwrap().chunk.is_none());
}

#[test]
fn four_k_native_disks_boot_by_uefi_with_an_esp_fat32_fits() {
    let inv = fixture("uefi-sb-4kn-2disk-1nic");
    let storage = |extra: &str| answer(&format!("disks = {{}}\nlevel = \"raid1\"{extra}"), VOLS);
    // BIOS in the target, by default (placed at [storage]) or by name (at the key): refused,
    // naming the disks.
    let e = plan_of(&storage(""), &inv).unwrap_err();
    assert!(
        e.starts_with(
            "a.toml:6:2: storage.firmware: disks sda, sdb have 4096-byte logical sectors (4Kn)"
        ) && e.contains("set firmware = \"uefi\""),
        "{e}"
    );
    let e = plan_of(&storage("\nfirmware = \"both\""), &inv).unwrap_err();
    assert!(
        e.starts_with("a.toml:9:1: storage.firmware: disks sda, sdb"),
        "{e}"
    );

    // 257 MiB is the first whole MiB that holds 65525 clusters of 4 KiB and the FATs.
    let e = plan_of(&storage("\nfirmware = \"uefi\"\nesp-size = \"256M\""), &inv).unwrap_err();
    assert!(
        e.contains("storage.esp-size: 256M is too small for an ESP on 4Kn disks")
            && e.contains("at least 257M")
            && !e.contains("storage.firmware"),
        "{e}"
    );
    assert_eq!(tandem::plan::storage::ESP_MIN_4KN, 65685 * 4096);
    let p = plan_of(&storage("\nfirmware = \"uefi\"\nesp-size = \"257M\""), &inv).unwrap();
    assert!(p.storage.disks.iter().all(|d| d.logical_sector == 4096));

    // The sector size reaches mkfs.vfat; 512-byte disks keep the command as it was.
    let env = tandem::exec::steps::Env::new(
        "/target",
        tandem::exec::medium::Medium::Local("/run/live/medium".into()).assumed_base_image(),
    );
    let mkfs = |p: &Plan, inv: &Inventory| -> Vec<String> {
        tandem::exec::steps::describe(&tandem::exec::steps::storage(p, inv, &env))
            .lines()
            .filter(|l| l.contains("mkfs.vfat"))
            .map(str::to_string)
            .collect()
    };
    let esps = mkfs(&p, &inv);
    assert_eq!(esps.len(), 2, "{esps:?}");
    assert!(
        esps.iter()
            .all(|l| l.contains("$ mkfs.vfat -F 32 -S 4096 -i ")),
        "{esps:?}"
    );
    let inv512 = fixture("nvme-sata-uefi-2nic");
    let p512 = plan_of(&answer("disks = {}\nlevel = \"raid10\"", VOLS), &inv512).unwrap();
    let esps = mkfs(&p512, &inv512);
    assert!(
        !esps.is_empty() && esps.iter().all(|l| l.contains("$ mkfs.vfat -F 32 -i ")),
        "{esps:?}"
    );
}

/// The e2e power-cut machine as its live system detected it (OVMF, two 4Kn NVMe disks, a
/// 512-byte virtio bystander) and the answer the e2e suite installs on it.
#[test]
fn the_captured_4kn_nvme_machine_plans_a_uefi_only_install() {
    let inv = fixture("qemu-nvme4kn-uefi-2disk-1nic");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu-tests/answers/power-cut.toml"),
    )
    .unwrap();
    let p = plan_of(&text, &inv).unwrap();
    let chosen: Vec<(&str, u32)> = p
        .storage
        .disks
        .iter()
        .map(|d| (d.name.as_str(), d.logical_sector))
        .collect();
    assert_eq!(chosen, [("nvme0n1", 4096), ("nvme1n1", 4096)]);
    assert!(p.grub.bios.is_empty() && p.grub.efi.len() == 2);
    let pkgs: Vec<&str> = p.packages.iter().map(|p| p.name.as_str()).collect();
    for want in ["grub-efi-amd64", "grub-efi-amd64-signed", "shim-signed"] {
        assert!(pkgs.contains(&want), "{want}: {pkgs:?}");
    }
    assert!(!pkgs.contains(&"grub-pc"), "{pkgs:?}");
    // The same machine with BIOS in the target is refused at the key.
    let both = text.replace("firmware = \"uefi\"", "firmware = \"both\"");
    let e = plan_of(&both, &inv).unwrap_err();
    assert!(
        e.contains("storage.firmware: disks nvme0n1, nvme1n1 have 4096-byte logical sectors"),
        "{e}"
    );
}

#[test]
fn dkms_packages_under_secure_boot_warn_at_the_entry() {
    let dir = std::env::temp_dir().join(format!("tandem-dkms-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.toml");
    let text = answer("disks = {}\nlevel = \"raid1\"\nfirmware = \"uefi\"", VOLS).replace(
        "[system]\n",
        "[system]\npackages = [\"htop\",\n  \"zfs-dkms\"]\n",
    );
    std::fs::write(&a, &text).unwrap();
    let validate = |hw: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tandem"));
        c.args(["validate", "--answer", a.to_str().unwrap()]);
        if let Some(h) = hw {
            c.args(["--hardware", &fixture_path(h)]);
        }
        let r = c.output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(r.status.success(), "{err}");
        err
    };
    let err = validate(Some("uefi-sb-4kn-2disk-1nic"));
    let want = format!(
        "tandem: warning: {}:3:3: system.packages[1]: zfs-dkms builds its kernel modules",
        a.display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    // Without Secure Boot, or without the machine, nothing to say.
    assert!(!validate(Some("nvme-sata-uefi-2nic")).contains("dkms"));
    assert!(!validate(None).contains("dkms"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plan_text_says_what_larger_disks_leave_unused() {
    let line = |fx: &str, level: &str| {
        let p = plan_of(
            &answer(&format!("disks = {{}}\nlevel = \"{level}\""), VOLS),
            &fixture(fx),
        )
        .unwrap();
        let text = p.to_string();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains("members are sized for the smallest disk"))
            .map(str::to_string)
            .collect();
        (p, lines)
    };
    // 500 GiB and 512 GiB: the data members stop where the smaller disk's room ends.
    let (p, lines) = line("two-disk-1nic", "raid1");
    assert_eq!(
        lines,
        ["  members are sized for the smallest disk, sda (500.0 GiB); left unused: sdb 12.0 GiB"]
    );
    assert_eq!(p.storage.disks[0].unused_bytes, 0);
    assert_eq!(p.storage.disks[1].unused_bytes, 12 * GIB);
    let (p, lines) = line("qemu-4disk-virtio-2nic", "raid6");
    assert!(lines.is_empty(), "{lines:?}");
    assert!(p.storage.disks.iter().all(|d| d.unused_bytes == 0));
}

#[test]
fn sync_rate_follows_the_link() {
    let ten = sync_rates(SyncRate::Auto, Some(10_000));
    assert_eq!(ten.resync_rate, 10_000_000_000 / 8 / 3);
    assert_eq!(ten.c_max_rate, 10_000_000_000 / 8 * 9 / 10);
    assert!(ten.c_plan_ahead > 0);
    let unknown = sync_rates(SyncRate::Auto, None);
    assert_eq!(unknown.link_mbps, Some(1000));
    assert!(unknown.basis.contains("unknown"), "{}", unknown.basis);
    let fixed = sync_rates(
        SyncRate::Fixed(tandem::answer::Size(110 * MIB)),
        Some(10_000),
    );
    assert_eq!((fixed.resync_rate, fixed.c_plan_ahead), (110 * MIB, 0));
}

#[test]
fn seed_replication_link_speed_comes_from_the_bond_members() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed/cluster.toml"),
    )
    .unwrap();
    let inv = fixture("seed-nettop-4disk-2nic");
    let hint = NodeHint {
        name: None,
        macs: inv.physical_nics().map(|n| n.hw_mac().clone()).collect(),
    };
    let l = load("cluster.toml", &text, &hint).unwrap();
    let p = tandem::session::plan_for(&l.answer, l.node, &inv).unwrap();
    assert_eq!(p.node.as_deref(), Some("nettop"));
    assert_eq!(p.drbd[0].sync.link_mbps, Some(1000));
    assert!(p.drbd[0].sync.basis.contains("1000 Mbit/s"));
    assert_eq!(p.storage.disks.len(), 4);
    assert!(p.storage.lvm.size_bytes > GIB);
}

#[test]
fn render_writes_modes_and_refuses_root() {
    let inv = fixture("seed-lxeon-5disk-2nic");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed/lxeon.toml"),
    )
    .unwrap();
    let l = load("lxeon.toml", &text, &NodeHint::default()).unwrap();
    let p = tandem::session::plan_for(&l.answer, l.node, &inv).unwrap();
    let files = render::all(
        &l.answer,
        &p,
        &Secrets::from_answer(&l.answer, |_| "s".repeat(20)),
    );
    assert!(tandem::exec::tree::write_tree(Path::new("/"), &files).is_err());
    let dir = std::env::temp_dir().join(format!("tandem-render-{}", std::process::id()));
    tandem::exec::tree::write_tree(&dir, &files).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("etc/drbd.d/r0.res"), 0o600);
    assert_eq!(mode("etc/network/interfaces"), 0o644);
    // The plan lists exactly the rendered files.
    let listed: Vec<&str> = p.files.iter().map(|f| f.path.as_str()).collect();
    let rendered: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(listed, rendered);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cli_validate_with_hardware_reports_planner_issues() {
    let dir = std::env::temp_dir().join(format!("tandem-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("big.toml");
    std::fs::write(
        &f,
        answer(
            "disks = { count = 4 }\nlevel = \"raid6\"",
            "[storage.volumes]\nroot = { size = \"100G\" }\nswap = { size = \"40G\" }\n",
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_tandem");
    let out = Command::new(bin)
        .args(["validate", "--answer"])
        .arg(&f)
        .args(["--hardware", &fixture_path("qemu-4disk-virtio-2nic")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(":9:10: storage.volumes: volumes need 140.0 GiB"),
        "{err}"
    );
    // Without hardware there is nothing to plan against: the file itself is valid.
    let out = Command::new(bin)
        .args(["validate", "--answer"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // plan --json is JSON with the same numbers the text shows.
    let out = Command::new(bin)
        .args(["plan", "--json", "--answer"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/qemu-4disk.toml"))
        .args(["--hardware", &fixture_path("qemu-4disk-virtio-2nic")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["storage"]["arrays"][1]["level"], "raid6");
    assert_eq!(v["network"]["bonds"][0]["members"][0], "ens3");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn addresses_on_a_bare_nic_bring_it_up_with_both_families() {
    let inv = fixture("two-disk-1nic");
    let text = answer(
        "disks = {}\nlevel = \"raid1\"",
        &format!(
            "{VOLS}\n[network]\npin-names = false\n\n[[network.addresses]]\ninterface = \"eth0\"\naddress = \"dhcp\"\n\n\
             [[network.addresses]]\ninterface = \"eth0\"\naddress = \"dhcp6\"\n"
        ),
    );
    let p = plan_of(&text, &inv).unwrap();
    let l = load("a.toml", &text, &NodeHint::default()).unwrap();
    let files = render::all(&l.answer, &p, &Secrets::default());
    let ifs = &files
        .iter()
        .find(|f| f.path == "/etc/network/interfaces")
        .unwrap()
        .content;
    assert!(
        ifs.contains("auto eth0\niface eth0 inet dhcp\n\niface eth0 inet6 dhcp\n"),
        "{ifs}"
    );
    // pin-names = false: no .link files; no bonds, VLANs or bridges: no modules.
    assert!(!files.iter().any(|f| f.path.ends_with(".link")));
    let m = &files
        .iter()
        .find(|f| f.path == "/etc/modules-load.d/tandem.conf")
        .unwrap()
        .content;
    assert!(!m.lines().any(|l| !l.starts_with('#')), "{m}");
}

/// The layout written by sgdisk onto a sparse file of the disk's size: sgdisk accepts every
/// partition where the plan puts it and its verifier finds no problem.
#[test]
fn layout_is_accepted_by_sgdisk() {
    for (fx, level) in [
        ("qemu-4disk-virtio-2nic", "raid6"),
        ("seed-lxeon-5disk-2nic", "raid6"),
        ("two-disk-1nic", "raid1"),
    ] {
        let inv = fixture(fx);
        let p = plan_of(
            &answer(
                &format!("disks = {{ exclude-removable = true }}\nlevel = \"{level}\""),
                VOLS,
            ),
            &inv,
        )
        .unwrap();
        // The smallest disk: the one whose room sets the data member size.
        let d = p.storage.disks.iter().min_by_key(|d| d.size_bytes).unwrap();
        let img = std::env::temp_dir().join(format!("tandem-gpt-{}-{fx}.img", std::process::id()));
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(d.size_bytes).unwrap();
        drop(f);
        let mut args = vec!["-o".to_string()];
        for part in &d.partitions {
            let n = part.number;
            args.push(format!(
                "-n{n}:{}:+{}",
                part.start_bytes / 512,
                part.size_bytes / 512
            ));
            args.push(format!("-t{n}:{}", part.type_code));
            args.push(format!("-c{n}:{}", part.label));
        }
        let out = Command::new("sgdisk")
            .args(&args)
            .arg(&img)
            .output()
            .expect("sgdisk (gdisk) is installed by make deps");
        assert!(
            out.status.success(),
            "{fx}: sgdisk {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = Command::new("sgdisk").arg("-v").arg(&img).output().unwrap();
        let text = String::from_utf8_lossy(&v.stdout);
        let table = Command::new("sgdisk").arg("-p").arg(&img).output().unwrap();
        let table = String::from_utf8_lossy(&table.stdout).to_string();
        for part in &d.partitions {
            let first = part.start_bytes / 512;
            let last = (part.start_bytes + part.size_bytes) / 512 - 1;
            let row = table
                .lines()
                .find(|l| l.split_whitespace().next() == Some(part.number.to_string().as_str()));
            let cols: Vec<&str> = row.unwrap_or_default().split_whitespace().collect();
            assert_eq!(
                cols.get(1..3),
                Some(&[first.to_string().as_str(), last.to_string().as_str()][..]),
                "{fx}: partition {} in\n{table}",
                part.number
            );
        }
        std::fs::remove_file(&img).unwrap();
        assert!(text.contains("No problems found"), "{fx}: {text}");
        // Every partition landed where planned (sgdisk would move a start it cannot use).
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            !printed.contains("Could not create partition"),
            "{fx}: {printed}"
        );
    }
}

/// DRBD fencing through the real binary: without Pacemaker every command that validates
/// warns at the key and goes on (exit 0); with `pacemaker` in `system.packages` it is
/// quiet; either way render writes drbd-utils' fence-peer handlers.
#[test]
fn drbd_fencing_warns_without_pacemaker_and_renders_its_handlers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("../examples/eight-disk-drbd-10g.toml")).unwrap();
    let no_fencing = "after-sb = { two-primaries = \"disconnect\" }\n";
    assert!(
        text.contains(no_fencing),
        "example changed: adjust this test"
    );
    let fenced = text.replace(no_fencing, "fencing = \"resource-and-stonith\"\n");
    let dir = std::env::temp_dir().join(format!("tandem-fencing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hw = fixture_path("eight-disk-mixed-4nic");
    let run = |answer: &str, out: &str| {
        let a = dir.join("a.toml");
        std::fs::write(&a, answer).unwrap();
        let o = dir.join(out);
        let r = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["render", "--answer", a.to_str().unwrap(), "--hardware", &hw])
            .args(["--out", o.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(r.status.success(), "{err}");
        let res = std::fs::read_to_string(o.join("etc/drbd.d/r0.res")).unwrap();
        (err, res)
    };
    let (err, res) = run(&text, "plain");
    assert!(!err.contains("Pacemaker"), "{err}");
    assert!(!res.contains("fence-peer"), "{res}");
    let (err, res) = run(&fenced, "fenced");
    assert!(
        err.contains("warning: ")
            && err.contains("drbd.resources[0].fencing")
            && err.contains("Pacemaker"),
        "{err}"
    );
    assert!(res.contains("\t\tfencing resource-and-stonith;\n"), "{res}");
    assert!(
        res.contains("fence-peer \"/usr/lib/drbd/crm-fence-peer.sh\";"),
        "{res}"
    );
    assert!(
        res.contains("after-resync-target \"/usr/lib/drbd/crm-unfence-peer.sh\";"),
        "{res}"
    );
    let with_pacemaker = fenced.replace("[system]\n", "[system]\npackages = [\"pacemaker\"]\n");
    assert_ne!(with_pacemaker, fenced);
    let (err, _) = run(&with_pacemaker, "pacemaker");
    assert!(!err.contains("Pacemaker"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
