//! OData query options (`$filter`, `$top`, `$skip`) and a small `$filter` builder that quotes
//! string literals the OData way (`'` doubled), so caller text cannot change a filter's meaning.

use std::fmt;

use url::Url;
use url::form_urlencoded;

/// The OData options of one list request.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ODataQuery {
    /// `$filter` expression (build it with [`Filter`]).
    pub filter: Option<String>,
    /// `$top`: page size. Defaults to, and is capped at, the API's maximum.
    pub top: Option<u32>,
    /// `$skip`: items to skip.
    pub skip: Option<u32>,
}

impl ODataQuery {
    /// A query with just a filter.
    pub fn filtered(filter: impl Into<String>) -> Self {
        Self {
            filter: Some(filter.into()),
            ..Self::default()
        }
    }

    /// Writes `$filter`, `$top` (capped at `max_top`, at least 1) and `$skip` onto `url`,
    /// replacing its query.
    pub(crate) fn apply(&self, url: &mut Url, max_top: u32) {
        let top = self.top.unwrap_or(max_top).clamp(1, max_top);
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(filter) = self.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            pairs.push(("$filter".into(), filter.to_owned()));
        }
        pairs.push(("$top".into(), top.to_string()));
        if let Some(skip) = self.skip.filter(|s| *s > 0) {
            pairs.push(("$skip".into(), skip.to_string()));
        }
        set_query(url, &pairs);
    }
}

/// Sets `url`'s query from `pairs`, keeping OData's `$` keys readable and form-encoding values.
pub(crate) fn set_query(url: &mut Url, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        url.set_query(None);
        return;
    }
    let query = pairs
        .iter()
        .map(|(key, value)| {
            let key: String = form_urlencoded::byte_serialize(key.as_bytes())
                .collect::<String>()
                .replace("%24", "$");
            let value: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join("&");
    url.set_query(Some(&query));
}

/// An OData string literal: `O'Brien` becomes `'O''Brien'`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A `$filter` expression built from quoted parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    expr: String,
    /// Top-level `or`: needs parentheses inside an `and`.
    is_or: bool,
}

impl Filter {
    fn new(expr: String) -> Self {
        Self { expr, is_or: false }
    }

    /// `field eq 'value'`.
    pub fn eq(field: &str, value: &str) -> Self {
        Self::new(format!("{field} eq {}", quote(value)))
    }

    /// `field ne 'value'`.
    pub fn ne(field: &str, value: &str) -> Self {
        Self::new(format!("{field} ne {}", quote(value)))
    }

    /// `startswith(field,'prefix')`.
    pub fn startswith(field: &str, prefix: &str) -> Self {
        Self::new(format!("startswith({field},{})", quote(prefix)))
    }

    /// `field gt <datetime>` (unquoted ISO-8601, UTC, as Defender expects).
    pub fn gt_time(field: &str, at: time::OffsetDateTime) -> Self {
        Self::new(format!("{field} gt {}", format_utc_seconds(at)))
    }

    /// An expression written by hand (the caller is responsible for quoting).
    pub fn raw(expr: impl Into<String>) -> Self {
        Self::new(expr.into())
    }

    /// `self and other` (an `or` operand is parenthesised).
    pub fn and(self, other: Filter) -> Self {
        Self::new(format!("{} and {}", self.operand(), other.operand()))
    }

    /// `self or other`.
    pub fn or(self, other: Filter) -> Self {
        Self {
            expr: format!("{} or {}", self.expr, other.expr),
            is_or: true,
        }
    }

    fn operand(&self) -> String {
        if self.is_or {
            format!("({})", self.expr)
        } else {
            self.expr.clone()
        }
    }

    /// The expression text.
    pub fn as_str(&self) -> &str {
        &self.expr
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl From<Filter> for String {
    fn from(filter: Filter) -> String {
        filter.expr
    }
}

/// `startswith(field,'prefix')`, as a free function.
pub fn startswith(field: &str, prefix: &str) -> Filter {
    Filter::startswith(field, prefix)
}

/// `2019-09-22T08:44:05Z`: the timestamp form used in `$filter` and `findbyip`.
pub(crate) fn format_utc_seconds(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_doubles_single_quotes() {
        assert_eq!(quote("O'Brien"), "'O''Brien'");
        assert_eq!(
            Filter::eq("computerDnsName", "x' or id ne 'y").to_string(),
            "computerDnsName eq 'x'' or id ne ''y'"
        );
    }

    #[test]
    fn and_parenthesises_or_operands() {
        let f = Filter::eq("a", "1")
            .or(Filter::eq("b", "2"))
            .and(startswith("c", "x"));
        assert_eq!(f.as_str(), "(a eq '1' or b eq '2') and startswith(c,'x')");
    }

    #[test]
    fn apply_caps_top_and_encodes_values() {
        let mut url = Url::parse("https://h/api/machines").expect("url");
        let q = ODataQuery {
            filter: Some(Filter::eq("riskScore", "High").into()),
            top: Some(50_000),
            skip: Some(20),
        };
        q.apply(&mut url, 10_000);
        assert_eq!(
            url.query(),
            Some("$filter=riskScore+eq+%27High%27&$top=10000&$skip=20")
        );
        let mut url = Url::parse("https://h/api/vulnerabilities").expect("url");
        ODataQuery::default().apply(&mut url, 8000);
        assert_eq!(url.query(), Some("$top=8000"));
        let mut url = Url::parse("https://h/x").expect("url");
        ODataQuery {
            top: Some(0),
            ..Default::default()
        }
        .apply(&mut url, 100);
        assert_eq!(url.query(), Some("$top=1"));
    }

    #[test]
    fn datetimes_are_formatted_in_utc() {
        let at = time::macros::datetime!(2019-09-22 10:44:05.123 +02:00);
        assert_eq!(format_utc_seconds(at), "2019-09-22T08:44:05Z");
    }
}
