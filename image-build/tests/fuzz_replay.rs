//! Replays the `indexes` fuzz target's kept inputs (`image-build/fuzz/corpus/indexes/`, the
//! minimized corpus of the last campaign, and `regressions/indexes/`) through the same
//! harness on stable Rust, so a fixed crash stays fixed without nightly or libFuzzer.

#[path = "../src/package/deb822.rs"]
#[allow(dead_code)]
mod deb822;
#[path = "../fuzz/harness.rs"]
mod harness;
#[path = "../src/package/relation.rs"]
#[allow(dead_code)]
mod relation;
#[path = "../src/package/version.rs"]
#[allow(dead_code)]
mod version;

use std::path::Path;

#[test]
fn the_indexes_target_keeps_no_finding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for d in ["corpus/indexes", "regressions/indexes"] {
        if let Ok(rd) = std::fs::read_dir(root.join(d)) {
            inputs.extend(rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    inputs.sort();
    assert!(inputs.len() >= 3, "{} inputs", inputs.len());
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        let run = std::panic::catch_unwind(|| harness::indexes(&data));
        assert!(run.is_ok(), "{} makes the indexes target fail", p.display());
    }
}
