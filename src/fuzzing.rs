//! The properties the fuzz targets check (`fuzz/`, docs/fuzzing.md), kept in the library so that
//! they compile with the crate, see its private parsers and builders without widening their
//! visibility, and replay the committed seed corpora in the ordinary `cargo test`
//! (tests/fuzz_corpus.rs) on the stable toolchain.
//!
//! Each function takes the fuzzer's raw bytes and panics when a property does not hold; a
//! function that returns has found nothing. Not an API: hidden from the docs, and nothing in the
//! service calls it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use url::Url;

use crate::defender::odata::quote;
use crate::defender::{
    Credential, DefenderSettings, Filter, HuntingDecoder, HuntingEvent, ODataQuery,
    findbyip_function,
};
use crate::hunting::values::{ColumnKind, RowShape, cell, infer_schema};
use crate::paging::{PageScope, PageTokenSigner};
use crate::risk::lookup::hostname_filter;
use crate::risk::validate;
use crate::sim::{
    Clause, Fleet, MACHINE_SCHEMA, QueryOptions, SimFilter, parse_datetime, parse_find_by_ip,
};

/// A property: panics when it does not hold for the input.
pub type Property = fn(&[u8]);

/// The fuzz targets, by name: each is a `fuzz/fuzz_targets/<name>.rs` and a
/// `fuzz/corpus/<name>/` seed corpus.
pub const TARGETS: &[(&str, Property)] = &[
    ("page_token", page_token),
    ("odata_filter", odata_filter),
    ("hunting_json", hunting_json),
    ("sim_filter", sim_filter),
    ("callers_file", callers_file),
    ("jwt", jwt),
];

/// Splits the fuzzer's bytes into fields: a byte, or a string up to the next `\n`.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }

    fn line(&mut self) -> String {
        let end = self
            .0
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(self.0.len());
        let line = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = self.0.get(end + 1..).unwrap_or_default();
        line
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

fn signer() -> PageTokenSigner {
    PageTokenSigner::from_settings(&DefenderSettings::new(
        crate::defender::Cloud::Commercial,
        "fuzz-tenant",
        "fuzz-client",
        Credential::Secret("fuzz-secret".to_owned().into()),
    ))
}

/// Page tokens. Input: offset byte, rpc line, tenant line, filter line, then the token text.
///
/// - Decoding any text never panics, and the only token that verifies for a scope and offset is
///   the one the signer issued (tokens are canonical: no second spelling is accepted).
/// - A signed token round-trips to its offset, and is refused under any other scope.
/// - Changing any one character of a signed token makes it fail.
pub fn page_token(data: &[u8]) {
    let mut input = Input(data);
    let offset = u64::from(input.byte()).wrapping_mul(0x0101_0101_0101_0101);
    let (rpc, tenant, filter) = (input.line(), input.line(), input.line());
    let token = String::from_utf8_lossy(input.rest()).into_owned();
    let signer = signer();
    let scope = PageScope::new(&rpc, &tenant).with("filter", &filter);

    if let Ok(got) = signer.verify("page_token", &scope, &token) {
        let canonical = if token.is_empty() {
            String::new()
        } else {
            signer.sign(&scope, got)
        };
        assert_eq!(token, canonical, "a non-canonical token verified");
    }

    let signed = signer.sign(&scope, offset);
    assert_eq!(
        signer.verify("page_token", &scope, &signed).ok(),
        Some(offset)
    );
    let other = PageScope::new(&rpc, &tenant).with("filter", &format!("{filter}x"));
    assert!(signer.verify("page_token", &other, &signed).is_err());
    let at = usize::try_from(offset % 64).unwrap_or_default() % signed.len();
    let mut forged = signed.clone().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8_lossy(&forged).into_owned();
    assert!(signer.verify("page_token", &scope, &forged).is_err());
}

/// The clauses the simulator's OData parser finds in `filter`, after the filter went through
/// the client's URL encoding (`ODataQuery::apply`) and the simulator's query decoding.
fn parse_back(filter: &Filter) -> Vec<Clause> {
    let mut url = Url::parse("https://fuzz.invalid/api/machines").unwrap_or_else(|e| panic!("{e}"));
    ODataQuery::filtered(filter.clone()).apply(&mut url, 10_000);
    let options = QueryOptions::parse(url.query())
        .unwrap_or_else(|e| panic!("the query of {filter} does not decode: {e}"));
    match options.filter(&MACHINE_SCHEMA) {
        Ok(Some(parsed)) => parsed.clauses(&MACHINE_SCHEMA),
        Ok(None) => panic!("the filter {filter:?} was lost on the way"),
        Err(e) => panic!("the filter {filter:?} does not parse back: {e}"),
    }
}

/// OData filters built from caller text. Input: one value per line (at most 30 lines).
///
/// For every value: `Filter::eq` on a field parses back to exactly one equality on that field
/// with exactly the value; a value that passes hostname validation gives the look-up filter
/// (one equality, or for a short name a `startswith` on `name.` or an equality, nothing else);
/// a hostname prefix gives exactly one `startswith`; an address that passes IP validation
/// round-trips through the `findbyip` function call. All the valid hostnames together (the
/// bulk look-up's `or`) give exactly their clauses, in order.
pub fn odata_filter(data: &[u8]) {
    const FIELD: &str = "computerDnsName";
    let mut input = Input(data);
    let mut bulk: Vec<Filter> = Vec::new();
    let mut bulk_expected = Vec::new();
    for _ in 0..30 {
        if input.0.is_empty() {
            break;
        }
        let value = input.line();
        for field in [FIELD, "lastIpAddress", "id"] {
            assert_eq!(
                parse_back(&Filter::eq(field, &value)),
                [Clause::Eq(field, value.clone())],
                "value {value:?} ({})",
                quote(&value)
            );
        }
        if let Ok(name) = validate::hostname("hostname", &value) {
            let expected = if name.contains('.') {
                vec![Clause::Eq(FIELD, name.clone())]
            } else {
                vec![
                    Clause::StartsWith(FIELD, format!("{name}.")),
                    Clause::Eq(FIELD, name.clone()),
                ]
            };
            let filter = hostname_filter(&name);
            assert_eq!(parse_back(&filter), expected, "hostname {value:?}");
            bulk.push(filter);
            bulk_expected.extend(expected);
        }
        if let Ok(Some(prefix)) = validate::hostname_prefix("prefix", &value) {
            assert_eq!(
                parse_back(&Filter::startswith(FIELD, &prefix)),
                [Clause::StartsWith(FIELD, prefix.clone())],
                "prefix {value:?}"
            );
        }
        if let Ok(ip) = validate::ip_address("ip", &value) {
            check_findbyip(ip);
        }
    }
    if let Some(all) = bulk.into_iter().reduce(Filter::or) {
        assert_eq!(parse_back(&all), bulk_expected, "bulk filter {all}");
    }
}

fn check_findbyip(ip: IpAddr) {
    let at = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    let function = findbyip_function(ip, at);
    match parse_find_by_ip(&function) {
        Ok(back) => assert_eq!(back, (ip, at), "{function}"),
        Err(_) => panic!("{function} does not parse back"),
    }
}

/// Decodes `body` fed in chunks of `size` bytes; the events, or the error's text.
fn decode(body: &[u8], size: usize) -> Result<Vec<HuntingEvent>, String> {
    let mut decoder = HuntingDecoder::default();
    let mut events = Vec::new();
    for chunk in body.chunks(size.max(1)) {
        decoder.feed(chunk);
        while let Some(event) = decoder.next_event().map_err(|e| e.to_string())? {
            events.push(event);
        }
    }
    decoder.finish().map_err(|e| e.to_string())?;
    Ok(events)
}

/// The hunting-answer stream decoder. Input: chunk-size byte, then the body.
///
/// - It never panics, and the result does not depend on how the body is cut into chunks.
/// - What it accepts is JSON: a body it decodes parses whole with serde_json (as strictly as
///   serde's `IgnoredAny` for the members it skips), and its rows are exactly the elements of
///   the `results` arrays (any case), in order.
pub fn hunting_json(data: &[u8]) {
    let mut input = Input(data);
    let size = usize::from(input.byte() % 64) + 1;
    let body = input.rest();
    let whole = decode(body, body.len());
    let chunked = decode(body, size);
    assert_eq!(
        whole.is_ok(),
        chunked.is_ok(),
        "chunk size {size}: {whole:?} vs {chunked:?}"
    );
    let (Ok(whole), Ok(chunked)) = (whole, chunked) else {
        return;
    };
    assert_eq!(whole, chunked, "chunk size {size}");
    let members = match serde_json::from_slice::<Members>(body) {
        Ok(members) => members.0,
        // The decoder parses each value alone, so serde_json's nesting limit bites the whole
        // body a level or two earlier: not a disagreement about what is JSON.
        Err(e) if e.to_string().contains("recursion limit") => return,
        // Members the decoder skips are checked as serde's `IgnoredAny` checks them: structure
        // only, not UTF-8 or surrogate escapes inside their strings (docs/fuzzing.md, gaps).
        Err(e) => match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => return,
            Err(_) => panic!("decoded a body that is not JSON: {e}"),
        },
    };
    let expected_rows: Vec<serde_json::Value> = members
        .into_iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("results"))
        .flat_map(|(_, value)| match value {
            serde_json::Value::Array(items) => items,
            _ => Vec::new(),
        })
        .collect();
    let rows: Vec<serde_json::Value> = whole
        .iter()
        .filter_map(|e| match e {
            HuntingEvent::Row(row) => Some(serde_json::Value::Object(row.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(rows, expected_rows);
    convert_cells(whole);
}

/// What the service does next with the events (`RunHuntingQuery`): every row through the
/// current schema's shape, and every value through every column kind; none of it may panic.
fn convert_cells(events: Vec<HuntingEvent>) {
    let kinds = [
        ColumnKind::DateTime,
        ColumnKind::Integer,
        ColumnKind::Dynamic,
        ColumnKind::Other,
    ];
    let mut shape = None;
    for event in events {
        match event {
            HuntingEvent::Schema(columns) => shape = Some(RowShape::new(&columns)),
            HuntingEvent::Row(row) => {
                let shape = shape.get_or_insert_with(|| RowShape::new(&infer_schema(&row)));
                for value in row.values() {
                    for kind in kinds {
                        cell(value.clone(), kind);
                    }
                }
                shape.convert(row);
            }
            HuntingEvent::Stats(_) => {}
        }
    }
}

/// A JSON object's members in order, duplicates kept (serde_json's `Map` keeps the last one).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(member) = map.next_entry()? {
                    out.push(member);
                }
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The simulator's `$filter` parser, date literals, `findbyip` arguments and query options, on
/// any text (what `defender-bridge sim` parses from every request). Input: the text.
///
/// Nothing panics or overflows the stack, and a filter that parses evaluates on real machines.
pub fn sim_filter(data: &[u8]) {
    // The simulator parses on tokio worker threads (2 MiB stacks, and debug builds in the
    // tests); half that here makes runaway recursion show up at the fuzzer's input sizes.
    let text = String::from_utf8_lossy(data).into_owned();
    let worker = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || sim_filter_on(&text))
        .unwrap_or_else(|e| panic!("no thread: {e}"));
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

fn sim_filter_on(text: &str) {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    let _ = parse_datetime(text);
    let _ = parse_find_by_ip(text);
    let _ = QueryOptions::parse(Some(text));
    if let Ok(filter) = SimFilter::parse(text, &MACHINE_SCHEMA) {
        let fleet = FLEET
            .get_or_init(|| Fleet::generate(8, 7, time::macros::datetime!(2026-01-10 08:00 UTC)));
        for machine in fleet.machines() {
            filter.matches(machine);
        }
    }
}

/// The callers file (TOML). Input: the file's text. Any text is a callers file or an error;
/// nothing panics.
pub fn callers_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::auth::Callers::parse(&text, Path::new("/nonexistent/callers.toml"));
}

/// JWT verification and JWKS parsing. Input: a mode byte, then text: a JWKS document (odd
/// byte) or a bearer token (even byte), verified against an issuer holding one RSA key.
///
/// Nothing panics; no token verifies (the fuzzer cannot sign with the key, so an accepted
/// token means a signature check was skipped); a refusal never quotes the token.
pub fn jwt(data: &[u8]) {
    use crate::auth::jwt::{Issuer, IssuerKeys, Jwks, verify};
    static ISSUERS: OnceLock<Vec<Issuer>> = OnceLock::new();
    let mut input = Input(data);
    let mode = input.byte();
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    if mode % 2 == 1 {
        let _ = Jwks::parse(&text);
        return;
    }
    let issuers = ISSUERS.get_or_init(|| {
        let jwks = Jwks::parse(
            r#"{"keys":[{"kty":"RSA","kid":"r","n":"sXchDaQebSXuc9QTLuBjH8OE1dC-nI8Qi6rKw1gQ3xw","e":"AQAB"}]}"#,
        )
        .unwrap_or_else(|e| panic!("the fuzz JWKS: {e}"));
        vec![Issuer {
            issuer: "https://issuer.fuzz".into(),
            audience: "defender-bridge".into(),
            keys: IssuerKeys::File {
                path: PathBuf::new(),
                jwks: std::sync::Arc::new(jwks),
            },
            jwks_ca_file: None,
            subjects: Default::default(),
        }]
    });
    match verify(issuers, &text) {
        Ok(_) => panic!("a token without the key's signature verified"),
        // Only a text a real token could be (base64url parts and dots) counts as a leak: a
        // fuzzed text with spaces can be a slice of the refusal's own fixed wording.
        Err(message) => assert!(
            text.len() < 16
                || !text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                || !message.contains(&text),
            "the refusal quotes the token"
        ),
    }
}
