//! Opaque, verifiable page tokens for every list RPC (AIP-158).
//!
//! A token carries only an offset into the result and an HMAC-SHA256 tag over (token version,
//! RPC, tenant, filters, offset). The server recomputes the tag from the *current* request, so a
//! token that was edited, or that is replayed with other filters, another tenant or another RPC,
//! fails verification and the call gets INVALID_ARGUMENT. No upstream URL is ever inside a token
//! (a caller must never be able to point the server, and its token, at another host).
//!
//! Key choice: the HMAC key is derived one-way (SHA-256 with a domain label) from the tenant,
//! the client id and the client credential. Every replica of a deployment has the same
//! credential, so tokens work across replicas behind a load balancer without shared state, and
//! the key itself cannot be recovered from tokens. Rotating the secret invalidates outstanding
//! tokens, which only makes callers restart a listing. Without a credential (integration
//! disabled) a random per-process key is used; no list RPC works then anyway. Page size is not
//! bound, so a caller may change it between pages (AIP-158 allows that).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::defender::{Credential, DefenderSettings};
use crate::error::ServiceError;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = 1 + 8 + TAG_LEN;
const BLOCK: usize = 64;

/// What a page token is bound to: the RPC, the tenant and every filter of the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageScope {
    bytes: Vec<u8>,
}

impl PageScope {
    /// A scope for `rpc` (e.g. `ListMachines`) in `tenant`.
    pub fn new(rpc: &str, tenant: &str) -> Self {
        Self::default().with("rpc", rpc).with("tenant", tenant)
    }

    /// Adds a named filter value (length-prefixed, so values cannot run into each other).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        for part in [name.as_bytes(), value.as_bytes()] {
            self.bytes
                .extend_from_slice(&(part.len() as u64).to_be_bytes());
            self.bytes.extend_from_slice(part);
        }
        self
    }
}

/// Signs and verifies page tokens. `Debug` never shows the key.
#[derive(Clone)]
pub struct PageTokenSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokenSigner([REDACTED])")
    }
}

impl PageTokenSigner {
    /// A signer whose key is derived one-way from the tenant, client id and credential, so
    /// every replica with the same configuration agrees.
    pub fn from_settings(settings: &DefenderSettings) -> Self {
        let credential = match &settings.credential {
            Credential::Secret(secret) => secret.expose_secret().as_bytes(),
            Credential::Certificate { assertion } => assertion.expose_secret().as_bytes(),
        };
        let mut hasher = Sha256::new();
        hasher.update(b"defender-bridge page-token key v1\0");
        for part in [
            settings.tenant_id.as_bytes(),
            settings.client_id.as_bytes(),
            credential,
        ] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        Self {
            key: hasher.finalize().into(),
        }
    }

    /// A signer with a random key (tokens only valid in this process).
    pub fn random() -> Self {
        Self {
            key: rand::random(),
        }
    }

    /// The token for the page starting at `offset` of the listing described by `scope`.
    pub fn sign(&self, scope: &PageScope, offset: u64) -> String {
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.push(VERSION);
        token.extend_from_slice(&offset.to_be_bytes());
        token.extend_from_slice(&self.tag(scope, offset)[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The offset a token stands for: 0 for an empty token; INVALID_FIELD (`field`) when the
    /// token was altered or belongs to another listing.
    pub fn verify(&self, field: &str, scope: &PageScope, token: &str) -> Result<u64, ServiceError> {
        if token.is_empty() {
            return Ok(0);
        }
        let invalid = || {
            ServiceError::invalid(
                field,
                "is not a page token of this listing: it was altered, or the request's filters or \
                 tenant differ from the request that returned it; start again with an empty page_token",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
            return Err(invalid());
        }
        let offset = u64::from_be_bytes(bytes[1..9].try_into().map_err(|_| invalid())?);
        let expected = self.tag(scope, offset);
        // Constant-time comparison: no early exit on the first differing byte.
        let diff = bytes[9..]
            .iter()
            .zip(&expected[..TAG_LEN])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Ok(offset)
        } else {
            Err(invalid())
        }
    }

    /// The offset a list request's `page_token` stands for (see [`PageTokenSigner::verify`]).
    pub fn offset(&self, scope: &PageScope, page_token: &str) -> Result<u64, ServiceError> {
        self.verify("page_token", scope, page_token)
    }

    /// The `next_page_token` of a page whose next page starts at `next_offset`: empty on the
    /// last page (`None`).
    pub fn next_token(&self, scope: &PageScope, next_offset: Option<u64>) -> String {
        next_offset
            .map(|offset| self.sign(scope, offset))
            .unwrap_or_default()
    }

    fn tag(&self, scope: &PageScope, offset: u64) -> [u8; 32] {
        let mut message = Vec::with_capacity(scope.bytes.len() + 16);
        message.push(VERSION);
        message.extend_from_slice(&scope.bytes);
        message.extend_from_slice(&offset.to_be_bytes());
        hmac_sha256(&self.key, &message)
    }
}

/// HMAC-SHA256 (RFC 2104) for a key no longer than the block size.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> PageTokenSigner {
        PageTokenSigner { key: [7u8; 32] }
    }

    #[test]
    fn hmac_matches_a_reference_implementation() {
        // Expected value from Python: hmac.new(b"\x0b" * 32, b"Hi There", hashlib.sha256).
        let key = [0x0bu8; 32];
        let tag = hmac_sha256(&key, b"Hi There");
        assert_eq!(
            hex::encode(tag),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }

    #[test]
    fn a_token_round_trips_with_the_same_scope() {
        let scope = PageScope::new("ListMachines", "t").with("os_platform", "Windows11");
        let token = signer().sign(&scope, 300);
        assert_eq!(
            signer()
                .verify("page_token", &scope, &token)
                .expect("valid"),
            300
        );
        assert_eq!(signer().verify("page_token", &scope, "").expect("empty"), 0);
    }

    #[test]
    fn a_token_is_refused_with_other_filters_tenant_or_rpc() {
        let scope = PageScope::new("ListMachines", "t").with("os_platform", "Windows11");
        let token = signer().sign(&scope, 100);
        for other in [
            PageScope::new("ListMachines", "t").with("os_platform", "Linux"),
            PageScope::new("ListMachines", "u").with("os_platform", "Windows11"),
            PageScope::new("ListAlerts", "t").with("os_platform", "Windows11"),
        ] {
            assert!(signer().verify("page_token", &other, &token).is_err());
        }
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let scope = PageScope::new("ListMachines", "t");
        let token = signer().sign(&scope, 100);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("b64");
        bytes[8] ^= 1; // offset 100 -> 101
        let forged = URL_SAFE_NO_PAD.encode(bytes);
        assert!(signer().verify("page_token", &scope, &forged).is_err());
        assert!(
            signer()
                .verify("page_token", &scope, "not a token!")
                .is_err()
        );
        assert!(signer().verify("page_token", &scope, &token[..10]).is_err());
        let other_key = PageTokenSigner { key: [8u8; 32] };
        assert!(other_key.verify("page_token", &scope, &token).is_err());
    }

    #[test]
    fn scope_values_cannot_be_shifted_between_fields() {
        let a = PageScope::new("L", "t").with("a", "bc").with("d", "");
        let b = PageScope::new("L", "t").with("a", "b").with("cd", "");
        assert_ne!(a, b);
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", signer()), "PageTokenSigner([REDACTED])");
    }
}
