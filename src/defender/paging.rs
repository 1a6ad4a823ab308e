//! Pages and where the next one is. Defender's `@odata.nextLink` is followed verbatim (it may name
//! a regional host), but only to the configured API origin or the cloud's own Defender API
//! domains over https: the bearer token must never reach another host, so a link elsewhere is an
//! error and no request is made. Where an API gives no next link, a full page continues with
//! `$skip += $top` until a short page.

use serde::de::DeserializeOwned;
use url::{Host, Url};

use super::error::DefenderError;
use super::models::ODataCollection;
use super::odata::set_query;

/// Where the next page is. Both forms are absolute URLs that passed the link policy; they are
/// checked again before use, so a cursor decoded from a page token cannot redirect the token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PageCursor {
    /// Defender's `@odata.nextLink`, as returned.
    NextLink(#[serde(with = "url_text")] Url),
    /// Our continuation of the previous request with `$skip` advanced by `$top` (no next link
    /// was given and the page was full).
    Skip(#[serde(with = "url_text")] Url),
}

/// `Url` as its text (the `url` crate's serde feature is not enabled).
mod url_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use url::Url;

    pub(super) fn serialize<S: Serializer>(url: &Url, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(url.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
        let text = String::deserialize(d)?;
        Url::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl PageCursor {
    /// The URL the next page is read from.
    pub fn url(&self) -> &Url {
        match self {
            PageCursor::NextLink(url) | PageCursor::Skip(url) => url,
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The next page, if any.
    pub next: Option<PageCursor>,
}

/// Several pages gathered into one list.
#[derive(Clone, Debug, PartialEq)]
pub struct Collection<T> {
    /// The items.
    pub items: Vec<T>,
    /// False when the read stopped at `max_items` with more left: never mistake it for the fleet.
    pub complete: bool,
}

/// Which URLs may receive the bearer token.
#[derive(Clone, Debug)]
pub(crate) struct LinkPolicy {
    api_base: Url,
    /// Path every link on the configured origin must start with (`{base path}/api/`).
    base_api_path: String,
    domains: &'static [&'static str],
}

impl LinkPolicy {
    pub(crate) fn new(api_base: Url, domains: &'static [&'static str]) -> Self {
        let base_api_path = format!("{}/api/", api_base.path().trim_end_matches('/'));
        Self {
            api_base,
            base_api_path,
            domains,
        }
    }

    /// Ok when `link` is on the configured API origin (any scheme, as configured) or on one of
    /// the cloud's Defender API domains over https on the default port.
    pub(crate) fn check(&self, link: &Url) -> Result<(), DefenderError> {
        let refuse = || DefenderError::DisallowedNextLink {
            host: link.host_str().unwrap_or_default().to_owned(),
        };
        if !link.username().is_empty() || link.password().is_some() {
            return Err(refuse());
        }
        if link.origin() == self.api_base.origin() {
            return if link.path().starts_with(&self.base_api_path) {
                Ok(())
            } else {
                Err(refuse())
            };
        }
        let on_cloud_domain = match link.host() {
            Some(Host::Domain(host)) => self.domains.iter().any(|suffix| {
                host.strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.'))
            }),
            _ => false,
        };
        if link.scheme() == "https"
            && link.port().is_none()
            && on_cloud_domain
            && link.path().starts_with("/api/")
        {
            Ok(())
        } else {
            Err(refuse())
        }
    }

    /// Parses a collection body read from `request_url` into a page, validating its next link.
    pub(crate) fn page<T: DeserializeOwned>(
        &self,
        request_url: &Url,
        body: &[u8],
        what: &str,
    ) -> Result<Page<T>, DefenderError> {
        let collection: ODataCollection<T> =
            serde_json::from_slice(body).map_err(|e| DefenderError::decode(what, e))?;
        let next = self.next_cursor(
            request_url,
            collection.next_link.as_deref(),
            collection.value.len(),
        )?;
        Ok(Page {
            items: collection.value,
            next,
        })
    }

    /// Decodes a collection body read from `request_url` item by item, handing each to `each`
    /// as soon as it is decoded (the page's items are never held together); returns where the
    /// next page is. On an error, the items already handed over belong to a failed read.
    pub(crate) fn fold_page<T: DeserializeOwned>(
        &self,
        request_url: &Url,
        body: &[u8],
        what: &str,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        let mut fold = fold::Fold {
            each,
            count: 0,
            next_link: None,
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        serde::de::DeserializeSeed::deserialize(&mut fold, &mut de)
            .and_then(|()| de.end())
            .map_err(|e| DefenderError::decode(what, e))?;
        self.next_cursor(request_url, fold.next_link.as_deref(), fold.count)
    }

    /// The next page after a page of `count` items read from `request_url` whose
    /// `@odata.nextLink` was `next_link`; the link must pass the policy.
    fn next_cursor(
        &self,
        request_url: &Url,
        next_link: Option<&str>,
        count: usize,
    ) -> Result<Option<PageCursor>, DefenderError> {
        Ok(match next_link.filter(|l| !l.is_empty()) {
            Some(link) => {
                let url = request_url
                    .join(link)
                    .map_err(|e| DefenderError::decode("@odata.nextLink", e))?;
                self.check(&url)?;
                if &url == request_url {
                    return Err(DefenderError::Decode {
                        what: "@odata.nextLink".into(),
                        message: "the link points at the page just read".into(),
                    });
                }
                Some(PageCursor::NextLink(url))
            }
            None => skip_continuation(request_url, count).map(PageCursor::Skip),
        })
    }
}

/// Decoding an OData collection one item at a time.
mod fold {
    use std::fmt;

    use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// The state of one page's decoding: the callback, items seen, the next link.
    pub(super) struct Fold<'f, T> {
        pub(super) each: &'f mut (dyn FnMut(T) + Send),
        pub(super) count: usize,
        pub(super) next_link: Option<String>,
    }

    impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for &mut Fold<'_, T> {
        type Value = ();

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de, T: DeserializeOwned> Visitor<'de> for &mut Fold<'_, T> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an OData collection")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "value" => map.next_value_seed(Items(&mut *self))?,
                    "@odata.nextLink" => self.next_link = map.next_value::<Option<String>>()?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
    }

    /// The `value` array.
    struct Items<'a, 'f, T>(&'a mut Fold<'f, T>);

    impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Items<'_, '_, T> {
        type Value = ();

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de, T: DeserializeOwned> Visitor<'de> for Items<'_, '_, T> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of items")
        }

        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
            while let Some(item) = seq.next_element::<T>()? {
                (self.0.each)(item);
                self.0.count += 1;
            }
            Ok(())
        }
    }
}

/// Notices a list read whose pages repeat: a next link that goes back to an offset already read,
/// or an id already seen on an earlier page. A faulty or hostile upstream can otherwise make a
/// bulk read return the same items twice and still look complete.
#[derive(Debug, Default)]
pub struct RepeatGuard {
    /// Items read so far (pages included).
    read: u64,
    /// Hashes of the ids seen: 8 bytes a machine instead of the id; a collision (about one in
    /// 10^9 for a 100,000-machine fleet) only ends a stream early as incomplete.
    ids: std::collections::HashSet<u64>,
}

impl RepeatGuard {
    /// Counts one item with `id`; `false` when that id was already seen.
    pub fn item(&mut self, id: Option<&str>) -> bool {
        self.read += 1;
        let Some(id) = id else { return true };
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&id.to_ascii_lowercase(), &mut hasher);
        self.ids.insert(std::hash::Hasher::finish(&hasher))
    }

    /// Counts `n` items whose ids are not tracked.
    pub fn items(&mut self, n: usize) {
        self.read += n as u64;
    }

    /// Why following `next` would re-read items, if it would: its `$skip` is below the number
    /// of items already read (the first request had no `$skip`).
    pub fn check_link(&self, next: &PageCursor) -> Result<(), String> {
        match skip_of(next.url()) {
            Some(skip) if skip < self.read => Err(format!(
                "Defender's next page link goes back to item {skip} after {} items were read, so pages would repeat",
                self.read
            )),
            _ => Ok(()),
        }
    }
}

/// The `$skip` of `url`, if it has one.
fn skip_of(url: &Url) -> Option<u64> {
    url.query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("$skip"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// `request_url` with `$skip` advanced by `$top`, when it asked for `$top` items and got them all.
pub(crate) fn skip_continuation(request_url: &Url, item_count: usize) -> Option<Url> {
    let mut pairs: Vec<(String, String)> = request_url.query_pairs().into_owned().collect();
    let value_of = |pairs: &[(String, String)], key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    };
    let top = value_of(&pairs, "$top").filter(|top| *top > 0)?;
    if (item_count as u64) < top {
        return None;
    }
    let skip = value_of(&pairs, "$skip").unwrap_or(0).saturating_add(top);
    pairs.retain(|(k, _)| !k.eq_ignore_ascii_case("$skip"));
    pairs.push(("$skip".into(), skip.to_string()));
    let mut next = request_url.clone();
    set_query(&mut next, &pairs);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defender::cloud::Cloud;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    fn commercial() -> LinkPolicy {
        LinkPolicy::new(
            url("https://api.securitycenter.microsoft.com"),
            Cloud::Commercial.defender_api_domains(),
        )
    }

    #[test]
    fn regional_defender_hosts_are_allowed() {
        let policy = commercial();
        for ok in [
            "https://api.securitycenter.microsoft.com/api/machines?$skip=2",
            "https://api-us3.securitycenter.microsoft.com/api/machines?$skiptoken=x",
            "https://eu.api.security.microsoft.com/api/alerts",
            "https://api-eu.securitycenter.windows.com/api/alerts",
        ] {
            assert!(policy.check(&url(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn foreign_or_weakened_links_are_refused() {
        let policy = commercial();
        for bad in [
            "https://evil.example.com/api/machines",
            "https://securitycenter.microsoft.com.evil.com/api/machines",
            "https://evilsecuritycenter.microsoft.com/api/machines",
            "http://api-us3.securitycenter.microsoft.com/api/machines",
            "https://api-us3.securitycenter.microsoft.com:8443/api/machines",
            "https://user:pw@api.securitycenter.microsoft.com/api/machines",
            "https://api-gov.securitycenter.microsoft.us/api/machines",
            "https://api.securitycenter.microsoft.com/other",
            "https://10.0.0.1/api/machines",
        ] {
            let err = policy.check(&url(bad)).expect_err(bad);
            assert!(
                matches!(err, DefenderError::DisallowedNextLink { .. }),
                "{bad}"
            );
        }
        let gov = LinkPolicy::new(
            Cloud::GccHigh.api_url(),
            Cloud::GccHigh.defender_api_domains(),
        );
        assert!(
            gov.check(&url("https://api-gov.securitycenter.microsoft.us/api/x"))
                .is_ok()
        );
        assert!(
            gov.check(&url("https://api.securitycenter.microsoft.com/api/x"))
                .is_err()
        );
    }

    #[test]
    fn http_is_allowed_only_on_the_configured_origin() {
        let policy = LinkPolicy::new(url("http://127.0.0.1:8080/prefix/"), &[]);
        assert!(
            policy
                .check(&url("http://127.0.0.1:8080/prefix/api/machines?$skip=1"))
                .is_ok()
        );
        assert!(
            policy
                .check(&url("http://127.0.0.1:8081/prefix/api/machines"))
                .is_err()
        );
        assert!(
            policy
                .check(&url("http://127.0.0.1:8080/api/machines"))
                .is_err()
        );
    }

    #[test]
    fn folding_a_page_sees_what_parsing_it_sees() {
        let policy = LinkPolicy::new(url("http://h/"), &[]);
        let request = url("http://h/api/alerts?$top=3");
        let bodies = [
            r#"{"@odata.context":"x","value":[{"id":"a","n":[1,{"k":2}]},{"id":"b"}],"@odata.nextLink":"http://h/api/alerts?$skip=2"}"#,
            r#"{"value":[{"id":"a"},{"id":"b"},{"id":"c"}],"@odata.count":3}"#,
            r#"{"@odata.nextLink":null}"#,
        ];
        for body in bodies {
            let page: Page<serde_json::Value> = policy
                .page(&request, body.as_bytes(), "alerts")
                .expect("page");
            let mut seen: Vec<serde_json::Value> = Vec::new();
            let next = policy
                .fold_page(&request, body.as_bytes(), "alerts", &mut |v| seen.push(v))
                .expect("fold");
            assert_eq!(seen, page.items, "{body}");
            assert_eq!(next, page.next, "{body}");
        }
        let mut seen: Vec<serde_json::Value> = Vec::new();
        let foreign = r#"{"value":[],"@odata.nextLink":"http://evil/api/alerts"}"#;
        let err = policy
            .fold_page(&request, foreign.as_bytes(), "alerts", &mut |v| {
                seen.push(v)
            })
            .expect_err("foreign link");
        assert!(matches!(err, DefenderError::DisallowedNextLink { .. }));
        for bad in [
            r#"{"value":[{"id":"a"},"#,
            r#"{"value":[]} trailing"#,
            "[1]",
        ] {
            let result =
                policy.fold_page(&request, bad.as_bytes(), "alerts", &mut |v| seen.push(v));
            assert!(matches!(result, Err(DefenderError::Decode { .. })), "{bad}");
        }
    }

    #[test]
    fn repeated_offsets_and_ids_are_noticed() {
        let mut guard = RepeatGuard::default();
        assert!(guard.item(Some("AA")));
        assert!(guard.item(Some("bb")));
        assert!(guard.item(None));
        assert!(!guard.item(Some("aa")), "ids compare case-insensitively");
        let back = PageCursor::NextLink(url("http://h/api/machines?$top=3&$skip=1"));
        assert!(guard.check_link(&back).is_err());
        let on = PageCursor::NextLink(url("http://h/api/machines?$top=3&$SKIP=4"));
        assert!(guard.check_link(&on).is_ok());
        let token = PageCursor::NextLink(url("http://h/api/machines?$skiptoken=abc"));
        assert!(guard.check_link(&token).is_ok());
        guard.items(10);
        assert!(guard.check_link(&on).is_err());
    }

    #[test]
    fn skip_continuation_advances_only_after_a_full_page() {
        let first = url("http://h/api/machines?$filter=a+eq+%27b%27&$top=2");
        let next = skip_continuation(&first, 2).expect("full page");
        assert_eq!(next.query(), Some("$filter=a+eq+%27b%27&$top=2&$skip=2"));
        let next = skip_continuation(&next, 2).expect("full page");
        assert_eq!(next.query(), Some("$filter=a+eq+%27b%27&$top=2&$skip=4"));
        assert!(skip_continuation(&next, 1).is_none());
        assert!(skip_continuation(&url("http://h/api/machines"), 50).is_none());
    }
}
