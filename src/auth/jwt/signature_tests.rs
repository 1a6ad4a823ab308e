//! Signatures made by an independent implementation (the `jsonwebtoken` crate, a
//! dev-dependency) verified by [`super::verify`]: what verifies, and every way a signature, a
//! key or an algorithm can be wrong.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm as Alg, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

use super::{Issuer, IssuerKeys, Jwks, verify};
use crate::auth::callers_file::{Grant, LimitOverrides};
use crate::auth::roles::Role;

const ISS: &str = "https://issuer.test";
const AUD: &str = "defender-bridge";
const SUB: &str = "system:serviceaccount:analytics:collector";

struct Rsa {
    signing: EncodingKey,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// One RSA key for the module (generating one takes a while in a debug build).
fn rsa_key() -> &'static Rsa {
    static KEY: OnceLock<Rsa> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key");
        let der = private.to_pkcs1_der().expect("der");
        Rsa {
            signing: EncodingKey::from_rsa_der(der.as_bytes()),
            n: private.n().to_bytes_be(),
            e: private.e().to_bytes_be(),
        }
    })
}

fn rsa_jwk(kid: &str, key: &Rsa) -> Value {
    json!({ "kty": "RSA", "kid": kid, "alg": "RS256", "n": B64.encode(&key.n), "e": B64.encode(&key.e) })
}

struct Ec {
    signing: EncodingKey,
    jwk: Value,
}

fn ec_key(kid: &str) -> Ec {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ec key");
    let point = pair.public_key_raw();
    Ec {
        signing: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk: json!({ "kty": "EC", "kid": kid, "crv": "P-256",
                     "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) }),
    }
}

fn issuers(keys: Vec<Value>) -> Vec<Issuer> {
    let jwks = Jwks::parse(&json!({ "keys": keys }).to_string()).expect("jwks");
    let grant = Grant {
        roles: BTreeSet::from([Role::Reader]),
        limits: LimitOverrides::default(),
    };
    vec![Issuer {
        issuer: ISS.into(),
        audience: AUD.into(),
        keys: IssuerKeys::File {
            path: "jwks.json".into(),
            jwks: Arc::new(jwks),
        },
        jwks_ca_file: None,
        subjects: HashMap::from([(SUB.to_string(), grant)]),
    }]
}

fn claims() -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({ "iss": ISS, "aud": AUD, "sub": SUB, "iat": now, "nbf": now - 10, "exp": now + 600 })
}

fn sign(alg: Alg, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

#[test]
fn rs256_and_es256_signatures_verify() {
    let ec = ec_key("ec-1");
    let issuers = issuers(vec![rsa_jwk("rsa-1", rsa_key()), ec.jwk.clone()]);
    let rs = sign(Alg::RS256, "rsa-1", &rsa_key().signing, &claims());
    let es = sign(Alg::ES256, "ec-1", &ec.signing, &claims());
    for token in [rs, es] {
        let verified = verify(&issuers, &token).expect("verifies");
        assert_eq!(verified.subject, SUB);
        assert_eq!(verified.grant.roles, BTreeSet::from([Role::Reader]));
    }
}

#[test]
fn jwk_integers_with_leading_zero_bytes_are_read() {
    let key = rsa_key();
    let padded = Rsa {
        signing: key.signing.clone(),
        n: [&[0u8][..], &key.n].concat(),
        e: [&[0u8, 0][..], &key.e].concat(),
    };
    let issuers = issuers(vec![rsa_jwk("rsa-1", &padded)]);
    let token = sign(Alg::RS256, "rsa-1", &key.signing, &claims());
    verify(&issuers, &token).expect("verifies");
}

#[test]
fn a_signature_by_another_key_or_over_other_claims_does_not_verify() {
    let ec = ec_key("ec-1");
    let other = ec_key("ec-1");
    let issuers = issuers(vec![ec.jwk.clone()]);
    let does_not_verify = Err("the JWT's signature does not verify".to_string());

    let forged = sign(Alg::ES256, "ec-1", &other.signing, &claims());
    assert_eq!(
        verify(&issuers, &forged).map(|v| v.subject),
        does_not_verify
    );

    // The signature of one token on the claims of another.
    let genuine = sign(Alg::ES256, "ec-1", &ec.signing, &claims());
    let mut wider = claims();
    wider["sub"] = json!("system:serviceaccount:kube-system:admin");
    let wider = sign(Alg::ES256, "ec-1", &other.signing, &wider);
    let (genuine_message, genuine_signature) = genuine.rsplit_once('.').expect("jwt");
    let (wider_message, _) = wider.rsplit_once('.').expect("jwt");
    assert_ne!(genuine_message, wider_message);
    let spliced = format!("{wider_message}.{genuine_signature}");
    assert_eq!(
        verify(&issuers, &spliced).map(|v| v.subject),
        does_not_verify
    );

    // A truncated signature, and an empty one.
    let signature = B64.decode(genuine_signature).expect("base64");
    let cut = format!("{genuine_message}.{}", B64.encode(&signature[..60]));
    assert_eq!(verify(&issuers, &cut).map(|v| v.subject), does_not_verify);
    let empty = format!("{genuine_message}.");
    assert_eq!(verify(&issuers, &empty).map(|v| v.subject), does_not_verify);
}

#[test]
fn algorithms_other_than_rs256_and_es256_are_refused_by_name() {
    let issuers = issuers(vec![rsa_jwk("rsa-1", rsa_key())]);
    let hs = sign(
        Alg::HS256,
        "rsa-1",
        &EncodingKey::from_secret(b"secret"),
        &claims(),
    );
    assert_eq!(
        verify(&issuers, &hs).map(|v| v.subject),
        Err("JWT algorithm HS256 is not accepted: only RS256 and ES256".to_string())
    );
    let ps = sign(Alg::PS256, "rsa-1", &rsa_key().signing, &claims());
    assert_eq!(
        verify(&issuers, &ps).map(|v| v.subject),
        Err("JWT algorithm PS256 is not accepted: only RS256 and ES256".to_string())
    );
    // `none` is not taken for a JWT at all.
    let header = B64.encode(json!({ "alg": "none", "kid": "rsa-1" }).to_string());
    let none = format!("{header}.{}.", B64.encode(claims().to_string()));
    let err = verify(&issuers, &none)
        .map(|v| v.subject)
        .expect_err("alg none");
    assert!(err.starts_with("the bearer token is neither"), "{err}");
    // An ES256 header on the RSA key's id.
    let ec = ec_key("x");
    let es = sign(Alg::ES256, "rsa-1", &ec.signing, &claims());
    assert_eq!(
        verify(&issuers, &es).map(|v| v.subject),
        Err("the JWT's algorithm does not match its key".to_string())
    );
}

#[test]
fn a_key_whose_alg_is_not_its_kind_is_ignored() {
    let ec = ec_key("ec-1");
    let mut jwk = ec.jwk.clone();
    jwk["alg"] = json!("RS256");
    let doc = json!({ "keys": [jwk, rsa_jwk("rsa-1", rsa_key())] }).to_string();
    let jwks = Jwks::parse(&doc).expect("the RSA key is usable");
    let kids: Vec<&str> = jwks.keys.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kids, ["rsa-1"]);
    // A P-384 key is not a P-256 one.
    let p384 =
        json!({ "keys": [{ "kty": "EC", "kid": "p", "crv": "P-384", "x": "AA", "y": "AA" }] });
    assert!(Jwks::parse(&p384.to_string()).is_err());
}
