//! OIDC bearer tokens (JWTs) over real gRPC: valid RS256 and ES256 tokens from keys generated
//! here and published in a JWKS file are accepted; a wrong audience, an expired token,
//! `alg: none`, HS256 (with an HMAC key in the JWKS, and with the RSA key's bytes as the
//! secret), an unknown `kid` and an unknown subject are refused before reaching Defender.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::callers::{bearer, reason, start};
use common::risk::by_id;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::json;
use tonic::Code;

const ISSUER: &str = "https://kubernetes.default.svc";
const AUDIENCE: &str = "defender-bridge";
const SUBJECT: &str = "system:serviceaccount:analytics:collector";
const HMAC_SECRET: &[u8] = b"a-shared-secret-anyone-with-the-jwks-knows";

struct Keys {
    rsa: EncodingKey,
    rsa_public_der: Vec<u8>,
    ec: EncodingKey,
    jwks: serde_json::Value,
}

fn keys() -> Keys {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key");
    let public = private.to_public_key();
    let rsa_der = private.to_pkcs1_der().expect("der");
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ec key");
    let point = ec.public_key_raw();
    assert_eq!(point.len(), 65, "uncompressed P-256 point");
    let jwks = json!({ "keys": [
        { "kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
          "n": B64.encode(public.n().to_bytes_be()), "e": B64.encode(public.e().to_bytes_be()) },
        { "kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256",
          "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) },
        { "kty": "oct", "kid": "hmac-1", "k": B64.encode(HMAC_SECRET) },
    ]});
    Keys {
        rsa: EncodingKey::from_rsa_der(rsa_der.as_bytes()),
        rsa_public_der: rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&public)
            .expect("der")
            .as_bytes()
            .to_vec(),
        ec: EncodingKey::from_ec_der(&ec.serialize_der()),
        jwks,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(aud: &str, exp_in: i64, sub: &str) -> serde_json::Value {
    json!({ "iss": ISSUER, "aud": aud, "sub": sub, "iat": now(), "nbf": now() - 10, "exp": now() + exp_in })
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &serde_json::Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// An unsigned token with header `{"alg":"none"}`.
fn unsigned(kid: &str, claims: &serde_json::Value) -> String {
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

#[tokio::test]
async fn rs256_and_es256_tokens_are_accepted_and_every_forgery_is_refused() {
    let keys = keys();
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, keys.jwks.to_string()).expect("write jwks");
    let file = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"{}\"\n\
         subjects = {{ \"{SUBJECT}\" = [\"reader\"] }}\n",
        jwks_path.display()
    );
    let auth = start(&file, |_| {}).await;
    let env = &auth.env;
    let m = common::callers::machine(env);

    let good = claims(AUDIENCE, 600, SUBJECT);
    for (what, token) in [
        ("RS256", sign(Algorithm::RS256, "rsa-1", &keys.rsa, &good)),
        ("ES256", sign(Algorithm::ES256, "ec-1", &keys.ec, &good)),
    ] {
        env.risk()
            .get_endpoint_risk(bearer(by_id(&m), &token))
            .await
            .unwrap_or_else(|e| panic!("{what} token refused: {e:?}"));
    }

    let before = env.sim.requests().len();
    let refused = [
        (
            "wrong audience",
            sign(
                Algorithm::RS256,
                "rsa-1",
                &keys.rsa,
                &claims("someone-else", 600, SUBJECT),
            ),
        ),
        (
            "expired",
            sign(
                Algorithm::RS256,
                "rsa-1",
                &keys.rsa,
                &claims(AUDIENCE, -3600, SUBJECT),
            ),
        ),
        ("alg none", unsigned("rsa-1", &good)),
        (
            "HS256 with the JWKS's HMAC key",
            sign(
                Algorithm::HS256,
                "hmac-1",
                &EncodingKey::from_secret(HMAC_SECRET),
                &good,
            ),
        ),
        (
            "HS256 with the RSA public key as the secret",
            sign(
                Algorithm::HS256,
                "rsa-1",
                &EncodingKey::from_secret(&keys.rsa_public_der),
                &good,
            ),
        ),
        (
            "unknown kid",
            sign(Algorithm::RS256, "rsa-2", &keys.rsa, &good),
        ),
        (
            "ES256 header on the RSA key",
            sign(Algorithm::ES256, "rsa-1", &keys.ec, &good),
        ),
        (
            "unknown subject",
            sign(
                Algorithm::RS256,
                "rsa-1",
                &keys.rsa,
                &claims(AUDIENCE, 600, "system:serviceaccount:other:intruder"),
            ),
        ),
    ];
    for (what, token) in refused {
        let err = env
            .risk()
            .get_endpoint_risk(bearer(by_id(&m), &token))
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::Unauthenticated, "{what}: {err:?}");
        assert_eq!(reason(&err), "CALLER_NOT_AUTHENTICATED", "{what}");
        assert!(!err.message().contains(&token), "{what}: token echoed");
    }
    assert_eq!(
        env.sim.requests().len(),
        before,
        "a refused token reached Defender"
    );
    auth.env.stop().await;
}

#[tokio::test]
async fn a_token_grants_only_its_subjects_roles() {
    let keys = keys();
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, keys.jwks.to_string()).expect("write jwks");
    let file = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"{}\"\n\
         subjects = {{ \"{SUBJECT}\" = [\"reader\"] }}\n",
        jwks_path.display()
    );
    let auth = start(&file, |_| {}).await;
    let env = &auth.env;
    let token = sign(
        Algorithm::ES256,
        "ec-1",
        &keys.ec,
        &claims(AUDIENCE, 600, SUBJECT),
    );
    let err = env
        .actions()
        .isolate_machine(bearer(
            common::actions::isolate(&common::callers::machine(env), "x", "r"),
            &token,
        ))
        .await
        .expect_err("a reader may not isolate");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "CALLER_NOT_AUTHORIZED");
    assert_eq!(
        common::risk::metadata(&err, "caller").as_deref(),
        Some(format!("jwt:{SUBJECT}").as_str())
    );
    auth.env.stop().await;
}
