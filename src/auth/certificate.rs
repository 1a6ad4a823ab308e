//! The identity of a client certificate (mTLS).
//!
//! The TLS layer has already verified the chain against the client CA bundle; this module only
//! names the leaf certificate's owner. Its candidate names are its URI SANs (e.g. a SPIFFE id);
//! if it has none, its DNS SANs; if it has neither, its subject's common name. The identity is
//! the first candidate that is listed as an `[[certificate]] identity`, written `cert:<name>`.

use std::str;

/// The DER contents of the `id-ce-subjectAltName` OID (2.5.29.17).
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// The DER contents of the `id-at-commonName` OID (2.5.4.3).
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

// DER tags of the elements read.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
/// `[0] EXPLICIT Version` of a TBSCertificate.
const VERSION: u8 = 0xa0;
/// `[1] IMPLICIT issuerUniqueID` and `[2] IMPLICIT subjectUniqueID`.
const ISSUER_UID: u8 = 0x81;
const SUBJECT_UID: u8 = 0x82;
/// `[3] EXPLICIT Extensions`.
const EXTENSIONS: u8 = 0xa3;
/// GeneralName `[2] IMPLICIT IA5String dNSName` and `[6] … uniformResourceIdentifier`.
const DNS_NAME: u8 = 0x82;
const URI: u8 = 0x86;

/// A DER reader over a run of elements: tag, definite minimal length, contents. This module
/// reads the few fields it needs (a full X.509 parser would be a large dependency for three
/// names, and the TLS layer has already parsed and verified the certificate with its own).
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next element's tag and contents; `None` if it is not well-formed DER.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // high tag numbers: none in what is read here
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            // Long form: 1 to 4 length bytes, minimal (no indefinite length in DER).
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let len = bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b));
            if bytes[0] == 0 || len < 0x80 {
                return None;
            }
            (len, rest)
        };
        if rest.len() < len {
            return None;
        }
        let (contents, rest) = rest.split_at(len);
        self.0 = rest;
        Some((tag, contents))
    }

    /// The next element's contents if it has tag `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, contents) if t == tag => Some(contents),
            _ => None,
        }
    }

    /// The contents of the one element `bytes` hold, if it has tag `tag`.
    fn only(bytes: &'a [u8], tag: u8) -> Option<&'a [u8]> {
        let mut der = Der(bytes);
        let contents = der.expect(tag)?;
        der.is_empty().then_some(contents)
    }
}

/// The parts of a certificate read: its subject (the contents of the Name) and the value of
/// every subjectAltName extension (DER GeneralNames).
struct Parts<'a> {
    subject: &'a [u8],
    alt_names: Vec<&'a [u8]>,
}

fn parts(cert: &[u8]) -> Option<Parts<'_>> {
    let mut cert = Der(Der::only(cert, SEQUENCE)?);
    let mut tbs = Der(cert.expect(SEQUENCE)?);
    cert.expect(SEQUENCE)?; // signatureAlgorithm
    cert.expect(BIT_STRING)?; // signatureValue
    if !cert.is_empty() {
        return None;
    }
    if tbs.peek_tag() == Some(VERSION) {
        tbs.next()?;
    }
    tbs.expect(INTEGER)?; // serialNumber
    tbs.expect(SEQUENCE)?; // signature
    tbs.expect(SEQUENCE)?; // issuer
    tbs.expect(SEQUENCE)?; // validity
    let subject = tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?; // subjectPublicKeyInfo
    if tbs.peek_tag() == Some(ISSUER_UID) {
        tbs.next()?;
    }
    if tbs.peek_tag() == Some(SUBJECT_UID) {
        tbs.next()?;
    }
    let mut alt_names = Vec::new();
    if !tbs.is_empty() {
        let mut extensions = Der(Der::only(tbs.expect(EXTENSIONS)?, SEQUENCE)?);
        if !tbs.is_empty() {
            return None;
        }
        while !extensions.is_empty() {
            let mut extension = Der(extensions.expect(SEQUENCE)?);
            let id = extension.expect(OID)?;
            if extension.peek_tag() == Some(BOOLEAN) {
                extension.next()?; // critical
            }
            let value = extension.expect(OCTET_STRING)?;
            if !extension.is_empty() {
                return None;
            }
            if id == SUBJECT_ALT_NAME {
                alt_names.push(value);
            }
        }
    }
    Some(Parts { subject, alt_names })
}

/// The URI and DNS names of a subjectAltName value (the other kinds of name are skipped).
fn alt_names(value: &[u8], uris: &mut Vec<String>, dns: &mut Vec<String>) -> Option<()> {
    let mut names = Der(Der::only(value, SEQUENCE)?);
    while !names.is_empty() {
        let (tag, contents) = names.next()?;
        let list = match tag {
            URI => &mut *uris,
            DNS_NAME => &mut *dns,
            _ => continue,
        };
        list.push(ia5(contents)?.to_string());
    }
    Some(())
}

/// An IA5String's text (ASCII).
fn ia5(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// A PrintableString's text (its restricted character set).
fn printable(bytes: &[u8]) -> Option<&str> {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(b);
    if bytes.iter().all(allowed) {
        str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The common names of a subject (the contents of its Name): UTF8String, PrintableString or
/// IA5String values; a common name of another string type, or not valid for its type, is
/// skipped.
fn common_names(subject: &[u8]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut rdns = Der(subject);
    while !rdns.is_empty() {
        let mut rdn = Der(rdns.expect(SET)?);
        while !rdn.is_empty() {
            let mut attribute = Der(rdn.expect(SEQUENCE)?);
            let id = attribute.expect(OID)?;
            let (tag, value) = attribute.next()?;
            if !attribute.is_empty() {
                return None;
            }
            if id != COMMON_NAME {
                continue;
            }
            let text = match tag {
                UTF8_STRING => str::from_utf8(value).ok(),
                PRINTABLE_STRING => printable(value),
                IA5_STRING => ia5(value),
                _ => None,
            };
            names.extend(text.map(str::to_string));
        }
    }
    Some(names)
}

/// The leaf certificate's candidate names, in the order they are matched (see the module docs).
pub fn candidate_names(leaf_der: &[u8]) -> Result<Vec<String>, String> {
    let unparsed = || "the client certificate could not be parsed".to_string();
    let parts = parts(leaf_der).ok_or_else(unparsed)?;
    let (mut uris, mut dns) = (Vec::new(), Vec::new());
    for value in &parts.alt_names {
        alt_names(value, &mut uris, &mut dns).ok_or_else(|| {
            "the client certificate's subjectAltName could not be parsed".to_string()
        })?;
    }
    if !uris.is_empty() {
        return Ok(uris);
    }
    if !dns.is_empty() {
        return Ok(dns);
    }
    common_names(parts.subject).ok_or_else(unparsed)
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
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair, SanType};

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

    fn cert_with_cn(cn: DnValue) -> Vec<u8> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
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
    fn other_kinds_of_name_are_skipped_and_every_cn_string_type_is_read() {
        let der = cert(
            vec![
                SanType::Rfc822Name("ops@example.com".try_into().expect("mail")),
                SanType::IpAddress([10, 0, 0, 7].into()),
                SanType::DnsName("only.example".try_into().expect("dns")),
            ],
            Some("ignored"),
        );
        assert_eq!(candidate_names(&der).expect("parses"), ["only.example"]);
        let der = cert(
            vec![SanType::IpAddress([10, 0, 0, 7].into())],
            Some("by-cn"),
        );
        assert_eq!(candidate_names(&der).expect("parses"), ["by-cn"]);
        for value in [
            DnValue::Utf8String("ünïcode-client".into()),
            DnValue::PrintableString("printable-client".try_into().expect("printable")),
            DnValue::Ia5String("ia5-client".try_into().expect("ia5")),
        ] {
            let expected = match &value {
                DnValue::Utf8String(s) => s.clone(),
                DnValue::PrintableString(s) => s.to_string(),
                DnValue::Ia5String(s) => s.to_string(),
                _ => unreachable!(),
            };
            let der = cert_with_cn(value);
            assert_eq!(candidate_names(&der).expect("parses"), [expected]);
        }
        // A CN in a string type other than those three is no name.
        let der = cert_with_cn(DnValue::BmpString("bmp".try_into().expect("bmp")));
        assert!(candidate_names(&der).expect("parses").is_empty());
    }

    #[test]
    fn truncated_padded_or_non_der_certificates_are_refused() {
        let der = cert(
            vec![SanType::URI("spiffe://prod/x".try_into().expect("uri"))],
            Some("c"),
        );
        assert!(candidate_names(&der).is_ok());
        for len in 0..der.len() {
            assert!(candidate_names(&der[..len]).is_err(), "cut at {len}");
        }
        let mut padded = der.clone();
        padded.push(0);
        assert!(candidate_names(&padded).is_err());
        // The outer length in a longer form than needed (BER, not DER).
        assert_eq!(der[1], 0x82, "a certificate longer than 255 bytes");
        let mut long_form = vec![0x30, 0x83, 0x00];
        long_form.extend_from_slice(&der[2..]);
        assert!(candidate_names(&long_form).is_err());
        // An indefinite length.
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend_from_slice(&der[4..]);
        indefinite.extend_from_slice(&[0, 0]);
        assert!(candidate_names(&indefinite).is_err());
    }

    #[test]
    fn no_chain_or_garbage_is_no_identity() {
        let empty: [Vec<u8>; 0] = [];
        assert_eq!(identity_of_chain(&empty, |_| true).expect("ok"), None);
        assert!(identity_of_chain(&[b"not a certificate".to_vec()], |_| true).is_err());
    }
}
