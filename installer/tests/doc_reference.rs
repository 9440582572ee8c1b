//! `docs/answer-file.md` documents every key of the answer file. A key is documented by a
//! table row whose first cell is the key path in backticks — `network.bonds[].mode`,
//! `storage.volumes.<name>.size` — with its type, default, allowed values and example in
//! the next four cells. The paths come from the JSON Schema (`tandem::answer::schema()`),
//! so a key added to the model without a row here fails this test, and so does a row for a
//! key that no longer exists.
//!
//! `docs/pxe.md` lists every `tandem.*=` kernel parameter: the sources that read one
//! (installer, live overlay scripts) and the table must name the same set.
//!
//! README.md lists the Debian packages `make deps` installs: the same set as the table in
//! `.ci/host-deps`.
//!
//! `docs/install.md`'s scenario table names every e2e scenario (`qemu-tests/e2e_*.py`).
//!
//! `docs/crates.md` names the crates the workspace takes, with a version where it says
//! one: each is in Cargo.lock, at that version.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

fn doc() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/answer-file.md"
    ))
    .expect("docs/answer-file.md")
}

/// Follows `$ref` into `$defs` and unwraps `Option` (`anyOf` with null) until a schema
/// with a concrete shape is left.
fn resolve<'a>(s: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return resolve(&defs[name], defs);
    }
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(alts) = s.get(k).and_then(Value::as_array) {
            let non_null: Vec<&Value> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            // An object alternative carries keys; otherwise any will do (Size: int or str).
            let pick = non_null
                .iter()
                .map(|a| resolve(a, defs))
                .find(|a| a.get("properties").is_some())
                .or_else(|| non_null.first().map(|a| resolve(a, defs)));
            if let Some(p) = pick {
                return p;
            }
        }
    }
    s
}

fn is_array(s: &Value) -> bool {
    match s.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => false,
    }
}

fn walk(s: &Value, defs: &Map<String, Value>, path: &str, out: &mut BTreeSet<String>) {
    let s = resolve(s, defs);
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            out.insert(p.clone());
            walk(v, defs, &p, out);
        }
    }
    if is_array(s) {
        if let Some(items) = s.get("items") {
            walk(items, defs, &format!("{path}[]"), out);
        }
    }
    // A map of named entries (storage.volumes); `true` means free-form (override).
    if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
        walk(ap, defs, &format!("{path}.<name>"), out);
    }
}

fn schema_keys() -> BTreeSet<String> {
    let schema = tandem::answer::schema();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    walk(&schema, &defs, "", &mut out);
    out
}

/// Key rows: `| `key` | type | default | allowed | example |`.
fn doc_rows(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim()
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect();
            let key = cells[0].trim_matches('`').to_string();
            (key, cells)
        })
        .collect()
}

#[test]
fn schema_walk_finds_nested_keys() {
    let keys = schema_keys();
    for k in [
        "system.hostname",
        "storage.disks.min-size",
        "storage.volumes.<name>.size",
        "network.bonds[].members.mac",
        "drbd.resources[].after-sb.two-primaries",
        "cluster.nodes[].override",
    ] {
        assert!(
            keys.contains(k),
            "{k} not found in the schema walk: {keys:?}"
        );
    }
    assert!(keys.len() > 100, "{}", keys.len());
}

#[test]
fn every_schema_key_is_documented_and_every_documented_key_exists() {
    let keys = schema_keys();
    let rows = doc_rows(&doc());
    let documented: BTreeSet<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    let missing: Vec<&String> = keys.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&keys).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "keys in the schema but not in docs/answer-file.md: {missing:?}; \
         keys in docs/answer-file.md that the schema no longer has: {stale:?}"
    );
    let mut seen = BTreeSet::new();
    for (k, cells) in &rows {
        assert!(seen.insert(k.clone()), "{k} is documented twice");
        assert_eq!(
            cells.len(),
            5,
            "{k}: a key row has 5 cells (key, type, default, allowed, example): {cells:?}"
        );
        assert!(
            cells.iter().all(|c| !c.is_empty()),
            "{k}: empty cell in {cells:?}"
        );
    }
}

#[test]
fn the_complete_example_validates_against_the_seed_machine() {
    let text = doc();
    let start = text
        .find("## A complete example")
        .expect("a complete example");
    let block = &text[start..];
    let body = block
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    let inv = tandem::hardware::Inventory::from_json(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hardware/seed-lxeon-5disk-2nic.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let l = tandem::answer::load("answer-file.md", body, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let issues = tandem::validate::validate(&l.answer, l.node, Some(&inv));
    assert!(issues.is_empty(), "{}", l.map.diagnostics(issues));
}

/// `tandem.<name>=` occurrences in a text: the kernel parameters it reads or writes.
fn kernel_params_in(text: &str, out: &mut BTreeSet<String>) {
    for (i, _) in text.match_indices("tandem.") {
        let rest = &text[i + "tandem.".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with('=') {
            out.insert(name);
        }
    }
}

fn scan(dir: &std::path::Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scan(&p, out);
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            kernel_params_in(&text, out);
        }
    }
}

#[test]
fn every_kernel_parameter_read_is_in_the_pxe_guide_and_only_those() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut read = BTreeSet::new();
    scan(&root.join("installer/src"), &mut read);
    scan(&root.join("overlays"), &mut read);
    let mut documented = BTreeSet::new();
    // answer-discovery.md's table is to be folded into pxe.md's.
    for doc in ["docs/pxe.md", "docs/answer-discovery.md"] {
        let guide = std::fs::read_to_string(root.join(doc)).expect(doc);
        for line in guide.lines().filter(|l| l.starts_with("| `tandem.")) {
            kernel_params_in(line.split('|').nth(1).unwrap(), &mut documented);
        }
    }
    assert!(read.contains("answer") && read.contains("auto"), "{read:?}");
    assert_eq!(
        read, documented,
        "kernel parameters in the sources (left) and in the docs' tables (right) differ"
    );
}

/// The Debian packages of `.ci/host-deps`'s table (the second column; `-` is not a package).
fn host_packages(script: &str) -> BTreeSet<String> {
    let start = script.find("<<'EOF'\n").expect("the table's here-document") + 8;
    let end = start + script[start..].find("\nEOF\n").expect("the table's end");
    script[start..end]
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| *p != "-")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_lists_the_packages_make_deps_installs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = std::fs::read_to_string(root.join(".ci/host-deps")).expect(".ci/host-deps");
    let table = host_packages(&script);
    assert!(
        table.contains("qemu-utils") && table.contains("ovmf"),
        "{table:?}"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let para = readme
        .split("\n\n")
        .find(|p| p.starts_with("Packages: "))
        .expect("README.md has a paragraph starting with `Packages: `");
    let listed: BTreeSet<String> = para
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert_eq!(
        table, listed,
        ".ci/host-deps's packages (left) and README.md's `Packages:` paragraph (right) differ"
    );
}

/// The scenario names the e2e modules declare (`dict(name="...", needs=...`).
fn e2e_scenarios(root: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("qemu-tests")).expect("qemu-tests/") {
        let path = entry.expect("qemu-tests entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("e2e_") && name.ends_with(".py")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("an e2e module");
        let Some(list) = text.split("\nSCENARIOS = [").nth(1) else {
            continue;
        };
        let list = &list[..list.find("\n]").unwrap_or(list.len())];
        for part in list.split("name=\"").skip(1) {
            out.insert(part[..part.find('"').expect("closing quote")].to_string());
        }
    }
    out
}

#[test]
fn the_install_guide_lists_every_e2e_scenario_and_only_those() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let declared = e2e_scenarios(&root);
    assert!(
        declared.contains("fleet") && declared.contains("replace-alpha"),
        "{declared:?}"
    );
    let guide = std::fs::read_to_string(root.join("docs/install.md")).expect("docs/install.md");
    let table = guide
        .split("\n\n")
        .find(|p| p.starts_with("| scenario | proves |"))
        .expect("docs/install.md has the `| scenario | proves |` table");
    let listed: BTreeSet<String> = table
        .lines()
        .skip(2)
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    assert_eq!(
        declared, listed,
        "the e2e modules' SCENARIOS (left) and docs/install.md's scenario table (right) differ"
    );
}

/// (name, version) of every package in Cargo.lock.
fn locked_packages(root: &std::path::Path) -> BTreeSet<(String, String)> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
    let mut out = BTreeSet::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |k: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(k)
                    .and_then(|v| v.strip_prefix(" = \""))
                    .and_then(|v| v.strip_suffix('"'))
                    .map(str::to_string)
            })
        };
        if let (Some(n), Some(v)) = (field("name"), field("version")) {
            out.insert((n, v));
        }
    }
    out
}

#[test]
fn the_crates_table_names_the_locked_crates_at_their_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let locked = locked_packages(&root);
    let doc = std::fs::read_to_string(root.join("docs/crates.md")).expect("docs/crates.md");
    let mut checked = 0;
    // The header is the first "| " row; the separator row starts "|-".
    for row in doc.lines().filter(|l| l.starts_with("| ")).skip(1) {
        let Some(cell) = row.split('|').nth(2).map(str::trim) else {
            continue;
        };
        if !cell.starts_with("crate") {
            continue;
        }
        // `name` [version]: the code spans of the cell that are crate names.
        let parts: Vec<&str> = cell.split('`').collect();
        for (i, name) in parts.iter().enumerate().skip(1).step_by(2) {
            let is_name = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !is_name {
                continue;
            }
            let version = parts
                .get(i + 1)
                .and_then(|t| t.split_whitespace().next())
                .map(|v| v.trim_end_matches([',', ';', ')']))
                .filter(|v| {
                    v.split('.').count() == 3 && v.split('.').all(|x| x.parse::<u32>().is_ok())
                });
            let found = locked
                .iter()
                .any(|(n, v)| n == name && version.is_none_or(|want| v == want));
            assert!(
                found,
                "docs/crates.md names crate {name} {} but Cargo.lock has {:?}",
                version.unwrap_or("(any version)"),
                locked.iter().filter(|(n, _)| n == name).collect::<Vec<_>>()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} crates found in docs/crates.md"
    );
}

/// docs/answer-discovery.md's option codes and TXT name are the ones the installer reads,
/// and the live system's networkd asks for those options.
#[test]
fn answer_discovery_names_the_codes_the_installer_reads() {
    use tandem::exec::locate::{DHCP_OPTION_FINGERPRINT, DHCP_OPTION_URL, TXT_LABEL};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/answer-discovery.md")).unwrap();
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("| 22") || l.contains("dhcp-option-force="))
        .collect();
    for code in [DHCP_OPTION_URL, DHCP_OPTION_FINGERPRINT] {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("| {code} |"))),
            "option {code} has no row: {rows:?}"
        );
        assert!(
            rows.iter()
                .any(|r| r.starts_with(&format!("dhcp-option-force={code},"))),
            "option {code} has no dnsmasq line: {rows:?}"
        );
    }
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("| 22")).count(),
        2,
        "{rows:?}"
    );
    assert!(doc.contains(&format!("`{TXT_LABEL}.<domain>`")));
    assert!(doc.contains(&format!("txt-record={TXT_LABEL}.")));
    let network = std::fs::read_to_string(
        root.join("overlays/live/etc/systemd/network/80-tandem-live.network"),
    )
    .unwrap();
    let requested: BTreeSet<u8> = network
        .lines()
        .filter_map(|l| l.strip_prefix("RequestOptions="))
        .flat_map(|v| v.split_whitespace().map(|c| c.parse::<u8>().unwrap()))
        .collect();
    assert_eq!(
        requested,
        BTreeSet::from([DHCP_OPTION_URL, DHCP_OPTION_FINGERPRINT]),
        "the live networkd must ask for the discovery options"
    );
    assert!(
        network.contains("\nUseDomains=yes\n"),
        "the TXT record needs the lease's domain"
    );
}

/// The fleet server's files (docs/pxe/) are what qemu-tests/fleetnet.py runs; the guide
/// shows each of them whole, so a change to one without the other fails here.
#[test]
fn the_pxe_guide_shows_the_fleet_configs_the_tests_run() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(root.join("docs/pxe.md")).unwrap();
    let blocks: Vec<&str> = guide.split("```").skip(1).step_by(2).collect();
    let mut shown = 0;
    for e in std::fs::read_dir(root.join("docs/pxe")).unwrap() {
        let path = e.unwrap().path();
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(
            blocks
                .iter()
                .any(|b| b.strip_prefix('\n') == Some(file.as_str())),
            "docs/pxe.md shows no block equal to {}",
            path.display()
        );
        shown += 1;
    }
    assert!(shown >= 5, "only {shown} files in docs/pxe/");
}
