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

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::callers_file::Grant;
use super::jwks_url::RemoteJwks;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// Largest JWKS file read.
pub const MAX_JWKS_FILE_BYTES: u64 = 1024 * 1024;

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

/// The usable keys of a JWKS document (RSA and P-256 EC keys with a `kid`).
#[derive(Clone, Default)]
pub struct Jwks {
    keys: Vec<(String, Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|(kid, alg, _)| format!("{kid} ({alg:?})")),
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
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a JWKS document (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let mut keys = Vec::new();
        for value in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                tracing::warn!("a JWKS key of an unsupported form is ignored");
                continue;
            };
            let Some(kid) = jwk.common.key_id.clone() else {
                tracing::warn!("a JWKS key without `kid` is ignored");
                continue;
            };
            match usable(&jwk) {
                Some((alg, key)) => keys.push((kid, alg, key)),
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

/// The algorithm and key of a JWK, if it is an RS256 or ES256 key.
fn usable(jwk: &Jwk) -> Option<(Algorithm, DecodingKey)> {
    let declared = jwk.common.key_algorithm;
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    let matches = match declared {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(_) => false,
    };
    if !matches {
        return None;
    }
    DecodingKey::from_jwk(jwk).ok().map(|key| (alg, key))
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
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
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        "the bearer token is neither a known API key nor a JWT with an RS256 or ES256 signature"
            .to_string()
    })?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(format!(
            "JWT algorithm {:?} is not accepted: only RS256 and ES256",
            header.alg
        ));
    }
    let kid = header
        .kid
        .ok_or_else(|| "the JWT has no `kid` header".to_string())?;
    let mut last = None;
    for issuer in issuers {
        let jwks = issuer.keys.current();
        for (_, alg, key) in jwks.keys.iter().filter(|(k, _, _)| *k == kid) {
            if *alg != header.alg {
                last = Some("the JWT's algorithm does not match its key".to_string());
                continue;
            }
            let mut validation = Validation::new(*alg);
            validation.leeway = LEEWAY_SECS;
            validation.validate_nbf = true;
            validation.set_issuer(&[issuer.issuer.as_str()]);
            validation.set_audience(&[issuer.audience.as_str()]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    let sub = data.claims.sub;
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
                Err(err) => last = Some(describe(err.kind())),
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

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the JWT has expired".into(),
        ErrorKind::ImmatureSignature => "the JWT is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the JWT's audience is not this service".into(),
        ErrorKind::InvalidIssuer => "the JWT's issuer does not match its key's issuer".into(),
        ErrorKind::InvalidSignature => "the JWT's signature does not verify".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("the JWT has no `{c}` claim"),
        ErrorKind::InvalidAlgorithm => "the JWT's algorithm does not match its key".into(),
        _ => "the JWT is malformed".into(),
    }
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
