//! Who asked for an action, and the stamp that carries it into Defender.
//!
//! Defender records only the application as an action's requestor, so the comment sent to it is
//! stamped with the caller's identity, the `request_id` and a per-request nonce:
//!
//! `<comment> [defender-bridge caller=<principal> peer=<addr> request_id=<id> ref=<nonce>]`
//!
//! The stamp is what the service later looks for: the nonce finds the action after an ambiguous
//! failure, and the `request_id` finds it after a restart (or from another replica). It is
//! always appended last, and only the last stamp in a comment is read, so a caller cannot forge
//! another caller's stamp by writing one into their own comment.
//!
//! With a callers file the identity is the verified one (`key:NAME`, `cert:IDENTITY`,
//! `jwt:SUB`, see `crate::auth`), and an `x-caller-id` is only noted as `on_behalf_of=<id>`
//! (the caller's own claim about whom it acts for). Without one (loopback only) the identity is
//! the peer address plus the optional, *unverified* `x-caller-id`, stamped `unverified:<id>`.

use std::net::SocketAddr;

use tonic::metadata::MetadataMap;

use crate::error::ServiceError;

/// The gRPC metadata key a caller may use to name itself (unverified).
pub const CALLER_ID_METADATA: &str = "x-caller-id";

/// Longest accepted `x-caller-id`.
pub const MAX_CALLER_ID_LEN: usize = 128;

const STAMP_OPEN: &str = " [defender-bridge ";

/// Who the caller is, as far as the service knows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// Nothing but the peer address is known.
    Anonymous,
    /// The caller named itself with `x-caller-id`; nothing verifies it.
    Declared(String),
    /// A verified identity from the callers file.
    Verified {
        /// `key:NAME`, `cert:IDENTITY` or `jwt:SUB`.
        identity: String,
        /// The caller's `x-caller-id`, if it sent one: whom it says it acts for (unverified).
        on_behalf_of: Option<String>,
    },
}

/// The caller of one RPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The identity.
    pub principal: Principal,
    /// The TCP peer, when known.
    pub peer: Option<SocketAddr>,
}

impl Caller {
    /// The caller of a request: peer address plus an optional `x-caller-id` (1 to 128
    /// characters of letters, digits and `._@:/+-`; anything else is INVALID_FIELD).
    pub fn from_metadata(
        metadata: &MetadataMap,
        peer: Option<SocketAddr>,
    ) -> Result<Self, ServiceError> {
        Self::from_parts(metadata, peer, None)
    }

    /// The caller of a request whose identity the auth layer verified (`verified`), or as
    /// [`Caller::from_metadata`] without one.
    pub fn from_parts(
        metadata: &MetadataMap,
        peer: Option<SocketAddr>,
        verified: Option<&crate::auth::VerifiedIdentity>,
    ) -> Result<Self, ServiceError> {
        let declared = Self::declared(metadata)?;
        let principal = match verified {
            Some(v) => Principal::Verified {
                identity: v.label.clone(),
                on_behalf_of: declared,
            },
            None => declared.map_or(Principal::Anonymous, Principal::Declared),
        };
        Ok(Self { principal, peer })
    }

    /// The caller of `request` (its verified identity, when the auth layer put one there).
    pub fn of_request<T>(request: &tonic::Request<T>) -> Result<Self, ServiceError> {
        Self::from_parts(
            request.metadata(),
            request.remote_addr(),
            request
                .extensions()
                .get::<std::sync::Arc<crate::auth::VerifiedIdentity>>()
                .map(|identity| &**identity),
        )
    }

    /// The checked `x-caller-id`, if any.
    fn declared(metadata: &MetadataMap) -> Result<Option<String>, ServiceError> {
        Ok(match metadata.get(CALLER_ID_METADATA) {
            None => None,
            Some(value) => {
                let id = value.to_str().ok().map(str::trim).unwrap_or_default();
                let ok = !id.is_empty()
                    && id.len() <= MAX_CALLER_ID_LEN
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._@:/+-".contains(&b));
                if !ok {
                    return Err(ServiceError::invalid(
                        CALLER_ID_METADATA,
                        "metadata must be 1 to 128 characters of letters, digits and ._@:/+-",
                    ));
                }
                Some(id.to_string())
            }
        })
    }

    /// The principal as stamped and audited: `anonymous`, `unverified:<id>`, or the verified
    /// identity (with anything outside letters, digits and `._@:/+=~-` percent-encoded, so a
    /// certificate CN with spaces or `]` cannot break the stamp).
    pub fn principal_label(&self) -> String {
        match &self.principal {
            Principal::Anonymous => "anonymous".into(),
            Principal::Declared(id) => format!("unverified:{id}"),
            Principal::Verified { identity, .. } => stamp_safe(identity),
        }
    }

    /// Whether the identity was verified by the callers file.
    pub fn is_verified(&self) -> bool {
        matches!(self.principal, Principal::Verified { .. })
    }

    /// The unverified `x-caller-id` of a verified caller: whom it says it acts for.
    pub fn on_behalf_of(&self) -> Option<&str> {
        match &self.principal {
            Principal::Verified { on_behalf_of, .. } => on_behalf_of.as_deref(),
            _ => None,
        }
    }

    /// Whose `request_id`s these are: the verified identity, so that one caller's ids never
    /// collide with another's. `None` without caller authentication: then every caller shares
    /// one scope (nothing tells them apart reliably).
    pub fn request_scope(&self) -> Option<String> {
        self.is_verified().then(|| self.principal_label())
    }

    /// The peer as stamped and audited, `unknown` when not known.
    pub fn peer_label(&self) -> String {
        self.peer
            .map_or_else(|| "unknown".into(), |addr| addr.to_string())
    }
}

/// A fresh nonce for one action request: 16 hexadecimal characters.
pub fn new_nonce() -> String {
    let bytes: [u8; 8] = rand::random();
    hex::encode(bytes)
}

/// The comment sent to Defender: the caller's comment, then the stamp.
pub fn stamp_comment(
    comment: &str,
    caller: &Caller,
    request_id: Option<&str>,
    nonce: &str,
) -> String {
    let mut out = format!(
        "{}{STAMP_OPEN}caller={} peer={}",
        comment.trim_end(),
        caller.principal_label(),
        caller.peer_label()
    );
    if let Some(who) = caller.on_behalf_of() {
        out.push_str(" on_behalf_of=");
        out.push_str(who);
    }
    if let Some(id) = request_id {
        out.push_str(" request_id=");
        out.push_str(id);
    }
    out.push_str(" ref=");
    out.push_str(nonce);
    out.push(']');
    out
}

/// `text` with every byte outside letters, digits and `._@:/+=~-` percent-encoded.
fn stamp_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"._@:/+=~-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A stamp read back from a Defender `requestorComment`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The caller's own comment (before the stamp).
    pub comment: String,
    /// `caller=`.
    pub caller: Option<String>,
    /// `request_id=`.
    pub request_id: Option<String>,
    /// `ref=`.
    pub nonce: Option<String>,
}

impl Stamp {
    /// Reads the last stamp of `text`; `None` when it has none (an action requested elsewhere).
    pub fn parse(text: &str) -> Option<Self> {
        let start = text.rfind(STAMP_OPEN)?;
        let inner = text[start + STAMP_OPEN.len()..].strip_suffix(']')?;
        let mut stamp = Self {
            comment: text[..start].to_string(),
            ..Self::default()
        };
        for pair in inner.split(' ') {
            let (key, value) = pair.split_once('=')?;
            let value = Some(value.to_string());
            match key {
                "caller" => stamp.caller = value,
                "request_id" => stamp.request_id = value,
                "ref" => stamp.nonce = value,
                _ => {}
            }
        }
        Some(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(id: Option<&str>) -> Caller {
        Caller {
            principal: id.map_or(Principal::Anonymous, |i| Principal::Declared(i.into())),
            peer: "127.0.0.1:5555".parse().ok(),
        }
    }

    #[test]
    fn stamp_round_trips_comment_caller_request_id_and_nonce() {
        let text = stamp_comment(
            "contain it",
            &caller(Some("soar@corp")),
            Some("r-1"),
            "abcd",
        );
        assert_eq!(
            text,
            "contain it [defender-bridge caller=unverified:soar@corp peer=127.0.0.1:5555 request_id=r-1 ref=abcd]"
        );
        let stamp = Stamp::parse(&text).expect("stamped");
        assert_eq!(stamp.comment, "contain it");
        assert_eq!(stamp.caller.as_deref(), Some("unverified:soar@corp"));
        assert_eq!(stamp.request_id.as_deref(), Some("r-1"));
        assert_eq!(stamp.nonce.as_deref(), Some("abcd"));
    }

    #[test]
    fn a_forged_stamp_inside_the_comment_is_ignored() {
        let forged = "x [defender-bridge caller=admin peer=1.1.1.1:1 request_id=victim ref=0000]";
        let text = stamp_comment(forged, &caller(None), None, "beef");
        let stamp = Stamp::parse(&text).expect("stamped");
        assert_eq!(stamp.request_id, None);
        assert_eq!(stamp.nonce.as_deref(), Some("beef"));
        assert_eq!(stamp.caller.as_deref(), Some("anonymous"));
        assert_eq!(stamp.comment, forged);
    }

    #[test]
    fn comments_without_a_stamp_have_none() {
        assert_eq!(Stamp::parse("isolated from the portal"), None);
        assert_eq!(Stamp::parse("x [defender-bridge caller=a"), None);
    }

    #[test]
    fn caller_id_metadata_is_checked() {
        let mut md = MetadataMap::new();
        assert_eq!(
            Caller::from_metadata(&md, None).expect("ok").principal,
            Principal::Anonymous
        );
        md.insert(CALLER_ID_METADATA, "svc-a@corp".parse().expect("ascii"));
        assert_eq!(
            Caller::from_metadata(&md, None).expect("ok").principal,
            Principal::Declared("svc-a@corp".into())
        );
        md.insert(CALLER_ID_METADATA, "a b]".parse().expect("ascii"));
        assert!(Caller::from_metadata(&md, None).is_err());
    }

    #[test]
    fn a_verified_identity_is_stamped_and_x_caller_id_is_only_on_behalf_of() {
        let mut md = MetadataMap::new();
        md.insert(CALLER_ID_METADATA, "alice@corp".parse().expect("ascii"));
        let verified = crate::auth::VerifiedIdentity {
            label: "cert:CN with space]".into(),
            roles: Default::default(),
            limits: Default::default(),
        };
        let caller = Caller::from_parts(&md, None, Some(&verified)).expect("ok");
        assert_eq!(caller.principal_label(), "cert:CN%20with%20space%5D");
        assert_eq!(
            caller.request_scope().as_deref(),
            Some("cert:CN%20with%20space%5D")
        );
        let text = stamp_comment("why", &caller, Some("r"), "ab");
        assert_eq!(
            text,
            "why [defender-bridge caller=cert:CN%20with%20space%5D peer=unknown on_behalf_of=alice@corp request_id=r ref=ab]"
        );
        let stamp = Stamp::parse(&text).expect("stamped");
        assert_eq!(stamp.caller.as_deref(), Some("cert:CN%20with%20space%5D"));
        assert_eq!(stamp.request_id.as_deref(), Some("r"));
        // Without authentication there is one shared scope.
        assert_eq!(
            Caller::from_metadata(&md, None)
                .expect("ok")
                .request_scope(),
            None
        );
    }

    #[test]
    fn nonces_are_sixteen_hex_characters_and_differ() {
        let (a, b) = (new_nonce(), new_nonce());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
