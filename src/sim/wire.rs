//! Wire-format helpers shared by every route: Defender's timestamp format, error bodies,
//! entity and collection envelopes (`@odata.context`, `value`, `@odata.nextLink`) and paging.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;

use super::odata::{ODataError, QueryOptions};

/// Prefix of every `@odata.context` (Defender names its own host; clients treat it as opaque).
pub(crate) const CONTEXT_BASE: &str = "https://api.securitycenter.microsoft.com/api/$metadata#";

/// The content type Defender's OData endpoints answer with.
const ODATA_JSON: &str = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";

/// Defender's DateTimeOffset format: ISO-8601 UTC with 7 fractional digits.
pub(crate) fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// RFC 3339 with seconds precision (request log, token timestamps).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| iso(t))
}

/// A per-request tracking id, as Defender puts in `error.target`.
pub(crate) fn target() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A JSON response with Defender's OData content type.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut r = (status, bytes).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
            r
        }
        Err(err) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("serialization failed: {err}"),
        ),
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'a str,
    message: &'a str,
    target: String,
}

/// Defender's error body `{"error":{"code","message","target"}}`.
pub(crate) fn api_error(status: StatusCode, code: &str, message: impl AsRef<str>) -> Response {
    let body = ErrorBody {
        error: ErrorInner {
            code,
            message: message.as_ref(),
            target: target(),
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Microsoft Graph's error body `{"error":{"code","message","innerError":{...}}}`.
pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": rfc3339(OffsetDateTime::now_utc()),
                "request-id": target(),
                "client-request-id": target(),
            }
        }
    });
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// A Defender error a handler returns; rendered as `{"error":{"code","message","target"}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_error(self.status, self.code, self.message)
    }
}

impl From<ODataError> for ApiError {
    fn from(e: ODataError) -> Self {
        bad_request(e.code(), e.to_string())
    }
}

/// What handlers return.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// 404 `ResourceNotFound`.
pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "ResourceNotFound",
        message: message.into(),
    }
}

/// 400 with a code.
pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code,
        message: message.into(),
    }
}

/// A single entity with its `@odata.context`.
#[derive(Serialize)]
pub(crate) struct Entity<T> {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(flatten)]
    pub inner: T,
}

/// `200` with an entity and `#<set>/$entity` context.
pub(crate) fn entity<T: Serialize>(context: &str, inner: T) -> Response {
    entity_with_status(StatusCode::OK, context, inner)
}

/// An entity response with a chosen status (201 for created actions).
pub(crate) fn entity_with_status<T: Serialize>(
    status: StatusCode,
    context: &str,
    inner: T,
) -> Response {
    json(
        status,
        &Entity {
            context: format!("{CONTEXT_BASE}{context}"),
            inner,
        },
    )
}

#[derive(Serialize)]
struct Collection<T> {
    #[serde(rename = "@odata.context")]
    context: String,
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

/// Where the request came from and how to page it: everything needed for a nextLink.
pub(crate) struct Paging<'a> {
    /// `http://host:port` (or the configured next-link base).
    pub origin: &'a str,
    /// The request path as received.
    pub path: &'a str,
    /// The request's query options.
    pub opts: &'a QueryOptions,
    /// Items per page.
    pub size: usize,
    /// Whether nextLinks are emitted at all.
    pub next_links: bool,
    /// A [`super::FaultKind::RepeatPage`] fault's `$skip`: the nextLink goes there whatever
    /// the page held.
    pub forced_next_skip: Option<usize>,
}

/// Takes one page (`skip`, `size`) from `items` and says whether more follow.
pub(crate) fn paginate<T>(
    items: impl Iterator<Item = T>,
    skip: usize,
    size: usize,
) -> (Vec<T>, bool) {
    let mut page: Vec<T> = items.skip(skip).take(size.saturating_add(1)).collect();
    let more = page.len() > size;
    page.truncate(size);
    (page, more)
}

/// A collection response; adds `@odata.nextLink` when `more` and next links are enabled.
pub(crate) fn collection<T: Serialize>(
    context: &str,
    value: Vec<T>,
    more: bool,
    paging: &Paging<'_>,
) -> Response {
    let next_link = match paging.forced_next_skip {
        Some(skip) => Some(next_link_at(paging, skip)),
        _ => (more && paging.next_links)
            .then(|| next_link_at(paging, paging.opts.skip + paging.size)),
    };
    json(
        StatusCode::OK,
        &Collection {
            context: format!("{CONTEXT_BASE}{context}"),
            value,
            next_link,
        },
    )
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~'(),:/$*!@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn next_link_at(p: &Paging<'_>, skip: usize) -> String {
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(f) = &p.opts.filter {
        params.push(("$filter".into(), f.clone()));
    }
    if let Some(t) = p.opts.top {
        params.push(("$top".into(), t.to_string()));
    }
    if let Some(e) = &p.opts.expand {
        params.push(("$expand".into(), e.clone()));
    }
    params.extend(p.opts.other.iter().cloned());
    params.push(("$skip".into(), skip.to_string()));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!(
        "{}{}?{}",
        p.origin.trim_end_matches('/'),
        p.path,
        query.join("&")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn iso_has_seven_fractional_digits_and_z() {
        let t = datetime!(2021-01-26 20:33:57.722_023_900 UTC);
        assert_eq!(iso(t), "2021-01-26T20:33:57.7220239Z");
    }

    #[test]
    fn paginate_reports_whether_more_items_follow() {
        let (page, more) = paginate(0..10, 0, 4);
        assert_eq!(page, vec![0, 1, 2, 3]);
        assert!(more);
        let (page, more) = paginate(0..10, 8, 4);
        assert_eq!(page, vec![8, 9]);
        assert!(!more);
        let (page, more) = paginate(0..8, 4, 4);
        assert_eq!(page.len(), 4);
        assert!(!more);
    }

    #[test]
    fn next_link_keeps_filter_and_top_and_advances_skip() {
        let opts =
            QueryOptions::parse(Some("$filter=riskScore+eq+'High'&$top=2&$skip=2")).expect("q");
        let p = Paging {
            origin: "http://127.0.0.1:9",
            path: "/api/machines",
            opts: &opts,
            size: 2,
            next_links: true,
            forced_next_skip: None,
        };
        let link = next_link_at(&p, p.opts.skip + p.size);
        assert_eq!(
            link,
            "http://127.0.0.1:9/api/machines?$filter=riskScore%20eq%20'High'&$top=2&$skip=4"
        );
        let parsed = url::Url::parse(&link).expect("url");
        let q = QueryOptions::parse(parsed.query()).expect("q");
        assert_eq!(q.filter.as_deref(), Some("riskScore eq 'High'"));
        assert_eq!(q.skip, 4);
    }
}
