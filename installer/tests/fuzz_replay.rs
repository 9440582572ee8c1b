//! Replays what the fuzz targets keep (`installer/fuzz/corpus/<target>/`, the minimized
//! corpus of the last campaign, and `installer/fuzz/regressions/<target>/`, one file per
//! class of crash ever found) through the same harness on stable Rust, so a fixed crash
//! stays fixed without nightly or libFuzzer. The answer files of the repository (examples,
//! the valid and failure corpora) go through the answer target too.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn the_answer_target_keeps_no_finding() {
    let inv = harness::fixed_inventory();
    let r = root();
    let mut inputs = Vec::new();
    for d in [
        "fuzz/corpus/answer",
        "fuzz/regressions/answer",
        "tests/valid",
        "tests/failures",
        "../examples",
        "../qemu-tests/answers",
    ] {
        inputs.extend(files(&r.join(d)));
    }
    let regressions = files(&r.join("fuzz/regressions/answer")).len();
    assert!(
        regressions >= 3,
        "the crash classes of issue #16 are kept: {regressions}"
    );
    assert!(inputs.len() > 250, "{} inputs", inputs.len());
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        let run = std::panic::catch_unwind(|| harness::answer(&data, &inv));
        assert!(run.is_ok(), "{} makes the answer target fail", p.display());
    }
}

#[test]
fn the_inventory_target_keeps_no_finding() {
    let r = root();
    let mut inputs = Vec::new();
    for d in [
        "fuzz/corpus/inventory",
        "fuzz/regressions/inventory",
        "tests/fixtures/hardware",
    ] {
        inputs.extend(files(&r.join(d)));
    }
    assert!(inputs.len() >= 9, "{} inputs", inputs.len());
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        let run = std::panic::catch_unwind(|| harness::inventory(&data));
        assert!(
            run.is_ok(),
            "{} makes the inventory target fail",
            p.display()
        );
    }
}
