//! API keys: generation (`defender-bridge keygen`), hashing and constant-time look-up.
//!
//! Only the SHA-256 of a key is ever stored. A presented key is hashed and compared with every
//! configured digest in constant time (`subtle`), without stopping at a match, so neither the
//! comparison nor the position of the matching entry shows in the timing.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use super::callers_file::{ApiKeyEntry, parse_roles, valid_name};

/// Prefix of generated keys: makes them recognisable to secret scanners and in a config.
pub const KEY_PREFIX: &str = "dbk_";

/// A new random key: the prefix and 32 random bytes, base64url without padding.
pub fn generate_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The SHA-256 of a key.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// No configured key has this digest (unknown or revoked).
    Unknown,
    /// The key is configured but its `expires` has passed.
    Expired,
}

/// The entry whose digest matches `key`'s, checked in constant time over all entries.
pub fn find<'a>(
    entries: &'a [ApiKeyEntry],
    key: &str,
    now: OffsetDateTime,
) -> Result<&'a ApiKeyEntry, KeyRefusal> {
    let presented = digest(key);
    let mut found = None;
    for entry in entries {
        if bool::from(entry.digest.ct_eq(&presented)) {
            found = Some(entry);
        }
    }
    let entry = found.ok_or(KeyRefusal::Unknown)?;
    match entry.expires {
        Some(at) if at <= now => Err(KeyRefusal::Expired),
        _ => Ok(entry),
    }
}

/// The output of `defender-bridge keygen`: the key (shown once) and the `[[api_key]]` entry to
/// paste into the callers file. Validates the name and the role names.
pub fn keygen(name: &str, roles: &[String]) -> Result<(String, String), String> {
    if !valid_name(name) {
        return Err(format!(
            "--name must be 1 to {} letters, digits, `.`, `_` or `-`",
            super::callers_file::MAX_NAME_LEN
        ));
    }
    let roles = parse_roles(roles)?;
    let key = generate_key();
    let list: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
    let entry = format!(
        "[[api_key]]\nname = \"{name}\"\nsha256 = \"{}\"\nroles = [{}]\n",
        hex::encode(digest(&key)),
        list.join(", ")
    );
    Ok((key, entry))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::auth::callers_file::Callers;
    use crate::auth::roles::Role;

    #[test]
    fn keygen_entry_parses_and_finds_its_key() {
        let (key, entry) = keygen("soar", &["reader".into(), "responder".into()]).expect("valid");
        assert!(key.starts_with(KEY_PREFIX));
        assert!(!entry.contains(&key), "the entry holds only the hash");
        let callers = Callers::parse(&entry, Path::new("c.toml")).expect("parses");
        let now = OffsetDateTime::now_utc();
        let found = find(&callers.api_keys, &key, now).expect("found");
        assert_eq!(found.name, "soar");
        assert!(found.grant.roles.contains(&Role::Responder));
        assert_eq!(
            find(&callers.api_keys, &generate_key(), now).err(),
            Some(KeyRefusal::Unknown)
        );
    }

    #[test]
    fn keygen_refuses_bad_names_and_roles() {
        assert!(keygen("a b", &["reader".into()]).is_err());
        assert!(keygen("a", &["superuser".into()]).is_err());
        assert!(keygen("a", &[]).is_err());
    }

    #[test]
    fn expired_keys_are_refused() {
        let (key, entry) = keygen("old", &["reader".into()]).expect("valid");
        let entry = format!("{entry}expires = \"2020-01-01T00:00:00Z\"\n");
        let callers = Callers::parse(&entry, Path::new("c.toml")).expect("parses");
        assert_eq!(
            find(&callers.api_keys, &key, OffsetDateTime::now_utc()).err(),
            Some(KeyRefusal::Expired)
        );
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(generate_key(), generate_key());
        assert_eq!(generate_key().len(), KEY_PREFIX.len() + 43);
    }
}
