//! The install script of every example, planned against the fixture its first line names
//! (as in golden.rs), must equal tests/steps/<example>[/<node>].txt — what
//! `tandem install --dry-run` prints. `TANDEM_BLESS=1 cargo test --test install_steps`
//! rewrites them. And whatever the example: every device the script names is the plan's.

use std::path::{Path, PathBuf};
use tandem::answer::{Document, NodeHint};
use tandem::exec::medium::Medium;
use tandem::exec::packages::DebToInstall;
use tandem::exec::steps::{self, Action, Env, Phase};
use tandem::hardware::Inventory;
use tandem::plan;
use tandem::render::{self, Secrets};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> Vec<PathBuf> {
    let pat = manifest().join("../examples/**/*.toml");
    let mut v: Vec<PathBuf> = glob::glob(pat.to_str().unwrap())
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    v.sort();
    v
}

fn fixtures(text: &str) -> Vec<(Option<String>, String)> {
    let first = text.lines().next().unwrap_or("");
    let spec = first
        .strip_prefix("# hardware:")
        .expect("first line names the hardware");
    spec.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((n, f)) => (Some(n.to_string()), f.to_string()),
            None => (None, w.to_string()),
        })
        .collect()
}

/// A stand-in for what the medium resolves: one .deb, so the package steps show.
fn fake_debs() -> Vec<DebToInstall> {
    vec![DebToInstall {
        name: "htop".into(),
        version: "3.4.1-1".into(),
        from: "/run/live/medium/tandem/repo/pool/main/h/htop/htop_3.4.1-1_amd64.deb".into(),
        sha256: "00".repeat(32),
        size: Some(1),
    }]
}

struct Case {
    name: String,
    plan: plan::Plan,
    steps: Vec<steps::Step>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for ex in examples() {
        let text = std::fs::read_to_string(&ex).unwrap();
        let rel = ex
            .strip_prefix(manifest().join("../examples"))
            .unwrap()
            .with_extension("")
            .display()
            .to_string();
        for (node, fixture) in fixtures(&text) {
            let inv = Inventory::from_json(
                &std::fs::read_to_string(
                    manifest().join(format!("tests/fixtures/hardware/{fixture}.json")),
                )
                .unwrap(),
            )
            .unwrap();
            let doc = Document::parse(&rel, &text).unwrap();
            let loaded = doc
                .resolve(&NodeHint {
                    name: node.clone(),
                    macs: inv.physical_nics().map(|n| n.hw_mac().clone()).collect(),
                })
                .unwrap();
            let plan = tandem::session::plan_for(&loaded.answer, loaded.node, &inv)
                .unwrap_or_else(|i| panic!("{}", loaded.map.diagnostics(i)));
            let secrets = Secrets::from_answer(&loaded.answer, |_| "s".repeat(32));
            let files = render::all(&loaded.answer, &plan, &secrets);
            let env = Env::new(
                "/target",
                Medium::Local("/run/live/medium".into()).assumed_base_image(),
            );
            let steps = steps::script(&loaded.answer, &plan, &inv, &fake_debs(), &files, &env);
            let name = match node {
                Some(n) => format!("{rel}/{n}"),
                None => rel.clone(),
            };
            out.push(Case { name, plan, steps });
        }
    }
    out
}

#[test]
fn install_scripts_match_their_golden_listing() {
    let bless = std::env::var("TANDEM_BLESS").is_ok_and(|v| v == "1");
    let mut problems = Vec::new();
    let all = cases();
    assert!(all.len() >= 5, "expected every example, got {}", all.len());
    for c in &all {
        let text = steps::describe(&c.steps);
        let path = manifest()
            .join("tests/steps")
            .join(format!("{}.txt", c.name));
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(g) if g == text => {}
            Ok(g) => {
                let at = g
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .map(|i| i + 1)
                    .unwrap_or(g.lines().count().min(text.lines().count()) + 1);
                problems.push(format!("{}: differs at line {at}", path.display()));
            }
            Err(_) => problems.push(format!("{}: missing", path.display())),
        }
    }
    assert!(
        problems.is_empty(),
        "install scripts differ (TANDEM_BLESS=1 rewrites; review the diff):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_device_a_step_names_is_the_plans() {
    let mut checked = 0;
    for c in cases() {
        for s in &c.steps {
            for dev in steps::device_paths(s) {
                checked += 1;
                assert!(
                    steps::is_plan_device(&c.plan, &dev),
                    "{}: step {:?} names {dev}, which is not one of the plan's devices",
                    c.name,
                    s.action
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} device paths seen");
}

#[test]
fn grub_goes_on_the_disks_last_but_one() {
    for c in cases() {
        let phases: Vec<Phase> = c.steps.iter().map(|s| s.phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(phases, sorted, "{}: phases out of order", c.name);
        let grub: Vec<usize> = c
            .steps
            .iter()
            .enumerate()
            .filter(
                |(_, s)| matches!(&s.action, Action::Run(cmd) if cmd.program() == "grub-install"),
            )
            .map(|(i, _)| i)
            .collect();
        assert!(!grub.is_empty(), "{}: no grub-install", c.name);
        // Only the finish phase comes after GRUB: nothing that could leave a half system.
        for s in &c.steps[*grub.last().unwrap()..] {
            assert!(
                matches!(s.phase, Phase::Bootloader | Phase::Finish),
                "{}: {:?} after grub-install",
                c.name,
                s.action
            );
        }
        // BIOS: GRUB's boot code on every disk, by id: grub-install builds the core image
        // once, on the first disk, and grub-bios-setup embeds that image in the others.
        let written: Vec<(&str, &str)> = c
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Run(cmd) => match (cmd.program(), cmd.argv()) {
                    ("grub-install", [t, disk]) if t == "--target=i386-pc" => {
                        Some(("grub-install", disk.as_str()))
                    }
                    ("grub-bios-setup", [d, disk]) if d == "--directory=/boot/grub/i386-pc" => {
                        Some(("grub-bios-setup", disk.as_str()))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let want: Vec<(&str, &str)> = c
            .plan
            .grub
            .bios
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let tool = if i == 0 {
                    "grub-install"
                } else {
                    "grub-bios-setup"
                };
                (tool, d.as_str())
            })
            .collect();
        assert_eq!(written, want, "{}", c.name);
    }
}

#[test]
fn the_password_hash_never_shows_in_a_listing() {
    for c in cases() {
        let text = steps::describe(&c.steps);
        assert!(!text.contains("$6$"), "{}: a hash in\n{text}", c.name);
    }
}

#[test]
fn old_partitions_are_wiped_before_the_disk() {
    let inv = Inventory::from_json(
        &std::fs::read_to_string(
            manifest().join("tests/fixtures/hardware/existing-md-4disk-1nic.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let with_parts: Vec<_> = inv
        .disks
        .iter()
        .filter(|d| !d.partitions.is_empty())
        .collect();
    assert!(!with_parts.is_empty(), "fixture has no partitions");
    let text = r#"
[system]
hostname = "pve1"
domain = "example.org"
root-password-hash = "$6$Vn0wqkz2Xo6fB5cP$VorkVA4xtWVAec2yE36N.epbFc5iEKIjGU9M6inO0hFbVuAtm.U99MS02qj5r/7A4yrwRto4yqfPvk.qR4DVU0"
[storage]
disks = { exclude-removable = true }
level = "raid1"
wipe = "force"
[storage.volumes]
root = { size = "8G" }
"#;
    let loaded = tandem::answer::load("t.toml", text, &NodeHint::default()).unwrap();
    let plan = tandem::session::plan_for(&loaded.answer, None, &inv).unwrap();
    let wipe: Vec<String> = steps::storage(
        &plan,
        &inv,
        &Env::new("/target", Medium::Local("/m".into()).assumed_base_image()),
    )
    .into_iter()
    .filter(|s| s.phase == Phase::Wipe)
    .filter_map(|s| match s.action {
        Action::Run(c) => Some(c.display()),
        _ => None,
    })
    .collect();
    for d in &plan.storage.disks {
        let disk_at = wipe
            .iter()
            .position(|l| l == &format!("wipefs --all --force {}", d.dev))
            .unwrap_or_else(|| panic!("no wipefs of {} in {wipe:#?}", d.dev));
        let old = inv.disk(&d.name).unwrap();
        for p in &old.partitions {
            let at = wipe
                .iter()
                .position(|l| l == &format!("wipefs --all --force /dev/{}", p.name))
                .unwrap_or_else(|| panic!("{} not wiped", p.name));
            assert!(at < disk_at, "{} wiped after its disk", p.name);
        }
        assert!(Path::new(&d.dev).starts_with("/dev"));
    }
}

#[test]
fn the_device_check_catches_a_foreign_device() {
    let c = cases().into_iter().next().unwrap();
    let foreign = steps::Step {
        phase: Phase::Wipe,
        action: Action::Run(
            tandem::exec::runner::Cmd::new("efibootmgr").args(["--disk=/dev/sdz", "/dev/sdz1"]),
        ),
    };
    let found = steps::device_paths(&foreign);
    assert_eq!(found, vec!["/dev/sdz", "/dev/sdz1"]);
    assert!(found.iter().all(|d| !steps::is_plan_device(&c.plan, d)));
    let own = &c.plan.storage.disks[0];
    assert!(steps::is_plan_device(&c.plan, &own.dev));
    assert!(steps::is_plan_device(&c.plan, &own.partitions[0].dev));
    assert!(!steps::is_plan_device(&c.plan, &format!("{}9", own.dev)));
}

#[test]
fn http_base_image_is_downloaded_onto_the_target_and_removed() {
    let c = cases().into_iter().next().expect("an example");
    let env = Env::new(
        "/target",
        tandem::exec::medium::BaseImage::Http {
            url: "http://10.0.2.2:8000/base.squashfs".into(),
            size: 123,
        },
    );
    let lines: Vec<String> = steps::system(&c.plan, &env)
        .iter()
        .map(|s| match &s.action {
            Action::Run(cmd) => cmd.display(),
            Action::Tandem(t) => t.to_string(),
        })
        .collect();
    let dl = "/target/var/tmp/tandem-base.squashfs";
    assert_eq!(
        lines[0],
        format!(
            "download http://10.0.2.2:8000/base.squashfs (123 bytes) to {} on the target",
            steps::BASE_DOWNLOAD
        )
    );
    assert_eq!(
        lines[1],
        format!("unsquashfs -f -no-progress -d /target {dl}")
    );
    assert_eq!(lines[2], format!("rm -f {dl}"));
}
