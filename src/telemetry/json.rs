//! The JSON log line: `timestamp`, `level`, `target`, the event's fields (flattened), and
//! `spans` (each span's name and fields, outermost first).
//!
//! tracing-subscriber's own JSON format writes every field value as a string or number, so an
//! audit record became a string holding JSON, and an event field named like a top-level key
//! (`target`) appeared twice in one object. Here a field never shadows a top-level key (it is
//! renamed `<name>_field`), and the `record` field of an audit event
//! (target [`AUDIT_TARGET`]) is written as the JSON object it is.

use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The tracing target of audit records (see `actions::audit`).
pub const AUDIT_TARGET: &str = "defender_bridge::audit";

/// Keys of the line itself; an event field with one of these names is renamed.
const RESERVED: [&str; 4] = ["timestamp", "level", "target", "spans"];

/// Formats each event as one JSON object (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let timestamp = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), Value::String(timestamp));
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_string()));
        let mut fields = FieldMap {
            map: Map::new(),
            parse_record: meta.target() == AUDIT_TARGET,
        };
        event.record(&mut fields);
        for (key, value) in fields.map {
            let key = if RESERVED.contains(&key.as_str()) {
                format!("{key}_field")
            } else {
                key
            };
            line.insert(key, value);
        }
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| {
                    let mut entry = Map::new();
                    entry.insert("name".into(), Value::String(span.name().to_string()));
                    let extensions = span.extensions();
                    // The fmt layer keeps each span's fields rendered by `JsonFields`.
                    if let Some(rendered) = extensions.get::<FormattedFields<JsonFields>>() {
                        if let Ok(Value::Object(span_fields)) =
                            serde_json::from_str::<Value>(rendered.as_str())
                        {
                            entry.extend(span_fields);
                        }
                    }
                    Value::Object(entry)
                })
                .collect();
            if !spans.is_empty() {
                line.insert("spans".into(), Value::Array(spans));
            }
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields as JSON values.
struct FieldMap {
    map: Map<String, Value>,
    /// The event is an audit record: its `record` field holds a JSON object.
    parse_record: bool,
}

impl Visit for FieldMap {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.parse_record && field.name() == "record" {
            if let Ok(object @ Value::Object(_)) = serde_json::from_str(value) {
                self.map.insert(field.name().into(), object);
                return;
            }
        }
        self.map
            .insert(field.name().into(), Value::String(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.map.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.map.insert(field.name().into(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.map.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.map.insert(field.name().into(), Value::Bool(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here too (as Display wrapped in Debug); the audit record is one.
        self.record_str(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines_of(emit: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_max_level(tracing::Level::TRACE)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn an_audit_record_is_an_object_and_no_key_appears_twice() {
        let record =
            r#"{"event":"requested","request_id":"r-1","caller":{"principal":"anonymous"}}"#;
        let lines = lines_of(|| {
            let span = tracing::info_span!("call", family = "machines");
            let _entered = span.enter();
            tracing::info!(target: "defender_bridge::audit", record = %record);
            tracing::debug!(status = 503_u16, target = "corr-7", "upstream error");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let audit: Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(audit["target"], AUDIT_TARGET);
        assert_eq!(audit["record"]["event"], "requested");
        assert_eq!(audit["record"]["caller"]["principal"], "anonymous");
        assert_eq!(audit["spans"][0]["name"], "call");
        assert_eq!(audit["spans"][0]["family"], "machines");
        let upstream: Value = serde_json::from_str(&lines[1]).expect("json");
        assert_eq!(upstream["target"], module_path!());
        assert_eq!(upstream["target_field"], "corr-7");
        assert_eq!(upstream["status"], 503);
        assert_eq!(upstream["message"], "upstream error");
        assert_eq!(lines[1].matches("\"target\":").count(), 1, "{}", lines[1]);
    }

    #[test]
    fn a_record_field_outside_the_audit_target_stays_a_string() {
        let lines = lines_of(|| tracing::info!(record = r#"{"a":1}"#));
        let line: Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(line["record"], r#"{"a":1}"#);
    }
}
