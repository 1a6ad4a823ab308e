//! Advanced hunting, both Defender's `POST /api/advancedqueries/run` and Graph's
//! `POST /v1.0/security/runHuntingQuery`, over a tiny KQL subset evaluated against the fleet:
//! tables `DeviceInfo`, `DeviceTvmSoftwareVulnerabilities` and `AlertInfo`, operators
//! `where` (==, !=, =~, !~, contains, has, startswith, endswith, <, <=, >, >=; literals in
//! quotes, numbers, `datetime(...)`, `ago(7d)`), `take`/`limit`, `project` and `count`.
//! Anything else is a 400, so a test never mistakes an unsupported query for an empty result.
//!
//! Documented query shapes: `DeviceInfo | take N`, a filter by device id
//! (`DeviceInfo | where DeviceId == '<id>'`), and `DeviceInfo` alone on a fleet of 100,000
//! machines (`sim --machines 100000`), which returns 100,000 rows (about 40 MB): the backends'
//! row limit, beyond which results are cut. An empty query or an unknown table is the real
//! 400. Answers keep the real member order (`Schema` before `Results`; Graph's
//! `@odata.context`, `schema`, `results`) because a streaming reader depends on it. `DeviceInfo`
//! has every kind of cell: DateTime, String, Int64, Boolean and a dynamic `LoggedOnUsers`
//! (sent as JSON text, as Defender sends dynamic values).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use time::{Duration, OffsetDateTime};

use super::odata::parse_datetime;
use super::routes::Call;
use super::wire::{self, ApiError, iso};

/// Defender's result cap.
const MAX_ROWS: usize = 100_000;
/// Our own cap on query text (the real limit is undocumented).
const MAX_QUERY: usize = 64 * 1024;

type Row = Vec<Json>;
/// Column names and types.
type Columns = Vec<(String, &'static str)>;
/// A query's schema and its rows as JSON objects.
type QueryResult = (Columns, Vec<Map<String, Json>>);

struct Table<'a> {
    columns: Columns,
    rows: Box<dyn Iterator<Item = Row> + 'a>,
}

fn device_info<'a>(c: &'a Call<'_>) -> Table<'a> {
    let cols = [
        ("Timestamp", "DateTime"),
        ("DeviceId", "String"),
        ("DeviceName", "String"),
        ("OSPlatform", "String"),
        ("OSBuild", "Int64"),
        ("PublicIP", "String"),
        ("MachineGroup", "String"),
        ("ExposureLevel", "String"),
        ("OnboardingStatus", "String"),
        ("IsAzureADJoined", "Boolean"),
        ("LoggedOnUsers", "Object"),
    ];
    Table {
        columns: cols.iter().map(|(n, t)| ((*n).to_string(), *t)).collect(),
        rows: Box::new(c.fleet().machines().iter().map(|m| {
            let users = json!([{
                "UserName": format!("user{:05}", m.index),
                "DomainName": "CONTOSO",
                "Sid": format!("S-1-5-21-1004336348-1177238915-682003330-{}", 1000 + m.index),
            }]);
            vec![
                json!(iso(m.last_seen)),
                json!(m.id),
                json!(m.computer_dns_name),
                json!(m.os_platform),
                json!(m.os_build),
                json!(m.last_external_ip_address),
                json!(m.rbac_group_name.unwrap_or("UnassignedGroup")),
                json!(m.exposure_level),
                json!("Onboarded"),
                json!(m.aad_device_id.is_some()),
                json!(users.to_string()),
            ]
        })),
    }
}

fn tvm<'a>(c: &'a Call<'_>) -> Table<'a> {
    let cols = [
        ("DeviceId", "String"),
        ("DeviceName", "String"),
        ("OSPlatform", "String"),
        ("SoftwareVendor", "String"),
        ("SoftwareName", "String"),
        ("SoftwareVersion", "String"),
        ("CveId", "String"),
        ("VulnerabilitySeverityLevel", "String"),
        ("RecommendedSecurityUpdateId", "String"),
    ];
    let fleet = c.fleet();
    let (vulns, software) = (fleet.vulnerabilities(), fleet.software());
    Table {
        columns: cols.iter().map(|(n, t)| ((*n).to_string(), *t)).collect(),
        rows: Box::new(fleet.machines().iter().flat_map(move |m| {
            m.vulnerabilities.iter().filter_map(move |i| {
                let v = vulns.get(*i as usize)?;
                let s = software.get(v.software as usize)?;
                Some(vec![
                    json!(m.id),
                    json!(m.computer_dns_name),
                    json!(m.os_platform),
                    json!(s.vendor),
                    json!(s.name),
                    json!(s.version),
                    json!(v.id),
                    json!(v.severity),
                    json!(v.fixing_kb),
                ])
            })
        })),
    }
}

fn alert_info<'a>(c: &'a Call<'_>) -> Table<'a> {
    let cols = [
        ("Timestamp", "DateTime"),
        ("AlertId", "String"),
        ("Title", "String"),
        ("Category", "String"),
        ("Severity", "String"),
        ("ServiceSource", "String"),
        ("DetectionSource", "String"),
    ];
    Table {
        columns: cols.iter().map(|(n, t)| ((*n).to_string(), *t)).collect(),
        rows: Box::new(c.fleet().all_alerts().map(|a| {
            vec![
                json!(iso(a.alert_creation_time)),
                json!(a.id),
                json!(a.title()),
                json!(a.category()),
                json!(a.severity),
                json!("Microsoft Defender for Endpoint"),
                json!(a.detection_source()),
            ]
        })),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    EqCi,
    NeCi,
    Contains,
    Has,
    StartsWith,
    EndsWith,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Op {
    Take(usize),
    Where {
        column: String,
        op: CmpOp,
        value: Json,
    },
    Project(Vec<String>),
    Count,
}

fn split_pipes(q: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    for ch in q.chars() {
        match (ch, quote) {
            ('\'' | '"', None) => quote = Some(ch),
            (c, Some(qc)) if c == qc => quote = None,
            ('|', None) => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = parts.last_mut() {
            last.push(ch);
        }
    }
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

fn parse_literal(raw: &str) -> Result<Json, String> {
    let raw = raw.trim();
    if let Some(s) = raw
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
    {
        return Ok(json!(s));
    }
    if let Some(inner) = raw
        .strip_prefix("datetime(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return parse_datetime(inner.trim_matches(['\'', '"']))
            .map(|d| json!(iso(d)))
            .ok_or_else(|| format!("invalid datetime '{inner}'"));
    }
    if let Some(inner) = raw.strip_prefix("ago(").and_then(|r| r.strip_suffix(')')) {
        let (n, unit) = inner.split_at(inner.len().saturating_sub(1));
        let n: i64 = n
            .trim()
            .parse()
            .map_err(|_| format!("invalid timespan '{inner}'"))?;
        let span = match unit {
            "d" => Duration::days(n),
            "h" => Duration::hours(n),
            "m" => Duration::minutes(n),
            "s" => Duration::seconds(n),
            _ => return Err(format!("invalid timespan '{inner}'")),
        };
        return Ok(json!(iso(OffsetDateTime::now_utc() - span)));
    }
    raw.parse::<f64>()
        .map(|n| json!(n))
        .map_err(|_| format!("cannot parse literal '{raw}'"))
}

fn parse_op(text: &str) -> Result<Op, String> {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    match word.to_ascii_lowercase().as_str() {
        "take" | "limit" => rest
            .parse()
            .map(Op::Take)
            .map_err(|_| format!("'{word}' needs a row count")),
        "count" if rest.is_empty() => Ok(Op::Count),
        "project" => {
            let cols: Vec<String> = rest
                .split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            if cols.is_empty() {
                Err("'project' needs columns".into())
            } else {
                Ok(Op::Project(cols))
            }
        }
        "where" => {
            let (column, rest) = rest
                .split_once(char::is_whitespace)
                .ok_or("incomplete 'where'")?;
            let rest = rest.trim_start();
            let (op_text, value) = rest
                .split_once(char::is_whitespace)
                .ok_or("incomplete 'where'")?;
            let op = match op_text.to_ascii_lowercase().as_str() {
                "==" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "=~" => CmpOp::EqCi,
                "!~" => CmpOp::NeCi,
                "contains" => CmpOp::Contains,
                "has" => CmpOp::Has,
                "startswith" => CmpOp::StartsWith,
                "endswith" => CmpOp::EndsWith,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                ">=" => CmpOp::Ge,
                other => return Err(format!("unsupported comparison '{other}'")),
            };
            Ok(Op::Where {
                column: column.to_string(),
                op,
                value: parse_literal(value)?,
            })
        }
        other => Err(format!(
            "operator '{other}' is not supported by the simulator (where, take, limit, project, count)"
        )),
    }
}

fn matches(cell: &Json, op: CmpOp, value: &Json) -> bool {
    if let (Some(a), Some(b)) = (cell.as_f64(), value.as_f64()) {
        return match op {
            CmpOp::Eq | CmpOp::EqCi => a == b,
            CmpOp::Ne | CmpOp::NeCi => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            _ => false,
        };
    }
    let a = cell.as_str().unwrap_or_default();
    let b = value.as_str().unwrap_or_default();
    let (la, lb) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::EqCi => la == lb,
        CmpOp::NeCi => la != lb,
        CmpOp::Contains | CmpOp::Has => la.contains(&lb),
        CmpOp::StartsWith => la.starts_with(&lb),
        CmpOp::EndsWith => la.ends_with(&lb),
        // ISO-8601 strings of one format order like the instants they name.
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

/// Runs `query`; returns (schema, rows as objects) or a message for a 400.
fn run(c: &Call<'_>, query: &str) -> Result<QueryResult, String> {
    if query.len() > MAX_QUERY {
        return Err("Query text exceeds the simulator's 64 KB limit".into());
    }
    let parts = split_pipes(query);
    let table_name = parts.first().map(String::as_str).unwrap_or_default();
    let mut table = match table_name.to_ascii_lowercase().as_str() {
        "deviceinfo" => device_info(c),
        "devicetvmsoftwarevulnerabilities" => tvm(c),
        "alertinfo" => alert_info(c),
        "" => return Err("The query is empty".into()),
        other => {
            return Err(format!(
                "Failed to resolve table or column expression named '{other}'"
            ));
        }
    };
    let ops: Vec<Op> = parts[1..]
        .iter()
        .map(|p| parse_op(p))
        .collect::<Result<_, _>>()?;
    for op in ops {
        let col = |name: &str, t: &Table<'_>| {
            t.columns
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("Failed to resolve column '{name}'"))
        };
        table =
            match op {
                Op::Take(n) => Table {
                    columns: table.columns,
                    rows: Box::new(table.rows.take(n)),
                },
                Op::Where { column, op, value } => {
                    let i = col(&column, &table)?;
                    Table {
                        columns: table.columns,
                        rows: Box::new(table.rows.filter(move |r| {
                            r.get(i).is_some_and(|cell| matches(cell, op, &value))
                        })),
                    }
                }
                Op::Project(names) => {
                    let idx: Vec<usize> = names
                        .iter()
                        .map(|n| col(n, &table))
                        .collect::<Result<_, _>>()?;
                    let columns = idx.iter().map(|i| table.columns[*i].clone()).collect();
                    Table {
                        columns,
                        rows: Box::new(
                            table
                                .rows
                                .map(move |r| idx.iter().map(|i| r[*i].clone()).collect()),
                        ),
                    }
                }
                Op::Count => {
                    let n = table.rows.count();
                    Table {
                        columns: vec![("Count".into(), "Int64")],
                        rows: Box::new(std::iter::once(vec![json!(n)])),
                    }
                }
            };
    }
    let columns = table.columns;
    let rows = table
        .rows
        .take(MAX_ROWS)
        .map(|r| {
            columns
                .iter()
                .map(|(n, _)| n.clone())
                .zip(r)
                .collect::<Map<String, Json>>()
        })
        .collect();
    Ok((columns, rows))
}

fn query_text(body: &[u8], case_insensitive: bool) -> Result<String, ApiError> {
    let invalid = || wire::bad_request("InvalidRequestBody", "Request body is incorrect");
    let Ok(Json::Object(map)) = serde_json::from_slice::<Json>(body) else {
        return Err(invalid());
    };
    let value = map.get("Query").or_else(|| {
        case_insensitive
            .then(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("query"))
                    .map(|(_, v)| v)
            })
            .flatten()
    });
    match value {
        Some(Json::String(q)) => Ok(q.clone()),
        None if map.keys().any(|k| k.eq_ignore_ascii_case("query")) => Err(invalid()),
        _ => Err(wire::bad_request(
            "MissingRequiredParameter",
            "Missing required parameter 'Query'",
        )),
    }
}

/// Defender's answer, members in Defender's order.
#[derive(Serialize)]
struct DefenderAnswer {
    #[serde(rename = "Schema")]
    schema: Vec<Json>,
    #[serde(rename = "Results")]
    results: Vec<Map<String, Json>>,
}

/// Graph's `huntingQueryResults`, members in Graph's order.
#[derive(Serialize)]
struct GraphAnswer {
    #[serde(rename = "@odata.context")]
    context: &'static str,
    schema: Vec<Json>,
    results: Vec<Map<String, Json>>,
}

/// `POST /api/advancedqueries/run`.
pub(crate) fn defender(c: &Call<'_>) -> Response {
    let query = match query_text(c.body, false) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match run(c, &query) {
        Ok((schema, rows)) => {
            let schema: Vec<Json> = schema
                .iter()
                .map(|(n, t)| json!({"Name": n, "Type": t}))
                .collect();
            wire::json(
                StatusCode::OK,
                &DefenderAnswer {
                    schema,
                    results: rows,
                },
            )
        }
        Err(message) => wire::bad_request("BadRequest", message).into_response(),
    }
}

/// `POST /v1.0/security/runHuntingQuery` (Graph).
pub(crate) fn graph(c: &Call<'_>) -> Response {
    let query = match query_text(c.body, true) {
        Ok(q) => q,
        Err(_) => {
            return wire::graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The 'Query' property is required",
            );
        }
    };
    match run(c, &query) {
        Ok((schema, rows)) => {
            let schema: Vec<Json> = schema
                .iter()
                .map(|(n, t)| json!({"name": n, "type": t}))
                .collect();
            wire::json(
                StatusCode::OK,
                &GraphAnswer {
                    context: "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
                    schema,
                    results: rows,
                },
            )
        }
        Err(message) => wire::graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_inside_quotes_do_not_split() {
        assert_eq!(
            split_pipes("T | where A == 'x|y' | take 1"),
            vec!["T", "where A == 'x|y'", "take 1"]
        );
    }

    #[test]
    fn operators_parse_and_unknown_ones_are_refused() {
        assert!(matches!(parse_op("take 5"), Ok(Op::Take(5))));
        assert!(matches!(
            parse_op("where DeviceName startswith 'ws-'"),
            Ok(Op::Where {
                op: CmpOp::StartsWith,
                ..
            })
        ));
        assert!(matches!(
            parse_op("where Timestamp > ago(7d)"),
            Ok(Op::Where { op: CmpOp::Gt, .. })
        ));
        assert!(parse_op("summarize count() by OSPlatform").is_err());
        assert!(parse_op("take many").is_err());
    }

    #[test]
    fn comparisons_follow_kql_case_rules() {
        assert!(matches(
            &json!("Windows11"),
            CmpOp::EqCi,
            &json!("windows11")
        ));
        assert!(!matches(
            &json!("Windows11"),
            CmpOp::Eq,
            &json!("windows11")
        ));
        assert!(matches(&json!(5), CmpOp::Gt, &json!(3.0)));
    }
}
