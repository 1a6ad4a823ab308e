//! Fuzz target `hunting_json`: the property is `defender_bridge::fuzzing::hunting_json` (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| defender_bridge::fuzzing::hunting_json(data));
