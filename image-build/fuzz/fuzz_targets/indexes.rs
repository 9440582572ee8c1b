#![no_main]

#[path = "../../src/package/deb822.rs"]
mod deb822;
#[path = "../harness.rs"]
mod harness;
#[path = "../../src/package/relation.rs"]
mod relation;
#[path = "../../src/package/version.rs"]
mod version;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::indexes(data));
