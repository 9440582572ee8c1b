//! Hostile input from the outside (issue #16): every command that reads an answer refuses
//! what `validate` refuses, with exit 2 and nothing written; a hardware inventory that no
//! machine could report is refused the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .output()
        .unwrap()
}

fn manifest(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const HW: &str = "tests/fixtures/hardware/qemu-4disk-virtio-2nic.json";

fn exit2(out: &Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(want), "stderr lacks {want:?}: {err}");
}

/// A DRBD resource named to climb out of --out, and a host name with a line in it: both
/// reached the renderer before, which wrote `escaped.res` three directories up.
#[test]
fn plan_and_render_refuse_what_validate_refuses_and_write_nothing() {
    let d = scratch("render");
    let answer = d.join("a.toml");
    let text = std::fs::read_to_string(manifest("../examples/qemu-4disk.toml")).unwrap();
    assert!(
        text.contains("hostname = \"tandem-qemu\""),
        "example changed: adjust this test"
    );
    let hw = manifest(HW);
    let out = d.join("tree");
    let o = out.to_str().unwrap().to_string();
    let run_all = |file: &Path, want: &str| {
        let a = file.to_str().unwrap();
        for args in [
            vec!["validate", "--answer", a, "--hardware", &hw],
            vec!["plan", "--answer", a, "--hardware", &hw],
            vec!["render", "--answer", a, "--hardware", &hw, "--out", &o],
        ] {
            exit2(&tandem(&args), want);
        }
    };
    let with_host = |name: &str| {
        text.replace(
            "hostname = \"tandem-qemu\"",
            &format!("hostname = \"{name}\""),
        )
    };
    std::fs::write(&answer, with_host("tandem-qemu\\n10.6.6.6 intruder")).unwrap();
    run_all(
        &answer,
        "system.hostname: contains the control character U+000A",
    );
    // A rule only validation has: the renderer would write this name happily.
    std::fs::write(&answer, with_host("bad_host")).unwrap();
    run_all(&answer, "system.hostname: \"bad_host\" contains '_'");
    assert!(!out.exists());

    let ok = d.join("ok.toml");
    std::fs::write(&ok, &text).unwrap();
    let out2 = d.join("tree2");
    let r = tandem(&[
        "render",
        "--answer",
        ok.to_str().unwrap(),
        "--hardware",
        &hw,
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out2.join("etc/hostname").is_file());
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().starts_with('.')),
        "a staging directory was left: {names:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// One change to the fixture inventory.
type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

fn inventory_with(d: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest(HW)).unwrap()).unwrap();
    edit(&mut v);
    let p = d.join(format!(
        "inv-{}.json",
        std::fs::read_dir(d).unwrap().count()
    ));
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn an_impossible_inventory_exits_2_naming_the_file_and_the_entry() {
    let d = scratch("inventory");
    let answer = manifest("../examples/qemu-4disk.toml");
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["disks"][1]["name"] = v["disks"][0]["name"].clone()),
            "a second disk with this name",
        ),
        (
            Box::new(|v| v["disks"][0]["name"] = "../../etc".into()),
            "name contains '/'",
        ),
        (
            Box::new(|v| v["disks"][2]["logical-sector"] = 1000.into()),
            "logical sector size 1000",
        ),
        (
            Box::new(|v| v["disks"][1]["serial"] = v["disks"][0]["serial"].clone()),
            "is also disk",
        ),
        (
            Box::new(|v| v["nics"][0]["name"] = "a-name-longer-than-ifnamsiz".into()),
            "is longer than 15 bytes",
        ),
        (
            Box::new(|v| {
                v["nics"][0]["mac"] = "01:00:5e:00:00:01".into();
                v["nics"][0]["permanent-mac"] = serde_json::Value::Null;
            }),
            "is not a unicast hardware address",
        ),
    ];
    for (edit, want) in cases {
        let inv = inventory_with(&d, edit);
        let out = tandem(&["validate", "--answer", &answer, "--hardware", &inv]);
        exit2(&out, want);
        exit2(&out, &format!("{inv}: invalid hardware inventory: "));
    }
    let latin1 = d.join("latin1.json");
    std::fs::write(&latin1, b"{\"disks\": \"\xe9\"}").unwrap();
    let plan_with = |inv: &str| tandem(&["plan", "--answer", &answer, "--hardware", inv]);
    exit2(&plan_with(latin1.to_str().unwrap()), "not UTF-8");
    exit2(
        &plan_with("/nonexistent/inv.json"),
        "cannot read the hardware inventory",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// The schema an editor checks against refuses what the loader refuses: every integer has
/// its maximum, and one past a u32's maximum is refused by the loader, placed at the key.
#[test]
fn the_schema_gives_every_integer_the_maximum_the_loader_enforces() {
    let out = tandem(&["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    fn walk(v: &serde_json::Value, path: &str, bad: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                let integer = match m.get("type") {
                    Some(serde_json::Value::String(t)) => t == "integer",
                    Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                    _ => false,
                };
                if integer && m.get("maximum").is_none() {
                    bad.push(path.to_string());
                }
                if m.get("format").and_then(|f| f.as_str()) == Some("ip") {
                    bad.push(format!("{path} (format \"ip\")"));
                }
                for (k, x) in m {
                    walk(x, &format!("{path}/{k}"), bad);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}/{i}"), bad);
                }
            }
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&schema, "", &mut bad);
    assert!(bad.is_empty(), "integers without a maximum: {bad:?}");
    let max = schema["$defs"]["Bond"]["properties"]["mtu"]["maximum"]
        .as_u64()
        .expect("Bond.mtu's maximum");
    assert_eq!(max, u64::from(u32::MAX));

    let d = scratch("schema-max");
    let text = std::fs::read_to_string(manifest("../examples/eight-disk-drbd-10g.toml")).unwrap();
    assert!(
        text.contains("\nmtu = 9000\n"),
        "example changed: adjust this test"
    );
    let hw = manifest("tests/fixtures/hardware/eight-disk-mixed-4nic.json");
    let answer = d.join("a.toml");
    let a = answer.to_str().unwrap();
    std::fs::write(
        &answer,
        text.replace("\nmtu = 9000\n", &format!("\nmtu = {}\n", max + 1)),
    )
    .unwrap();
    let line = text[..text.find("\nmtu = 9000\n").unwrap()].lines().count() + 1;
    exit2(
        &tandem(&["validate", "--answer", a, "--hardware", &hw]),
        &format!("a.toml:{line}:1: network.bonds[1].mtu: invalid value: integer `4294967296`"),
    );
    // At the maximum the loader takes the number; what is left is the validator's own rule.
    std::fs::write(
        &answer,
        text.replace("\nmtu = 9000\n", &format!("\nmtu = {max}\n")),
    )
    .unwrap();
    let out = tandem(&["validate", "--answer", a, "--hardware", &hw]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("expected u32"), "{err}");
}

/// A chunk too big is the chunk's fault: it was reported as the volumes not fitting in an
/// array of "0 B" (the stripe pushed LVM's first extent past the end).
#[test]
fn a_huge_chunk_is_blamed_on_the_chunk() {
    let d = scratch("chunk");
    let text = std::fs::read_to_string(manifest("../examples/qemu-4disk.toml")).unwrap();
    assert!(
        text.contains("chunk = \"512K\""),
        "example changed: adjust this test"
    );
    let hw = manifest(HW);
    for (chunk, want) in [
        (
            "16T",
            "storage.chunk: 16T is larger than md allows (at most 1T",
        ),
        ("1T", "storage.chunk: 1T makes a stripe of 2.0 TiB"),
    ] {
        let a = d.join(format!("{chunk}.toml"));
        std::fs::write(
            &a,
            text.replace("chunk = \"512K\"", &format!("chunk = \"{chunk}\"")),
        )
        .unwrap();
        let a = a.to_str().unwrap();
        let out = tandem(&["validate", "--answer", a, "--hardware", &hw]);
        exit2(&out, want);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("storage.volumes"), "{err}");
        assert!(err.contains(&format!("{a}:15:1: ")), "{err}");
    }
}
