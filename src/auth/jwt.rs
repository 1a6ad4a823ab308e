//! OIDC bearer tokens (JWTs), e.g. Kubernetes service-account tokens.
//!
//! A token is accepted only when all of these hold:
//! - its header's `alg` is RS256 or ES256 (`none`, HS*, and everything else are refused: a
//!   shared-secret algorithm would let anyone holding the public JWKS forge tokens);
//! - its `kid` names a key of a configured issuer's JWKS, of the same algorithm (an unknown
//!   `kid` is refused; keys are never guessed);
//! - the signature verifies with that key;
//! - `iss` is that issuer, `aud` contains its audience, `exp` has not passed and `nbf` has
//!   (with [`LEEWAY_SECS`] of clock skew), and `sub` is one of the issuer's `subjects`.
//!
//! The identity is `jwt:<sub>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde::Deserialize;
use serde_json::Value;

use super::callers_file::Grant;
use super::jwks_url::RemoteJwks;

mod claims;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// Largest JWKS file read.
pub const MAX_JWKS_FILE_BYTES: u64 = 1024 * 1024;
/// Smallest RSA modulus that verifies a signature (ring's limit, and NIST's).
const MIN_RSA_BITS: usize = 2048;

/// One configured `[[issuer]]`.
#[derive(Clone, Debug)]
pub struct Issuer {
    /// The expected `iss`.
    pub issuer: String,
    /// The audience `aud` must contain.
    pub audience: String,
    /// The keys.
    pub keys: IssuerKeys,
    /// Extra root certificates for fetching `jwks_url` (watched for changes).
    pub jwks_ca_file: Option<PathBuf>,
    /// Roles by `sub`.
    pub subjects: HashMap<String, Grant>,
}

/// Where an issuer's keys come from.
#[derive(Clone, Debug)]
pub enum IssuerKeys {
    /// `jwks_file`: read with the callers file (and re-read when it changes).
    File {
        /// The file.
        path: PathBuf,
        /// Its keys.
        jwks: Arc<Jwks>,
    },
    /// `jwks_url`: fetched and refreshed in the background.
    Url(Arc<RemoteJwks>),
}

impl IssuerKeys {
    /// The keys in force.
    pub fn current(&self) -> Arc<Jwks> {
        match self {
            Self::File { jwks, .. } => Arc::clone(jwks),
            Self::Url(remote) => remote.keys(),
        }
    }
}

/// The two signature algorithms accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// The name a JWT header and a JWK use.
    fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// The JWS algorithm names other than RS256 and ES256 that are refused by name (anything else,
/// `none` included, is not taken for a JWT at all).
const REFUSED_ALGORITHMS: [&str; 10] = [
    "HS256", "HS384", "HS512", "ES384", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
];

/// A public key of a JWKS, checked when a signature is verified with it (ring parses it then).
#[derive(Clone)]
enum PublicKey {
    /// RSA modulus and public exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// A P-256 point, uncompressed (`0x04 || x || y`).
    P256 { point: Vec<u8> },
}

impl PublicKey {
    /// Whether `signature` (the JWS signature bytes) signs `message` with this key.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Self::P256 { point } => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// The usable keys of a JWKS document (RSA and P-256 EC keys with a `kid`).
#[derive(Clone, Default)]
pub struct Jwks {
    keys: Vec<(String, Algorithm, PublicKey)>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|(kid, alg, _)| format!("{kid} ({})", alg.name())),
            )
            .finish()
    }
}

impl Jwks {
    /// Reads a JWKS file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = crate::config::file::read_capped(path, MAX_JWKS_FILE_BYTES)?;
        Self::parse(&text).map_err(|m| format!("JWKS file {}: {m}", path.display()))
    }

    /// Parses a JWKS document. Keys that are not RSA or P-256 EC, or have no `kid`, are left
    /// out (with a log line); a document with no usable key is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<Value>,
        }
        let doc: Doc = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a JWKS document (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let mut keys = Vec::new();
        for jwk in &doc.keys {
            let Some(kty) = jwk.get("kty").and_then(Value::as_str) else {
                tracing::warn!("a JWKS key of an unsupported form is ignored");
                continue;
            };
            let Some(kid) = jwk.get("kid").and_then(Value::as_str) else {
                tracing::warn!("a JWKS key without `kid` is ignored");
                continue;
            };
            match usable(kty, jwk) {
                Some((alg, key)) => {
                    if let PublicKey::Rsa { n, .. } = &key {
                        if bits(n) < MIN_RSA_BITS {
                            tracing::warn!(
                                kid = %kid,
                                "a JWKS RSA key of fewer than {MIN_RSA_BITS} bits verifies no token"
                            );
                        }
                    }
                    keys.push((kid.to_string(), alg, key));
                }
                None => {
                    tracing::warn!(kid = %kid, "a JWKS key that is not RS256 or ES256 is ignored")
                }
            }
        }
        if keys.is_empty() {
            return Err("no RS256 or ES256 key with a `kid`".into());
        }
        Ok(Self { keys })
    }
}

/// The algorithm and key of a JWK, if it is an RSA key or a P-256 EC key whose `alg`, if any,
/// is RS256 or ES256 respectively.
fn usable(kty: &str, jwk: &Value) -> Option<(Algorithm, PublicKey)> {
    let field = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|text| B64.decode(text).ok())
    };
    let (alg, key) = match kty {
        "RSA" => {
            let (n, e) = (field("n")?, field("e")?);
            let key = PublicKey::Rsa {
                n: without_leading_zeros(&n).to_vec(),
                e: without_leading_zeros(&e).to_vec(),
            };
            (Algorithm::Rs256, key)
        }
        "EC" if jwk.get("crv").and_then(Value::as_str) == Some("P-256") => {
            let (x, y) = (field("x")?, field("y")?);
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (Algorithm::Es256, PublicKey::P256 { point })
        }
        _ => return None,
    };
    match jwk.get("alg") {
        None | Some(Value::Null) => Some((alg, key)),
        Some(declared) if declared.as_str() == Some(alg.name()) => Some((alg, key)),
        Some(_) => None,
    }
}

/// Big-endian integer bytes without their leading zero bytes (ring refuses them; JWKs may
/// carry them).
fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The bit length of a big-endian integer without leading zero bytes.
fn bits(n: &[u8]) -> usize {
    n.first().map_or(0, |&top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    })
}

/// The JOSE header fields read; the others are ignored.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// A verified token's subject and its grant.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    /// `sub`.
    pub subject: String,
    /// Roles and limits of the subject.
    pub grant: Grant,
}

/// Verifies `token` against `issuers` (see the module docs). The error says what was wrong in
/// words safe to return to the caller; it never holds the token.
pub fn verify(issuers: &[Issuer], token: &str) -> Result<VerifiedToken, String> {
    let not_a_jwt = || {
        "the bearer token is neither a known API key nor a JWT with an RS256 or ES256 signature"
            .to_string()
    };
    // `header.payload.signature`; the signature covers `header.payload`.
    let (message, signature) = token.rsplit_once('.').ok_or_else(not_a_jwt)?;
    let (header, payload) = message.rsplit_once('.').ok_or_else(not_a_jwt)?;
    let header: Header = B64
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(not_a_jwt)?;
    let alg = match header.alg.as_str() {
        "RS256" => Algorithm::Rs256,
        "ES256" => Algorithm::Es256,
        other => {
            return Err(match REFUSED_ALGORITHMS.iter().find(|a| **a == other) {
                Some(name) => format!("JWT algorithm {name} is not accepted: only RS256 and ES256"),
                None => not_a_jwt(),
            });
        }
    };
    let kid = header
        .kid
        .ok_or_else(|| "the JWT has no `kid` header".to_string())?;
    let mut last = None;
    for issuer in issuers {
        let jwks = issuer.keys.current();
        for (_, key_alg, key) in jwks.keys.iter().filter(|(k, _, _)| *k == kid) {
            if *key_alg != alg {
                last = Some("the JWT's algorithm does not match its key".to_string());
                continue;
            }
            match check(issuer, key, message, payload, signature) {
                Ok(sub) => {
                    return match issuer.subjects.get(&sub) {
                        Some(grant) => Ok(VerifiedToken {
                            subject: sub,
                            grant: grant.clone(),
                        }),
                        None => Err(format!(
                            "JWT subject `{}` is not a configured caller of issuer {}",
                            crate::error::echo(&sub),
                            issuer.issuer
                        )),
                    };
                }
                Err(message) => last = Some(message),
            }
        }
    }
    if let Some(message) = last {
        return Err(message);
    }
    // An unknown key id may be a rotation: issuers with a `jwks_url` fetch again soon.
    let mut pending = false;
    for issuer in issuers {
        if let IssuerKeys::Url(remote) = &issuer.keys {
            remote.saw_unknown_kid();
            pending |= !remote.fetched();
        }
    }
    Err(if pending {
        format!(
            "the JWT's key id `{}` is not in any JWKS fetched so far (an issuer's `jwks_url` \
             has not been fetched yet)",
            crate::error::echo(&kid)
        )
    } else {
        format!(
            "the JWT's key id `{}` is not in any configured issuer's JWKS",
            crate::error::echo(&kid)
        )
    })
}

/// The signature with `key`, then the claims for `issuer`; the token's `sub` if both hold.
fn check(
    issuer: &Issuer,
    key: &PublicKey,
    message: &str,
    payload: &str,
    signature: &str,
) -> Result<String, String> {
    let malformed = || "the JWT is malformed".to_string();
    let signature = B64.decode(signature).map_err(|_| malformed())?;
    if !key.verifies(message.as_bytes(), &signature) {
        return Err("the JWT's signature does not verify".into());
    }
    let payload = B64.decode(payload).map_err(|_| malformed())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    claims::check(&payload, &issuer.issuer, &issuer.audience, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rs256_and_p256_keys_with_a_kid_are_kept() {
        let doc = serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "r", "n": "sXchDaQebSXuc9QTLuBjH8OE1dC-nI8Qi6rKw1gQ3xw", "e": "AQAB" },
            { "kty": "RSA", "n": "sXchDaQebSXuc9QTLuBjH8OE1dC-nI8Qi6rKw1gQ3xw", "e": "AQAB" },
            { "kty": "RSA", "kid": "r512", "alg": "RS512", "n": "sXchDaQebSXuc9QTLuBjH8OE1dC-nI8Qi6rKw1gQ3xw", "e": "AQAB" },
            { "kty": "oct", "kid": "h", "k": "c2VjcmV0" },
            { "kty": "weird", "kid": "w" },
        ]});
        let jwks = Jwks::parse(&doc.to_string()).expect("one usable key");
        let kids: Vec<&str> = jwks.keys.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(kids, ["r"]);
        let only_hmac =
            serde_json::json!({ "keys": [{ "kty": "oct", "kid": "h", "k": "c2VjcmV0" }] });
        assert!(Jwks::parse(&only_hmac.to_string()).is_err());
        assert!(Jwks::parse("not json").is_err());
    }

    #[test]
    fn a_token_that_is_not_a_jwt_is_refused_without_echo() {
        let err = verify(&[], "abc.def.ghi").expect_err("garbage");
        assert!(!err.contains("abc.def.ghi"), "{err}");
    }
}

#[cfg(test)]
mod signature_tests;
