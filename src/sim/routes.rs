//! Request dispatch: every non-control request is logged, delayed (configured latency and
//! latency faults), possibly answered by an injected fault, then routed by hand (Defender's
//! paths are case-insensitive in places and contain OData function segments such as
//! `findbyip(...)`), authenticated, checked for roles and rate-limited before its handler runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::auth::{self, Audience, IssuedToken};
use super::faults::FaultKind;
use super::odata::QueryOptions;
use super::paths::{ApiRoute, Route, RouteError, parse_route};
use super::ratelimit::ApiFamily;
use super::wire::{self, ApiError, Paging};
use super::{
    RequestRecord, Shared, actions, api_alerts, api_machines, api_tvm, control, hunting, lock,
};

/// At most this many records are kept; the oldest are dropped first.
const LOG_CAPACITY: usize = 200_000;
const MAX_BODY: usize = 4 << 20;

/// The request log.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    next: u64,
    entries: std::collections::VecDeque<(u64, RequestRecord)>,
    /// Answered Defender API (`/api/...`) requests by status, never cleared or capped.
    pub(crate) api_by_status: std::collections::BTreeMap<u16, u64>,
}

impl RequestLog {
    fn start(&mut self, record: RequestRecord) -> u64 {
        let seq = self.next;
        self.next += 1;
        if self.entries.len() >= LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back((seq, record));
        seq
    }

    fn finish(&mut self, seq: u64, status: u16) {
        if let Some((_, r)) = self.entries.iter_mut().rev().find(|(s, _)| *s == seq) {
            r.status = status;
            if r.path.starts_with("/api/") {
                *self.api_by_status.entry(status).or_default() += 1;
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        self.entries.iter().map(|(_, r)| r.clone()).collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    control::router().fallback(handle).with_state(shared)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escaped = (b == b'%')
            .then(|| Some(hex_value(*bytes.get(i + 1)?)? * 16 + hex_value(*bytes.get(i + 2)?)?))
            .flatten();
        match (b, escaped) {
            (_, Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', None) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn redacted_form(body: &[u8]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in parse_form(body) {
        if k == "client_secret" || k == "client_assertion" {
            out.append_pair(&k, "<redacted>");
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// One authenticated API call, as the handlers see it.
pub(crate) struct Call<'a> {
    pub shared: &'a Shared,
    pub origin: &'a str,
    pub path: &'a str,
    pub raw_query: Option<&'a str>,
    pub body: &'a [u8],
    pub token: &'a IssuedToken,
    /// Set by a [`super::FaultKind::RepeatPage`] fault: the nextLink's `$skip`.
    pub next_link_skip: Option<usize>,
}

impl Call<'_> {
    /// The query options, or the 400 to return.
    pub(crate) fn options(&self) -> Result<QueryOptions, ApiError> {
        Ok(QueryOptions::parse(self.raw_query)?)
    }

    /// Paging for a collection whose `$top` maximum is `max`, or the 400 to return.
    pub(crate) fn paging<'q>(
        &'q self,
        opts: &'q QueryOptions,
        max: usize,
    ) -> Result<Paging<'q>, ApiError> {
        let asked = opts.page_size(max, self.shared.config.default_page_size)?;
        // Server-driven paging answers fewer items than asked for and always links onwards.
        let server_size = (*super::lock(&self.shared.server_page_size)).filter(|n| *n > 0);
        let size = server_size.map_or(asked, |n| asked.min(n));
        Ok(Paging {
            origin: self
                .shared
                .config
                .next_link_base
                .as_deref()
                .unwrap_or(self.origin),
            path: self.path,
            opts,
            size,
            next_links: self.shared.config.next_links || size < asked,
            forced_next_skip: self.next_link_skip,
        })
    }

    pub(crate) fn fleet(&self) -> &super::Fleet {
        &self.shared.fleet
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let path = percent_decode(&raw_path, false);
    let raw_query = parts.uri.query().map(str::to_string);
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let host = parts
        .uri
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| shared.addr.to_string());
    let origin = format!("http://{host}");
    let (body, too_large) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => (b, false),
        Err(_) => (Bytes::new(), true),
    };
    let route = parse_route(&parts.method, &path);
    let is_token = matches!(route, Ok(Route::Token { .. }));
    let logged_body = if body.is_empty() {
        None
    } else if is_token {
        Some(redacted_form(&body))
    } else {
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    let seq = lock(&shared.log).start(RequestRecord {
        method: parts.method.to_string(),
        path: path.clone(),
        query: raw_query.as_deref().map(|q| percent_decode(q, true)),
        authorization: authorization.clone(),
        body: logged_body,
        status: 0,
        at: wire::rfc3339(OffsetDateTime::now_utc()),
    });
    let method = parts.method;
    let work = async move {
        let ctx = RequestContext {
            path: &path,
            raw_query: raw_query.as_deref(),
            authorization: authorization.as_deref(),
            origin: &origin,
            body: &body,
            next_link_skip: None,
        };
        let response = if too_large {
            wire::api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BadRequest",
                "The request body is too large",
            )
        } else {
            process(&shared, route, &ctx).await
        };
        lock(&shared.log).finish(seq, response.status().as_u16());
        response
    };
    if method == axum::http::Method::GET {
        return work.await;
    }
    // A request that changes something is carried out once it has arrived, even if the client
    // hangs up meanwhile (as a real server does): with a latency fault, that is a request that
    // reaches Defender after the client gave up on it.
    match tokio::spawn(work).await {
        Ok(response) => response,
        Err(_) => wire::api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "the simulator's request task failed",
        ),
    }
}

struct RequestContext<'a> {
    path: &'a str,
    raw_query: Option<&'a str>,
    authorization: Option<&'a str>,
    origin: &'a str,
    body: &'a [u8],
    next_link_skip: Option<usize>,
}

async fn process(
    shared: &Shared,
    route: Result<Route, RouteError>,
    ctx: &RequestContext<'_>,
) -> Response {
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let is_token = matches!(route, Ok(Route::Token { .. }));
    let is_graph = matches!(route, Ok(Route::GraphHunting));
    let applied = lock(&shared.faults).take(ctx.path, is_token);
    if !applied.delay.is_zero() {
        tokio::time::sleep(applied.delay).await;
    }
    if let Some(kind) = applied.terminal {
        return fault_response(shared, kind, &route, ctx, is_graph).await;
    }
    let ctx = &RequestContext {
        next_link_skip: applied.next_link_skip,
        ..*ctx
    };
    let mut response = answer(shared, route, ctx);
    if !applied.delay_answer.is_zero() {
        tokio::time::sleep(applied.delay_answer).await;
    }
    if applied.cut_body && response.status().is_success() {
        response = cut_body(response).await;
    }
    response
}

/// The same answer with the first half of its body only (see [`FaultKind::CutBody`]).
async fn cut_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = full.slice(..full.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(half))
}

fn answer(shared: &Shared, route: Result<Route, RouteError>, ctx: &RequestContext<'_>) -> Response {
    match route {
        Err(RouteError::NotFound) => {
            wire::api_error(StatusCode::NOT_FOUND, "NotFound", "Resource not found")
        }
        Err(RouteError::MethodNotAllowed) => wire::api_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The HTTP method is not allowed",
        ),
        Ok(Route::Token { tenant, v1 }) => {
            let policy = auth::TokenPolicy {
                tenant_id: &shared.config.tenant_id,
                client_id: &shared.config.client_id,
                client_secret: &shared.config.client_secret,
                roles: lock(&shared.roles).clone(),
                lifetime: Duration::from_secs(shared.config.token_lifetime_secs),
            };
            let form = parse_form(ctx.body);
            auth::token_request(&mut lock(&shared.tokens), &policy, &tenant, &form, v1)
        }
        Ok(Route::GraphHunting) => {
            let token = match authorize(
                shared,
                ctx,
                Audience::Graph,
                &["ThreatHunting.Read.All"],
                ApiFamily::Hunting,
            ) {
                Ok(t) => t,
                Err(denial) => return denial.graph_response(),
            };
            hunting::graph(&call(shared, ctx, &token))
        }
        Ok(Route::Api(api)) => {
            let token = match authorize(shared, ctx, Audience::Defender, api.roles(), api.family())
            {
                Ok(t) => t,
                Err(denial) => return denial.defender_response(api.family()),
            };
            dispatch(&call(shared, ctx, &token), api)
        }
    }
}

fn call<'a>(shared: &'a Shared, ctx: &'a RequestContext<'a>, token: &'a IssuedToken) -> Call<'a> {
    Call {
        shared,
        origin: ctx.origin,
        path: ctx.path,
        raw_query: ctx.raw_query,
        body: ctx.body,
        token,
        next_link_skip: ctx.next_link_skip,
    }
}

fn dispatch(c: &Call<'_>, api: ApiRoute) -> Response {
    let result = match api {
        ApiRoute::ListMachines => api_machines::list(c),
        ApiRoute::GetMachine(id) => api_machines::get(c, &id),
        ApiRoute::FindByIp(seg) => api_machines::find_by_ip(c, &seg),
        ApiRoute::MachineSoftware(id) => api_tvm::machine_software(c, &id),
        ApiRoute::MachineAlerts(id) => api_alerts::machine_alerts(c, &id, false),
        ApiRoute::MachineAlertsCount(id) => api_alerts::machine_alerts(c, &id, true),
        ApiRoute::ListAlerts => api_alerts::list(c),
        ApiRoute::GetAlert(id) => api_alerts::get(c, &id),
        ApiRoute::MachineVulnerabilities(id) => api_tvm::machine_vulnerabilities(c, &id),
        ApiRoute::ListVulnerabilities => api_tvm::list_vulnerabilities(c),
        ApiRoute::GetVulnerability(id) => api_tvm::get_vulnerability(c, &id),
        ApiRoute::MachinesVulnerabilities => api_tvm::machines_vulnerabilities(c),
        ApiRoute::ListSoftware => api_tvm::list_software(c),
        ApiRoute::GetSoftware(id) => api_tvm::get_software(c, &id),
        ApiRoute::SoftwareMachines(id) => api_tvm::software_machines(c, &id),
        ApiRoute::SoftwareVulnerabilities(id) => api_tvm::software_vulnerabilities(c, &id),
        ApiRoute::Isolate(id) => actions::isolate(c, &id),
        ApiRoute::Unisolate(id) => actions::unisolate(c, &id),
        ApiRoute::Scan(id) => actions::scan(c, &id),
        ApiRoute::ListActions => actions::list(c),
        ApiRoute::GetAction(id) => actions::get(c, &id),
        ApiRoute::CancelAction(id) => actions::cancel(c, &id),
        ApiRoute::AdvancedQuery => Ok(hunting::defender(c)),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Why a call was refused before its handler.
enum Denial {
    Unauthenticated(&'static str),
    Forbidden(String),
    Throttled(super::ratelimit::Throttled),
}

impl Denial {
    fn defender_response(self, family: ApiFamily) -> Response {
        match self {
            Self::Unauthenticated(m) => {
                wire::api_error(StatusCode::UNAUTHORIZED, "Unauthorized", m)
            }
            Self::Forbidden(m) => wire::api_error(StatusCode::FORBIDDEN, "Forbidden", m),
            Self::Throttled(t) => {
                let code = if family == ApiFamily::Hunting {
                    "429"
                } else {
                    "TooManyRequests"
                };
                let message = format!(
                    "API calls quota exceeded! maximum allowed {} per {}",
                    t.limit, t.window
                );
                with_retry_after(
                    wire::api_error(StatusCode::TOO_MANY_REQUESTS, code, message),
                    &t.retry_after_secs.to_string(),
                )
            }
        }
    }

    fn graph_response(self) -> Response {
        match self {
            Self::Unauthenticated(m) => {
                wire::graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m)
            }
            Self::Forbidden(m) => wire::graph_error(StatusCode::FORBIDDEN, "Forbidden", &m),
            Self::Throttled(t) => {
                let message = format!(
                    "API calls quota exceeded! maximum allowed {} per {}",
                    t.limit, t.window
                );
                with_retry_after(
                    wire::graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", &message),
                    &t.retry_after_secs.to_string(),
                )
            }
        }
    }
}

fn with_retry_after(mut r: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Authentication, then roles, then the rate budget (a 401/403 costs no quota).
fn authorize(
    shared: &Shared,
    ctx: &RequestContext<'_>,
    audience: Audience,
    roles: &[&str],
    family: ApiFamily,
) -> Result<IssuedToken, Denial> {
    let token = lock(&shared.tokens)
        .authenticate(ctx.authorization, audience, Instant::now())
        .map_err(|f| Denial::Unauthenticated(f.message()))?;
    if !roles.iter().any(|r| token.roles.iter().any(|g| g == r)) {
        return Err(Denial::Forbidden(auth::missing_roles_message(
            roles,
            &token.roles,
        )));
    }
    if shared.config.rate_limits {
        lock(&shared.limiter)
            .check(&token.tenant, family, Instant::now())
            .map_err(Denial::Throttled)?;
    }
    Ok(token)
}

fn status_code_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "Error",
    }
}

/// How long a hung request is held (well past any sane client timeout).
const HANG: Duration = Duration::from_secs(120);

async fn fault_response(
    shared: &Shared,
    kind: FaultKind,
    route: &Result<Route, RouteError>,
    ctx: &RequestContext<'_>,
    is_graph: bool,
) -> Response {
    match kind {
        FaultKind::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = format!("Simulated failure ({})", status.as_u16());
            let r = match route {
                Ok(Route::Token { .. }) => {
                    let body = serde_json::json!({
                        "error": if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS { "temporarily_unavailable" } else { "invalid_request" },
                        "error_description": message,
                    });
                    (
                        status,
                        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                        body.to_string(),
                    )
                        .into_response()
                }
                _ if is_graph => wire::graph_error(status, status_code_name(status), &message),
                _ => wire::api_error(status, status_code_name(status), message),
            };
            match retry_after {
                Some(v) => with_retry_after(r, &v),
                None => r,
            }
        }
        FaultKind::CpuQuota { retry_after } => {
            let message = "Tenant's allotted CPU resources for advanced hunting are exhausted; queries are blocked until the next cycle";
            let r = if is_graph {
                wire::graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message)
            } else {
                wire::api_error(StatusCode::TOO_MANY_REQUESTS, "429", message)
            };
            match retry_after {
                Some(v) => with_retry_after(r, &v),
                None => r,
            }
        }
        FaultKind::Unauthorized if is_graph => wire::graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has been revoked",
        ),
        FaultKind::Unauthorized => wire::api_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The access token has been revoked",
        ),
        FaultKind::TokenError { aadsts } => {
            let tenant = match route {
                Ok(Route::Token { tenant, .. }) => tenant.as_str(),
                _ => "",
            };
            let form = parse_form(ctx.body);
            let client = form
                .iter()
                .find(|(k, _)| k == "client_id")
                .map_or("", |(_, v)| v.as_str());
            auth::entra_error(aadsts, tenant, client, "")
        }
        // The queue folds latency faults into delays; they never answer a request.
        FaultKind::Latency { .. }
        | FaultKind::SlowResponse { .. }
        | FaultKind::CutBody
        | FaultKind::RepeatPage { .. } => wire::api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "latency faults do not answer requests",
        ),
        FaultKind::Hang => {
            let mut stop = shared.shutdown.subscribe();
            tokio::select! {
                () = tokio::time::sleep(HANG) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            wire::api_error(
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                "Simulated hang ended",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_plus_and_bad_escapes() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz", false), "%zz");
    }

    #[test]
    fn token_form_is_logged_with_the_secret_redacted() {
        let logged = redacted_form(b"grant_type=client_credentials&client_secret=hunter2&scope=x");
        assert!(!logged.contains("hunter2"));
        assert!(logged.contains("client_secret=%3Credacted%3E"));
    }
}
