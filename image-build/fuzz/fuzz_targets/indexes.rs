#![no_main]

#[path = "../../src/deb822.rs"]
mod deb822;
#[path = "../harness.rs"]
mod harness;
#[path = "../../src/relation.rs"]
mod relation;
#[path = "../../src/version.rs"]
mod version;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::indexes(data));
