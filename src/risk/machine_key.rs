//! A machine id as a map key in the bulk summaries, which hold one entry per machine of the
//! tenant (100,000 and more). Defender's ids are 40 hexadecimal characters: those are kept as
//! their 20 bytes inline (no allocation; compared case-insensitively, as Defender does), any
//! other id as its lower-case text.

/// A machine id, compact; equal for ids that differ only in letter case. Ordered (by no
/// meaningful order) so that summaries can be kept in sorted, exact-size lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MachineKey {
    /// A 40-hex-character id, decoded.
    Hex([u8; 20]),
    /// Any other id, lower case.
    Text(Box<str>),
}

impl MachineKey {
    /// The key of `id`.
    pub fn of(id: &str) -> Self {
        let mut bytes = [0u8; 20];
        if id.len() == 40 && hex::decode_to_slice(id, &mut bytes).is_ok() {
            MachineKey::Hex(bytes)
        } else {
            MachineKey::Text(id.to_ascii_lowercase().into_boxed_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_are_inline_and_case_insensitive() {
        let id = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";
        assert!(matches!(MachineKey::of(id), MachineKey::Hex(_)));
        assert_eq!(MachineKey::of(id), MachineKey::of(&id.to_uppercase()));
        assert_ne!(
            MachineKey::of(id),
            MachineKey::of("2e5bc9d7e413ddd7902c2932e418702b84d0cc07")
        );
    }

    #[test]
    fn other_ids_compare_as_lower_case_text() {
        assert_eq!(MachineKey::of("M1"), MachineKey::of("m1"));
        assert_eq!(MachineKey::of("m1"), MachineKey::Text("m1".into()));
        // 40 characters but not hex: text, never confused with a hex id.
        let odd = "zz5bc9d7e413ddd7902c2932e418702b84d0cc07";
        assert_eq!(MachineKey::of(odd), MachineKey::Text(odd.into()));
    }
}
