//! Fuzz target `page_token`: the property is `defender_bridge::fuzzing::page_token` (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| defender_bridge::fuzzing::page_token(data));
