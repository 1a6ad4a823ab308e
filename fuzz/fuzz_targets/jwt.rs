//! Fuzz target `jwt`: the property is `defender_bridge::fuzzing::jwt` (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| defender_bridge::fuzzing::jwt(data));
