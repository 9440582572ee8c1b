use tandem::answer::{load, NodeHint};

#[test]
fn example_answer_loads() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/design/example-answer.toml"
    ));
    let Ok(text) = text else { return };
    let l = load("example.toml", &text, &NodeHint::default()).unwrap();
    assert_eq!(l.answer.system.hostname, "lxeon");
    assert_eq!(l.node, Some(0));
    let bad = text.replace("mode = \"802.3ad\"", "mode = \"lacp\"");
    let e = load("example.toml", &bad, &NodeHint::default()).unwrap_err();
    println!("{e}");
    let bad = text.replace("miimon = 100", "miimon = 100\nfoo = 1");
    let e = load("example.toml", &bad, &NodeHint::default()).unwrap_err();
    println!("{e}");
    let bad = text.replace("chunk = \"512K\"", "chunk = \"512Q\"");
    println!(
        "{}",
        load("example.toml", &bad, &NodeHint::default()).unwrap_err()
    );
    let bad = text.replace("[system]", "[system\n");
    println!(
        "{}",
        load("example.toml", &bad, &NodeHint::default()).unwrap_err()
    );
}

#[test]
fn hardware_fixtures_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hardware");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let inv = tandem::hardware::Inventory::from_json(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            !inv.disks.is_empty() && !inv.nics.is_empty(),
            "{}",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 6);
}
