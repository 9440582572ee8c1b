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
