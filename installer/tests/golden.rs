//! Golden tests: every example answer file, planned against the hardware fixture its first
//! line names, renders exactly the checked-in file tree under tests/golden/<example>[/<node>]/
//! (plus plan.txt and plan.json). `TANDEM_BLESS=1 cargo test --test golden` rewrites them;
//! review the diff by eye before committing.
//!
//! A first line `# hardware: <fixture>` names the fixture of a single-node file; a cluster
//! file names one per node: `# hardware: lxeon=<fixture> nettop=<fixture>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tandem::answer::{Document, NodeHint};
use tandem::hardware::Inventory;
use tandem::plan;
use tandem::render::{self, RenderedFile, Secrets};

/// The DRBD secret injected in place of `secret = "generate"`.
const SECRET: &str = "golden-test-secret-0123456789abcdef";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn examples() -> Vec<PathBuf> {
    let pat = repo().join("examples/**/*.toml");
    let mut v: Vec<PathBuf> = glob::glob(pat.to_str().unwrap())
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    v.sort();
    v
}

/// (node, fixture) pairs from the first line.
fn fixtures(example: &Path, text: &str) -> Vec<(Option<String>, String)> {
    let first = text.lines().next().unwrap_or("");
    let spec = first
        .strip_prefix("# hardware:")
        .unwrap_or_else(|| {
            panic!(
                "{}: the first line must be `# hardware: <fixture>`",
                example.display()
            )
        })
        .trim();
    spec.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((node, fx)) => (Some(node.to_string()), fx.to_string()),
            None => (None, w.to_string()),
        })
        .collect()
}

fn inventory(fixture: &str) -> Inventory {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hardware")
        .join(format!("{fixture}.json"));
    Inventory::from_json(&std::fs::read_to_string(&p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Plans and renders one node; returns the plan and the files.
pub fn render_node(
    example: &Path,
    node: Option<&str>,
    fixture: &str,
) -> (plan::Plan, Vec<RenderedFile>) {
    let text = std::fs::read_to_string(example).unwrap();
    let inv = inventory(fixture);
    let file = example
        .strip_prefix(repo())
        .unwrap_or(example)
        .display()
        .to_string();
    let doc = Document::parse(&file, &text).unwrap_or_else(|e| panic!("{e}"));
    let hint = NodeHint {
        name: node.map(String::from),
        macs: inv.physical_nics().map(|n| n.hw_mac().clone()).collect(),
    };
    let loaded = doc.resolve(&hint).unwrap_or_else(|e| panic!("{e}"));
    // Every example is a valid answer for its hardware, not just a plannable one.
    let issues = tandem::validate::validate(&loaded.answer, loaded.node, Some(&inv));
    assert!(issues.is_empty(), "{}", loaded.map.diagnostics(issues));
    let plan = tandem::session::plan_for(&loaded.answer, loaded.node, &inv)
        .unwrap_or_else(|issues| panic!("{}", loaded.map.diagnostics(issues)));
    let secrets = Secrets::from_answer(&loaded.answer, |_| SECRET.to_string());
    let files = render::all(&loaded.answer, &plan, &secrets);
    (plan, files)
}

/// The golden tree of one case: rendered files by relative path, plus plan.txt/plan.json.
fn tree(plan: &plan::Plan, files: &[RenderedFile]) -> BTreeMap<String, String> {
    let mut t: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                f.path.trim_start_matches('/').to_string(),
                f.content.clone(),
            )
        })
        .collect();
    t.insert("plan.txt".into(), plan.to_string());
    t.insert(
        "plan.json".into(),
        serde_json::to_string_pretty(plan).unwrap() + "\n",
    );
    t
}

fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    if !dir.is_dir() {
        return t;
    }
    let pat = dir.join("**/*");
    for p in glob::glob(pat.to_str().unwrap()).unwrap() {
        let p = p.unwrap();
        if p.is_file() {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            t.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
    }
    t
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  golden:   {x}\n  rendered: {y}", i + 1);
        }
    }
    format!(
        "lengths differ: golden {} lines, rendered {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn examples_render_their_golden_trees() {
    let bless = std::env::var("TANDEM_BLESS").is_ok_and(|v| v == "1");
    let mut problems = Vec::new();
    let mut cases = 0;
    let mut files = 0;
    let examples = examples();
    assert!(
        examples.len() >= 5,
        "expected the seed and at least 3 more examples"
    );
    for ex in &examples {
        let text = std::fs::read_to_string(ex).unwrap();
        let rel = ex
            .strip_prefix(repo().join("examples"))
            .unwrap()
            .with_extension("");
        for (node, fixture) in fixtures(ex, &text) {
            let dir = match &node {
                Some(n) => golden_root().join(&rel).join(n),
                None => golden_root().join(&rel),
            };
            let (plan, rendered) = render_node(ex, node.as_deref(), &fixture);
            let want = tree(&plan, &rendered);
            cases += 1;
            files += want.len();
            if bless {
                let _ = std::fs::remove_dir_all(&dir);
                for (p, c) in &want {
                    let f = dir.join(p);
                    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                    std::fs::write(&f, c).unwrap();
                }
                continue;
            }
            let have = read_tree(&dir);
            for (p, c) in &want {
                match have.get(p) {
                    None => problems.push(format!("{}/{p}: not in the golden tree", dir.display())),
                    Some(g) if g != c => problems.push(format!(
                        "{}/{p}: differs at {}",
                        dir.display(),
                        first_difference(g, c)
                    )),
                    Some(_) => {}
                }
            }
            for p in have.keys().filter(|p| !want.contains_key(*p)) {
                problems.push(format!(
                    "{}/{p}: golden file no longer rendered",
                    dir.display()
                ));
            }
        }
    }
    eprintln!("golden: {cases} cases, {files} files");
    assert!(
        problems.is_empty(),
        "golden trees differ (TANDEM_BLESS=1 rewrites them; review the diff):\n{}",
        problems.join("\n")
    );
}

// ───────────── the seed's intent, asserted explicitly ─────────────

/// Stanzas of an interfaces file: "iface X inet M" header → its attribute lines.
fn stanzas(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for l in text.lines() {
        if l.starts_with("iface ") {
            cur = Some(l.to_string());
            m.entry(l.to_string()).or_default();
        } else if let (Some(c), true) = (&cur, l.starts_with('\t')) {
            m.get_mut(c).unwrap().push(l.trim().to_string());
        } else {
            cur = None;
        }
    }
    m
}

fn file<'a>(files: &'a [RenderedFile], path: &str) -> &'a RenderedFile {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not rendered"))
}

fn seed_node(node: &str, fixture: &str) -> Vec<RenderedFile> {
    render_node(
        &repo().join("examples/seed/cluster.toml"),
        Some(node),
        fixture,
    )
    .1
}

#[test]
fn seed_interfaces_keep_the_seed_layout() {
    for (node, fixture, ip) in [
        ("lxeon", "seed-lxeon-5disk-2nic", "10.7.4.45/24"),
        ("nettop", "seed-nettop-4disk-2nic", "10.7.4.9/24"),
    ] {
        let files = seed_node(node, fixture);
        let text = &file(&files, "/etc/network/interfaces").content;
        let s = stanzas(text);
        let get = |h: &str| {
            s.get(h)
                .unwrap_or_else(|| panic!("{node}: no `{h}` in\n{text}"))
        };
        let bond = get("iface bond0 inet manual");
        assert!(
            bond.contains(&"bond-slaves eno1 eno2".to_string()),
            "{bond:?}"
        );
        assert!(bond.contains(&"bond-mode 802.3ad".to_string()), "{bond:?}");
        assert!(bond.contains(&"bond-miimon 100".to_string()), "{bond:?}");
        for nic in ["eno1", "eno2"] {
            let st = get(&format!("iface {nic} inet manual"));
            assert!(st.contains(&"tso-offload off".to_string()), "{nic}: {st:?}");
        }
        for id in [7, 370, 371, 374, 379] {
            assert!(text.contains(&format!("auto bond0.{id}\niface bond0.{id} inet manual")));
            let method = if id == 374 { "static" } else { "manual" };
            let br = get(&format!("iface vmbr{id} inet {method}"));
            for want in [
                format!("bridge-ports bond0.{id}"),
                "bridge-stp off".into(),
                "bridge-fd 0".into(),
            ] {
                assert!(br.contains(&want), "vmbr{id}: {br:?} lacks {want}");
            }
        }
        let br = get("iface vmbr374 inet static");
        assert!(br.contains(&format!("address {ip}")), "{br:?}");
        assert!(br.contains(&"gateway 10.7.4.1".to_string()), "{br:?}");
        // Only vmbr374 is addressed.
        let addressed: Vec<&String> = s
            .iter()
            .filter(|(_, v)| v.iter().any(|l| l.starts_with("address ")))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(addressed, vec!["iface vmbr374 inet static"]);
        assert_eq!(text.matches("gateway ").count(), 1);
    }
}

#[test]
fn seed_drbd_resource_keeps_the_seed_settings() {
    let lx = seed_node("lxeon", "seed-lxeon-5disk-2nic");
    let nt = seed_node("nettop", "seed-nettop-4disk-2nic");
    let res = file(&lx, "/etc/drbd.d/r0.res");
    assert_eq!(res.mode, 0o600, "the .res holds the secret");
    let t = &res.content;
    for want in [
        "resource r0 {",
        "protocol C;",
        "wfc-timeout 15;",
        "degr-wfc-timeout 60;",
        "become-primary-on both;",
        "cram-hmac-alg sha1;",
        "allow-two-primaries;",
        "after-sb-0pri discard-zero-changes;",
        "after-sb-1pri discard-secondary;",
        "after-sb-2pri disconnect;",
        "on lxeon {",
        "address 10.7.4.45:7788;",
        "on nettop {",
        "address 10.7.4.9:7788;",
        "device /dev/drbd0;",
        "disk /dev/pve/drbd;",
    ] {
        assert!(t.contains(want), "r0.res lacks {want:?}:\n{t}");
    }
    assert_eq!(t.matches("meta-disk internal;").count(), 2);
    assert!(t.contains(&format!("shared-secret \"{SECRET}\";")));
    // One resource file for both peers.
    assert_eq!(t, &file(&nt, "/etc/drbd.d/r0.res").content);
    // LVM sees /dev/drbd0, never its backing volume.
    let lvm = &file(&lx, "/etc/lvm/lvmlocal.conf").content;
    let reject = lvm.find("r|^/dev/pve/drbd$|").expect("backing rejected");
    let accept = lvm.find("a|^/dev/drbd0$|").expect("drbd accepted");
    assert!(reject < accept && lvm.contains("\"r|.*|\""), "{lvm}");
}

#[test]
fn seed_hosts_has_both_nodes_and_no_127_0_1_1() {
    let lx = seed_node("lxeon", "seed-lxeon-5disk-2nic");
    let hosts = &file(&lx, "/etc/hosts").content;
    assert!(
        hosts.contains("10.7.4.45\tlxeon.minobr.local lxeon"),
        "{hosts}"
    );
    assert!(
        hosts.contains("10.7.4.9\tnettop.minobr.local nettop"),
        "{hosts}"
    );
    assert!(!hosts.contains("127.0.1.1"), "{hosts}");
    let fstab = &file(&lx, "/etc/fstab").content;
    assert!(
        fstab.contains("tmpfs\t/tmp\ttmpfs\tnodev,nosuid,size=500M"),
        "{fstab}"
    );
    assert!(
        fstab.contains("/dev/pve/root\t/\text4\terrors=remount-ro"),
        "{fstab}"
    );
}

#[test]
fn design_example_and_seed_lxeon_example_agree() {
    // examples/seed/lxeon.toml is the design's example answer; the cluster file's lxeon must
    // render the same network and DRBD configs.
    let single = render_node(
        &repo().join("examples/seed/lxeon.toml"),
        None,
        "seed-lxeon-5disk-2nic",
    )
    .1;
    let cluster = seed_node("lxeon", "seed-lxeon-5disk-2nic");
    for p in [
        "/etc/network/interfaces",
        "/etc/drbd.d/r0.res",
        "/etc/hosts",
        "/etc/fstab",
        "/etc/mdadm/mdadm.conf",
    ] {
        assert_eq!(file(&single, p).content, file(&cluster, p).content, "{p}");
    }
    let design = std::fs::read_to_string(repo().join("../shared/design/example-answer.toml"));
    if let Ok(d) = design {
        let ours = std::fs::read_to_string(repo().join("examples/seed/lxeon.toml")).unwrap();
        assert!(
            ours.ends_with(&d),
            "examples/seed/lxeon.toml drifted from the design example"
        );
    }
}
