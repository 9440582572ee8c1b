//! What the fuzz targets run, shared with `installer/tests/fuzz_replay.rs`, which replays
//! the kept corpus on stable Rust in `make check` so a fixed crash stays fixed.
//!
//! A panic anywhere is a finding. So is a valid answer (valid for the inventory, planned)
//! whose rendered tree a writer would refuse: validation must have caught it first.

use tandem::answer::Document;
use tandem::hardware::Inventory;

/// The machine every answer is validated and planned against: four virtio disks, two
/// NICs, as a QEMU test VM (a fixture captured from a guest).
pub const INVENTORY: &str = include_str!("../tests/fixtures/hardware/qemu-4disk-virtio-2nic.json");
/// A valid answer for [`INVENTORY`], for the inventory target.
pub const ANSWER: &str = include_str!("../../examples/qemu-4disk.toml");

/// The answer file's whole path through `validate`, `plan` and `render`, by the functions
/// the commands call: validated as a file (every node of a cluster file, then each node
/// as `--node` names it), and a valid answer planned, rendered and its tree held to the
/// writer's rules.
pub fn answer(data: &[u8], inv: &Inventory) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let names = Document::parse("fuzz.toml", text)
        .map(|d| d.node_names())
        .unwrap_or_default();
    let path = std::env::temp_dir().join(format!(
        "tandem-fuzz-{}-{:?}.toml",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, data).expect("a scratch file in the temp directory");
    for node in std::iter::once(None).chain(names.into_iter().map(Some)) {
        let Ok(loaded) = tandem::session::validate_answers(&path, node, Some(inv)) else {
            continue;
        };
        for (_, l) in loaded {
            let Ok(plan) = tandem::session::plan_loaded(&l, inv) else {
                continue;
            };
            let _ = plan.to_string();
            let secrets = tandem::render::Secrets::from_answer(&l.answer, |_| "s".repeat(32));
            let files = tandem::render::all(&l.answer, &plan, &secrets);
            let problems = tandem::render::tree_problems(&files);
            assert!(
                problems.is_empty(),
                "a valid answer rendered a tree no writer may write: {problems:?}"
            );
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// A `--hardware` inventory: parsed and checked as `read_inventory` does; one that passes
/// is planned for with a valid answer, which must not panic (it may be refused).
pub fn inventory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inv) = Inventory::from_json(text) else {
        return;
    };
    if !inv.problems().is_empty() {
        return;
    }
    answer(ANSWER.as_bytes(), &inv);
}

pub fn fixed_inventory() -> Inventory {
    Inventory::from_json(INVENTORY).expect("the fixture inventory parses")
}
