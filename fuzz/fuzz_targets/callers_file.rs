//! Fuzz target `callers_file`: the property is `defender_bridge::fuzzing::callers_file` (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| defender_bridge::fuzzing::callers_file(data));
