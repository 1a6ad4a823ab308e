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
//! jwks_file = "/var/run/jwks.json"  # or jwks_url = "https://…" (+ optional jwks_ca_file)
//! subjects = { "system:serviceaccount:analytics:collector" = ["reader"] }
//! ```
//!
//! Unknown keys are refused. Errors name the file, the entry and the key, never a value: a
//! mistaken paste of a raw key into `sha256` must not reach a log.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::jwks_url::{self, RemoteJwks};
use super::jwt::{Issuer, IssuerKeys, Jwks, MAX_JWKS_FILE_BYTES};
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
    /// The identity a call with this key gets, built once when the file is read: a call then
    /// only hashes and compares (the label and role set are not rebuilt per call).
    pub identity: Arc<super::VerifiedIdentity>,
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
    jwks_ca_file: Option<PathBuf>,
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
            let identity = Arc::new(super::VerifiedIdentity {
                label: format!("key:{}", k.name),
                roles: grant.roles.clone(),
                limits: grant.limits,
            });
            out.api_keys.push(ApiKeyEntry {
                name: k.name,
                digest,
                expires,
                grant,
                identity,
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

    /// The paths of the files this configuration read besides itself (JWKS files and
    /// `jwks_ca_file`s), watched for changes.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for issuer in &self.issuers {
            match &issuer.keys {
                IssuerKeys::File { path, .. } => files.push(path.clone()),
                IssuerKeys::Url(_) => {}
            }
            files.extend(issuer.jwks_ca_file.iter().cloned());
        }
        files
    }

    /// The issuers' fetched JWKS (`jwks_url`).
    pub fn remote_jwks(&self) -> Vec<Arc<RemoteJwks>> {
        self.issuers
            .iter()
            .filter_map(|i| match &i.keys {
                IssuerKeys::Url(remote) => Some(Arc::clone(remote)),
                IssuerKeys::File { .. } => None,
            })
            .collect()
    }

    /// Keeps the keys `previous` already fetched for the `jwks_url`s this file names too, so
    /// that a reload does not drop them until the next fetch.
    pub fn keep_fetched_keys(&mut self, previous: &Callers) {
        let old = previous.remote_jwks();
        let mut slots: Vec<&mut Arc<RemoteJwks>> = self
            .issuers
            .iter_mut()
            .filter_map(|i| match &mut i.keys {
                IssuerKeys::Url(remote) => Some(remote),
                IssuerKeys::File { .. } => None,
            })
            .collect();
        jwks_url::adopt(&old, &mut slots);
    }
}

fn issuer(path: &Path, at: &str, f: FileIssuer) -> Result<Issuer, CallersError> {
    if f.issuer.trim().is_empty() || f.audience.trim().is_empty() {
        return Err(fail(
            path,
            format!("{at}: `issuer` and `audience` are required"),
        ));
    }
    // Relative paths are relative to the callers file, not to the working directory.
    let anchored = |p: PathBuf| match path.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    };
    let jwks_ca_file = f.jwks_ca_file.map(anchored);
    let keys = match (f.jwks_file, f.jwks_url) {
        (Some(file), None) => {
            if jwks_ca_file.is_some() {
                return Err(fail(
                    path,
                    format!("{at}: `jwks_ca_file` goes with `jwks_url`, not `jwks_file`"),
                ));
            }
            let file = anchored(file);
            let jwks =
                Jwks::load(&file).map_err(|message| fail(path, format!("{at}: {message}")))?;
            IssuerKeys::File {
                path: file,
                jwks: Arc::new(jwks),
            }
        }
        (None, Some(url)) => {
            let ca_pem = match &jwks_ca_file {
                Some(ca) => Some(
                    crate::config::file::read_capped(ca, MAX_JWKS_FILE_BYTES)
                        .map_err(|message| fail(path, format!("{at}: `jwks_ca_file`: {message}")))?
                        .into_bytes(),
                ),
                None => None,
            };
            let remote = RemoteJwks::new(&url, ca_pem)
                .map_err(|message| fail(path, format!("{at}: {message}")))?;
            IssuerKeys::Url(Arc::new(remote))
        }
        _ => {
            return Err(fail(
                path,
                format!("{at}: give exactly one of `jwks_file` or `jwks_url`"),
            ));
        }
    };
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
        keys,
        jwks_ca_file,
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
    fn jwks_url_needs_https_and_excludes_jwks_file() {
        let issuer = |keys: &str| {
            format!(
                "[[issuer]]\nissuer = \"https://k\"\naudience = \"a\"\n{keys}\nsubjects = {{ s = [\"reader\"] }}\n"
            )
        };
        let c = parse(&issuer("jwks_url = \"https://k/jwks\"")).expect("https URL");
        assert_eq!(c.remote_jwks().len(), 1);
        assert!(c.watched_files().is_empty(), "nothing to watch on disk");
        let err = parse(&issuer("jwks_url = \"http://k.example/jwks\"")).expect_err("http");
        assert!(err.message.contains("https"), "{err}");
        let err = parse(&issuer(
            "jwks_url = \"https://k/jwks\"\njwks_file = \"j.json\"",
        ))
        .expect_err("both");
        assert!(err.message.contains("exactly one"), "{err}");
        let err = parse(&issuer(
            "jwks_url = \"https://k/jwks\"\njwks_ca_file = \"/nonexistent/ca.pem\"",
        ))
        .expect_err("missing CA file");
        assert!(err.message.contains("jwks_ca_file"), "{err}");
    }
}
