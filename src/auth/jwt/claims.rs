//! The claims checks of a JWT whose signature has verified: `exp`, `iss`, `aud` and `sub` are
//! required, `exp` and `nbf` are checked with [`LEEWAY_SECS`] of clock skew, `iss` must be the
//! issuer and `aud` (a string or an array of strings) must contain the audience.
//!
//! The rules and their order are those of the `jsonwebtoken` crate's `Validation` this replaced
//! (same refusals for the same tokens): a missing or ill-typed required claim first, then the
//! times, then the issuer, then the audience.

use serde::Deserialize;
use serde_json::Value;

use super::LEEWAY_SECS;

/// The claims read. Every named field may appear once (a repeated one makes the token
/// malformed); other claims are ignored. `null` counts as absent.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    nbf: Option<Value>,
    #[serde(default)]
    iss: Option<Value>,
    #[serde(default)]
    aud: Option<Value>,
}

const MALFORMED: &str = "the JWT is malformed";

/// Checks the decoded payload (JSON) of a token at `now` (seconds since the Unix epoch) and
/// returns its `sub`. The error is a refusal safe to return to the caller (no claim value).
pub(super) fn check(
    payload: &[u8],
    issuer: &str,
    audience: &str,
    now: u64,
) -> Result<String, String> {
    let claims: Claims = serde_json::from_slice(payload).map_err(|_| MALFORMED.to_string())?;
    let missing = |name: &str| format!("the JWT has no `{name}` claim");
    let exp = claims
        .exp
        .as_ref()
        .and_then(numeric)
        .ok_or_else(|| missing("exp"))?;
    let iss = claims
        .iss
        .as_ref()
        .and_then(strings)
        .ok_or_else(|| missing("iss"))?;
    let aud = claims
        .aud
        .as_ref()
        .and_then(strings)
        .ok_or_else(|| missing("aud"))?;
    let nbf = match &claims.nbf {
        None => None,
        Some(value) => Some(numeric(value).ok_or_else(|| MALFORMED.to_string())?),
    };
    if exp < now.saturating_sub(LEEWAY_SECS) {
        return Err("the JWT has expired".into());
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return Err("the JWT is not valid yet (nbf)".into());
    }
    if !iss.contains(&issuer) {
        return Err("the JWT's issuer does not match its key's issuer".into());
    }
    if !aud.contains(&audience) {
        return Err("the JWT's audience is not this service".into());
    }
    Ok(claims.sub)
}

/// A NumericDate: a non-negative integer, or a finite non-negative number rounded to one.
fn numeric(value: &Value) -> Option<u64> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(secs) = n.as_u64() {
        return Some(secs);
    }
    if n.is_f64() {
        let secs = n.as_f64()?;
        // `as` saturates; the range check keeps the rounding exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return (secs.is_finite() && secs >= 0.0 && secs < u64::MAX as f64)
            .then(|| secs.round() as u64);
    }
    None
}

/// A string, or an array of strings.
fn strings(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://issuer.test";
    const AUD: &str = "defender-bridge";

    fn good() -> Value {
        json!({ "iss": ISS, "aud": AUD, "sub": "s", "exp": NOW + 600, "nbf": NOW - 10 })
    }

    fn with(changes: Value) -> Value {
        let mut claims = good();
        for (k, v) in changes.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn run(claims: &Value) -> Result<String, String> {
        check(claims.to_string().as_bytes(), ISS, AUD, NOW)
    }

    #[test]
    fn good_claims_give_the_subject() {
        assert_eq!(run(&good()).as_deref(), Ok("s"));
        // `aud` as an array that contains the audience, `iss` as an array, float times.
        let forms =
            with(json!({ "aud": ["other", AUD], "iss": [ISS], "exp": (NOW + 5) as f64 + 0.4 }));
        assert_eq!(run(&forms).as_deref(), Ok("s"));
        // Within the leeway on both sides.
        let skewed = with(json!({ "exp": NOW - LEEWAY_SECS, "nbf": NOW + LEEWAY_SECS }));
        assert_eq!(run(&skewed).as_deref(), Ok("s"));
    }

    #[test]
    fn times_outside_the_leeway_are_refused() {
        assert_eq!(
            run(&with(json!({ "exp": NOW - LEEWAY_SECS - 1 }))),
            Err("the JWT has expired".into())
        );
        assert_eq!(
            run(&with(json!({ "nbf": NOW + LEEWAY_SECS + 1 }))),
            Err("the JWT is not valid yet (nbf)".into())
        );
        assert_eq!(run(&with(json!({ "nbf": -1 }))), Err(MALFORMED.into()));
        assert_eq!(run(&with(json!({ "nbf": "soon" }))), Err(MALFORMED.into()));
    }

    #[test]
    fn required_claims_must_be_present_and_well_typed() {
        for (claim, bad) in [
            ("exp", json!(null)),
            ("exp", json!("tomorrow")),
            ("exp", json!(-5)),
            ("iss", json!(null)),
            ("iss", json!(7)),
            ("aud", json!(null)),
            ("aud", json!([AUD, 7])),
        ] {
            let claims = with(json!({ claim: bad }));
            assert_eq!(
                run(&claims),
                Err(format!("the JWT has no `{claim}` claim")),
                "{claims}"
            );
        }
        // `sub` missing or not a string, a payload that is not a JSON object, a repeated claim.
        assert_eq!(run(&with(json!({ "sub": null }))), Err(MALFORMED.into()));
        assert_eq!(run(&with(json!({ "sub": 1 }))), Err(MALFORMED.into()));
        assert_eq!(check(b"[1]", ISS, AUD, NOW), Err(MALFORMED.into()));
        let repeated = format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"s","exp":{},"aud":"x"}}"#,
            NOW + 9
        );
        assert_eq!(
            check(repeated.as_bytes(), ISS, AUD, NOW),
            Err(MALFORMED.into())
        );
    }

    #[test]
    fn issuer_and_audience_must_match() {
        assert_eq!(
            run(&with(json!({ "iss": "https://other.test" }))),
            Err("the JWT's issuer does not match its key's issuer".into())
        );
        assert_eq!(
            run(&with(json!({ "iss": ["https://other.test"] }))),
            Err("the JWT's issuer does not match its key's issuer".into())
        );
        for aud in [json!("someone-else"), json!(["a", "b"]), json!([])] {
            assert_eq!(
                run(&with(json!({ "aud": aud }))),
                Err("the JWT's audience is not this service".into())
            );
        }
    }
}
