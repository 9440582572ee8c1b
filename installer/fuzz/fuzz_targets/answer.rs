#![no_main]

#[path = "../harness.rs"]
mod harness;

use std::sync::OnceLock;

static INV: OnceLock<tandem::hardware::Inventory> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::answer(data, INV.get_or_init(harness::fixed_inventory));
});
