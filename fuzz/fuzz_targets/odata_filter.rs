//! Fuzz target `odata_filter`: the property is `defender_bridge::fuzzing::odata_filter` (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| defender_bridge::fuzzing::odata_filter(data));
