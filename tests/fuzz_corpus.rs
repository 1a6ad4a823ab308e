//! Replays the committed fuzz seed corpora (`fuzz/corpus/<target>/`) through the fuzz properties
//! on the ordinary toolchain, so `cargo test` checks them without cargo-fuzz (docs/fuzzing.md).

use std::fs;
use std::path::Path;

use defender_bridge::fuzzing::TARGETS;

#[test]
fn every_seed_of_every_target_holds_its_property() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, property) in TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file()
                && manifest.contains(&format!("name = \"{name}\"")),
            "{name} has no cargo-fuzz target"
        );
        let dir = root.join("corpus").join(name);
        let mut seeds: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{name} has no seeds");
        for seed in seeds {
            let data = fs::read(&seed).expect("seed");
            // A panic names the seed: the property's own message says what broke.
            eprintln!("{name}: {}", seed.display());
            property(&data);
        }
    }
}
