//! The identity of a client certificate (mTLS).
//!
//! The TLS layer has already verified the chain against the client CA bundle; this module only
//! names the leaf certificate's owner. Its candidate names are its URI SANs (e.g. a SPIFFE id);
//! if it has none, its DNS SANs; if it has neither, its subject's common name. The identity is
//! the first candidate that is listed as an `[[certificate]] identity`, written `cert:<name>`.

use x509_cert::Certificate;
use x509_cert::der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Decode as _, Tag, Tagged as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// `id-ce-subjectAltName`.
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// `id-at-commonName`.
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// The leaf certificate's candidate names, in the order they are matched (see the module docs).
pub fn candidate_names(leaf_der: &[u8]) -> Result<Vec<String>, String> {
    let cert = Certificate::from_der(leaf_der)
        .map_err(|_| "the client certificate could not be parsed".to_string())?;
    let tbs = &cert.tbs_certificate;
    let (mut uris, mut dns) = (Vec::new(), Vec::new());
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id != SUBJECT_ALT_NAME {
            continue;
        }
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes()).map_err(|_| {
            "the client certificate's subjectAltName could not be parsed".to_string()
        })?;
        for name in san.0 {
            match name {
                GeneralName::UniformResourceIdentifier(u) => uris.push(u.to_string()),
                GeneralName::DnsName(d) => dns.push(d.to_string()),
                _ => {}
            }
        }
    }
    if !uris.is_empty() {
        return Ok(uris);
    }
    if !dns.is_empty() {
        return Ok(dns);
    }
    let mut cns = Vec::new();
    for rdn in tbs.subject.0.iter() {
        for atv in rdn.0.iter().filter(|a| a.oid == COMMON_NAME) {
            let value = &atv.value;
            let text = match value.tag() {
                Tag::Utf8String => value
                    .decode_as::<Utf8StringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string()),
                Tag::PrintableString => value
                    .decode_as::<PrintableStringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string()),
                Tag::Ia5String => value
                    .decode_as::<Ia5StringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string()),
                _ => None,
            };
            cns.extend(text);
        }
    }
    Ok(cns)
}

/// The configured identity of a verified chain (leaf first): the first candidate name for
/// which `known` is true. `None` without a chain or without a known name.
pub fn identity_of_chain<C: AsRef<[u8]>>(
    chain: &[C],
    known: impl Fn(&str) -> bool,
) -> Result<Option<String>, String> {
    let Some(leaf) = chain.first() else {
        return Ok(None);
    };
    Ok(candidate_names(leaf.as_ref())?
        .into_iter()
        .find(|name| known(name)))
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    use super::*;

    fn cert(sans: Vec<SanType>, cn: Option<&str>) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        let mut dn = DistinguishedName::new();
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        params.distinguished_name = dn;
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn uri_sans_win_over_dns_sans_and_the_common_name() {
        let der = cert(
            vec![
                SanType::DnsName("collector.analytics.svc".try_into().expect("dns")),
                SanType::URI(
                    "spiffe://prod/ns/analytics/sa/collector"
                        .try_into()
                        .expect("uri"),
                ),
            ],
            Some("collector"),
        );
        assert_eq!(
            candidate_names(&der).expect("parses"),
            ["spiffe://prod/ns/analytics/sa/collector"]
        );
        let all = |_: &str| true;
        assert_eq!(
            identity_of_chain(std::slice::from_ref(&der), all)
                .expect("ok")
                .as_deref(),
            Some("spiffe://prod/ns/analytics/sa/collector")
        );
        // A listed CN does not stand in for the URI SAN the certificate has.
        assert_eq!(
            identity_of_chain(&[der], |n| n == "collector").expect("ok"),
            None
        );
    }

    #[test]
    fn dns_sans_then_the_common_name() {
        let der = cert(
            vec![
                SanType::DnsName("a.example".try_into().expect("dns")),
                SanType::DnsName("b.example".try_into().expect("dns")),
            ],
            Some("ignored"),
        );
        assert_eq!(
            identity_of_chain(&[der], |n| n == "b.example")
                .expect("ok")
                .as_deref(),
            Some("b.example")
        );
        let der = cert(vec![], Some("legacy-client"));
        assert_eq!(candidate_names(&der).expect("parses"), ["legacy-client"]);
    }

    #[test]
    fn no_chain_or_garbage_is_no_identity() {
        let empty: [Vec<u8>; 0] = [];
        assert_eq!(identity_of_chain(&empty, |_| true).expect("ok"), None);
        assert!(identity_of_chain(&[b"not a certificate".to_vec()], |_| true).is_err());
    }
}
