//! The callers file: who may call the service, parsed and validated into [`Callers`].
//!
//! ```toml
//! [[api_key]]
//! name = "soar-playbooks"          # identity key:soar-playbooks
//! sha256 = "<hex SHA-256 of the key>"
//! roles = ["reader", "responder"]
//! expires = "2027-06-30T00:00:00Z" # optional
//! rate_per_minute = 600            # optional
//! max_concurrent = 20              # optional
//!
//! [[certificate]]
//! identity = "spiffe://prod/ns/analytics/sa/collector"
//! roles = ["reader"]
//!
//! [[issuer]]
//! issuer = "https://kubernetes.default.svc"
//! audience = "defender-bridge"
//! jwks_file = "/var/run/jwks.json"
//! subjects = { "system:serviceaccount:analytics:collector" = ["reader"] }
//! ```
//!
//! Unknown keys are refused. Errors name the file, the entry and the key, never a value: a
//! mistaken paste of a raw key into `sha256` must not reach a log.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::jwt::{Issuer, Jwks};
use super::roles::Role;

/// Largest callers file read.
pub const MAX_CALLERS_FILE_BYTES: u64 = 1024 * 1024;
/// Longest API key name.
pub const MAX_NAME_LEN: usize = 64;

/// Why a callers file (or a JWKS file it names) could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("callers file {}: {message}", path.display())]
pub struct CallersError {
    /// The callers file.
    pub path: PathBuf,
    /// What is wrong (never a key or hash value).
    pub message: String,
}

/// Per-caller limits given in the file (the configured defaults apply where absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct LimitOverrides {
    /// Calls per minute.
    pub rate_per_minute: Option<u32>,
    /// Calls in flight at once (a stream counts until it ends).
    pub max_concurrent: Option<u32>,
}

/// Roles and limits granted to one identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The roles.
    pub roles: BTreeSet<Role>,
    /// The limits.
    pub limits: LimitOverrides,
}

/// One `[[api_key]]`.
#[derive(Clone, Debug)]
pub struct ApiKeyEntry {
    /// The name (identity `key:NAME`).
    pub name: String,
    /// SHA-256 of the key.
    pub digest: [u8; 32],
    /// When the key stops working.
    pub expires: Option<OffsetDateTime>,
    /// Roles and limits.
    pub grant: Grant,
}

/// A validated callers file.
#[derive(Clone, Debug, Default)]
pub struct Callers {
    /// API keys.
    pub api_keys: Vec<ApiKeyEntry>,
    /// Certificate identities.
    pub certificates: HashMap<String, Grant>,
    /// OIDC issuers.
    pub issuers: Vec<Issuer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCallers {
    #[serde(default)]
    api_key: Vec<FileApiKey>,
    #[serde(default)]
    certificate: Vec<FileCertificate>,
    #[serde(default)]
    issuer: Vec<FileIssuer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApiKey {
    name: String,
    sha256: String,
    roles: Vec<String>,
    expires: Option<toml::Value>,
    rate_per_minute: Option<u32>,
    max_concurrent: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCertificate {
    identity: String,
    roles: Vec<String>,
    rate_per_minute: Option<u32>,
    max_concurrent: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIssuer {
    issuer: String,
    audience: String,
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    subjects: HashMap<String, Vec<String>>,
    rate_per_minute: Option<u32>,
    max_concurrent: Option<u32>,
}

impl Callers {
    /// Reads and validates the file at `path` and the JWKS files it names.
    pub fn load(path: &Path) -> Result<Self, CallersError> {
        let text = crate::config::file::read_capped(path, MAX_CALLERS_FILE_BYTES)
            .map_err(|message| fail(path, message))?;
        Self::parse(&text, path)
    }

    /// Validates `text`; `path` names the file in errors and anchors relative JWKS paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, CallersError> {
        if let Some(message) = crate::config::file::toml_syntax_error(text) {
            return Err(fail(path, message));
        }
        let file: FileCallers = toml::from_str(text).map_err(|e| fail(path, describe(&e, text)))?;
        let mut out = Self::default();
        let mut names = HashSet::new();
        let mut digests = HashSet::new();
        for (i, k) in file.api_key.into_iter().enumerate() {
            let at = format!("[[api_key]] #{} (`{}`)", i + 1, crate::error::echo(&k.name));
            if !valid_name(&k.name) {
                return Err(fail(
                    path,
                    format!(
                        "{at}: `name` must be 1 to {MAX_NAME_LEN} letters, digits, `.`, `_` or `-`"
                    ),
                ));
            }
            if !names.insert(k.name.clone()) {
                return Err(fail(path, format!("{at}: the name is used twice")));
            }
            let digest = parse_digest(&k.sha256).ok_or_else(|| {
                fail(
                    path,
                    format!(
                        "{at}: `sha256` must be the 64 hexadecimal characters of the key's SHA-256 \
                         (not the key itself; `defender-bridge keygen` prints the entry)"
                    ),
                )
            })?;
            if !digests.insert(digest) {
                return Err(fail(path, format!("{at}: the same key is listed twice")));
            }
            let expires = match &k.expires {
                None => None,
                Some(v) => Some(parse_time(v).ok_or_else(|| {
                    fail(
                        path,
                        format!(
                            "{at}: `expires` must be an RFC 3339 time, e.g. 2027-06-30T00:00:00Z"
                        ),
                    )
                })?),
            };
            let grant = grant(path, &at, &k.roles, k.rate_per_minute, k.max_concurrent)?;
            out.api_keys.push(ApiKeyEntry {
                name: k.name,
                digest,
                expires,
                grant,
            });
        }
        for (i, c) in file.certificate.into_iter().enumerate() {
            let at = format!("[[certificate]] #{}", i + 1);
            let identity = c.identity.trim().to_string();
            if identity.is_empty() || identity.len() > 1024 {
                return Err(fail(
                    path,
                    format!("{at}: `identity` must be 1 to 1024 characters"),
                ));
            }
            let g = grant(path, &at, &c.roles, c.rate_per_minute, c.max_concurrent)?;
            if out.certificates.insert(identity, g).is_some() {
                return Err(fail(path, format!("{at}: the identity is listed twice")));
            }
        }
        for (i, f) in file.issuer.into_iter().enumerate() {
            let at = format!(
                "[[issuer]] #{} (`{}`)",
                i + 1,
                crate::error::echo(&f.issuer)
            );
            out.issuers.push(issuer(path, &at, f)?);
        }
        Ok(out)
    }

    /// The paths of the JWKS files this configuration reads (watched for changes).
    pub fn jwks_files(&self) -> Vec<PathBuf> {
        self.issuers.iter().map(|i| i.jwks_file.clone()).collect()
    }
}

fn issuer(path: &Path, at: &str, f: FileIssuer) -> Result<Issuer, CallersError> {
    if f.issuer.trim().is_empty() || f.audience.trim().is_empty() {
        return Err(fail(
            path,
            format!("{at}: `issuer` and `audience` are required"),
        ));
    }
    let jwks_file = match (f.jwks_file, f.jwks_url) {
        (Some(file), None) => file,
        (None, Some(_)) => {
            return Err(fail(
                path,
                format!(
                    "{at}: `jwks_url` is not supported by this version; save the issuer's JWKS to a \
                     file (e.g. kubectl get --raw /openid/v1/jwks) and name it with `jwks_file`: \
                     the file is re-read when it changes"
                ),
            ));
        }
        _ => {
            return Err(fail(
                path,
                format!("{at}: give exactly one of `jwks_file` or `jwks_url`"),
            ));
        }
    };
    // A relative JWKS path is relative to the callers file, not to the working directory.
    let jwks_file = match path.parent() {
        Some(dir) if jwks_file.is_relative() => dir.join(jwks_file),
        _ => jwks_file,
    };
    let jwks = Jwks::load(&jwks_file).map_err(|message| fail(path, format!("{at}: {message}")))?;
    if f.subjects.is_empty() {
        return Err(fail(path, format!("{at}: `subjects` lists no subject")));
    }
    let mut subjects = HashMap::new();
    for (sub, roles) in f.subjects {
        let at = format!("{at} subject `{}`", crate::error::echo(&sub));
        subjects.insert(
            sub,
            grant(path, &at, &roles, f.rate_per_minute, f.max_concurrent)?,
        );
    }
    Ok(Issuer {
        issuer: f.issuer,
        audience: f.audience,
        jwks_file,
        jwks,
        subjects,
    })
}

fn grant(
    path: &Path,
    at: &str,
    roles: &[String],
    rate_per_minute: Option<u32>,
    max_concurrent: Option<u32>,
) -> Result<Grant, CallersError> {
    let roles = parse_roles(roles).map_err(|m| fail(path, format!("{at}: {m}")))?;
    if rate_per_minute == Some(0) || max_concurrent == Some(0) {
        return Err(fail(
            path,
            format!(
                "{at}: `rate_per_minute` and `max_concurrent` must be at least 1 (remove the entry to revoke it)"
            ),
        ));
    }
    Ok(Grant {
        roles,
        limits: LimitOverrides {
            rate_per_minute,
            max_concurrent,
        },
    })
}

/// Parses role names (at least one; each one of the four roles).
pub fn parse_roles(names: &[String]) -> Result<BTreeSet<Role>, String> {
    if names.is_empty() {
        return Err(
            "`roles` lists no role: give at least one of reader, hunter, responder, admin".into(),
        );
    }
    names.iter().map(|n| n.parse::<Role>()).collect()
}

/// Whether `name` is a valid API key name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn parse_digest(hex_text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text.trim(), &mut out).ok()?;
    Some(out)
}

fn parse_time(value: &toml::Value) -> Option<OffsetDateTime> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => return None,
    };
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

fn fail(path: &Path, message: impl Into<String>) -> CallersError {
    CallersError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// A deserialization error as "line L: what", without the offending text: unknown and missing
/// keys are named, a wrong value is not repeated.
fn describe(err: &toml::de::Error, text: &str) -> String {
    let line = err
        .span()
        .map(|s| text.get(..s.start).unwrap_or("").matches('\n').count() + 1);
    let message = err.message();
    let safe = ["unknown field", "missing field", "duplicate"]
        .iter()
        .any(|p| message.starts_with(p));
    let what = if safe {
        message.chars().take(300).collect::<String>()
    } else {
        "a value has the wrong type or form (the value is not shown)".to_string()
    };
    match line {
        Some(l) => format!("line {l}: {what}"),
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> Result<Callers, CallersError> {
        Callers::parse(text, Path::new("/etc/callers.toml"))
    }

    #[test]
    fn a_full_api_key_entry_parses() {
        let c = parse(&format!(
            "[[api_key]]\nname = \"soar\"\nsha256 = \"{HASH}\"\nroles = [\"reader\", \"responder\"]\n\
             expires = \"2027-06-30T00:00:00Z\"\nrate_per_minute = 600\nmax_concurrent = 20\n\
             [[certificate]]\nidentity = \"spiffe://prod/x\"\nroles = [\"reader\"]\n"
        ))
        .expect("valid");
        let k = &c.api_keys[0];
        assert_eq!(k.name, "soar");
        assert_eq!(k.grant.roles.len(), 2);
        assert_eq!(k.grant.limits.rate_per_minute, Some(600));
        assert_eq!(k.expires.map(|t| t.year()), Some(2027));
        assert!(c.certificates.contains_key("spiffe://prod/x"));
    }

    #[test]
    fn unknown_keys_bad_roles_and_bad_hashes_are_refused_without_echoing_values() {
        let err =
            parse("[[api_key]]\nname = \"a\"\nsha256 = \"x\"\nroles = [\"reader\"]\ncolour = 1\n")
                .expect_err("unknown key");
        assert!(err.message.contains("colour"), "{err}");
        let err = parse(&format!(
            "[[api_key]]\nname = \"a\"\nsha256 = \"{HASH}\"\nroles = [\"root\"]\n"
        ))
        .expect_err("bad role");
        assert!(err.message.contains("root"), "{err}");
        let raw_key = "dbk_THIS_IS_A_RAW_KEY_PASTED_BY_MISTAKE";
        let err = parse(&format!(
            "[[api_key]]\nname = \"a\"\nsha256 = \"{raw_key}\"\nroles = [\"reader\"]\n"
        ))
        .expect_err("not a hash");
        assert!(!err.to_string().contains(raw_key), "{err}");
        let err = parse(&format!(
            "[[api_key]]\nname = \"a\"\nsha256 = [\"{raw_key}\"]\nroles = [\"reader\"]\n"
        ))
        .expect_err("wrong type");
        assert!(!err.to_string().contains(raw_key), "{err}");
        let err = parse(&format!(
            "[[api_key]]\nname = \"a\nsha256 = \"{raw_key}\"\n"
        ))
        .expect_err("syntax");
        assert!(!err.to_string().contains(raw_key), "{err}");
    }

    #[test]
    fn duplicates_and_empty_roles_are_refused() {
        let entry =
            format!("[[api_key]]\nname = \"a\"\nsha256 = \"{HASH}\"\nroles = [\"reader\"]\n");
        assert!(parse(&format!("{entry}{entry}")).is_err());
        assert!(
            parse(&format!(
                "[[api_key]]\nname = \"a\"\nsha256 = \"{HASH}\"\nroles = []\n"
            ))
            .is_err()
        );
        assert!(
            parse(&format!(
                "[[api_key]]\nname = \"a b\"\nsha256 = \"{HASH}\"\nroles = [\"reader\"]\n"
            ))
            .is_err()
        );
    }

    #[test]
    fn jwks_url_is_refused_with_a_way_out() {
        let err = parse(
            "[[issuer]]\nissuer = \"https://k\"\naudience = \"a\"\njwks_url = \"https://k/jwks\"\nsubjects = { s = [\"reader\"] }\n",
        )
        .expect_err("jwks_url");
        assert!(err.message.contains("jwks_file"), "{err}");
    }
}
