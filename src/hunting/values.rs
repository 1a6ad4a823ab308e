//! Hunting cells, JSON → `google.protobuf.Value`, following the proto's `HuntingRow` contract:
//! null is `null_value`; DateTime is an RFC 3339 string; numbers are `number_value`, except
//! integers beyond ±2^53, which become decimal strings (a double would silently change them,
//! and device ids or hashes in Int64 columns must survive); dynamic columns become structs or
//! lists, also when the backend sent the dynamic value as JSON text, as Defender does.

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as ProtoValue};
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::defender::{DefenderTime, HuntingColumn};

/// The largest magnitude a double holds exactly for every integer up to it.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// How a column's values are converted, from the backend's type name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// `DateTime`: normalised to RFC 3339 text.
    DateTime,
    /// `Int32`, `Int64`, `Long`, `Int`: numeric text becomes a number.
    Integer,
    /// `Object`, `Dynamic`: JSON text becomes a struct or list.
    Dynamic,
    /// Anything else: converted by its JSON type.
    Other,
}

impl ColumnKind {
    /// The kind of a backend type name (any case).
    pub fn of(type_name: &str) -> Self {
        match type_name.to_ascii_lowercase().as_str() {
            "datetime" | "date" => Self::DateTime,
            "int" | "int32" | "int64" | "long" => Self::Integer,
            "object" | "dynamic" => Self::Dynamic,
            _ => Self::Other,
        }
    }
}

/// A schema prepared for converting rows: column names in order and their kinds.
#[derive(Clone, Debug, Default)]
pub struct RowShape {
    columns: Vec<(String, ColumnKind)>,
}

impl RowShape {
    /// The shape of `columns`.
    pub fn new(columns: &[HuntingColumn]) -> Self {
        Self {
            columns: columns
                .iter()
                .map(|c| (c.name.clone(), ColumnKind::of(&c.r#type)))
                .collect(),
        }
    }

    /// One value per column, in column order; a column missing from `row` is null. Members of
    /// the row that are not in the schema are dropped.
    pub fn convert(&self, mut row: Map<String, Value>) -> Vec<ProtoValue> {
        self.columns
            .iter()
            .map(|(name, kind)| cell(row.remove(name).unwrap_or(Value::Null), *kind))
            .collect()
    }
}

/// A schema guessed from a row, for an answer that lists rows before its schema: the row's
/// member names in order and a type name from each value.
pub fn infer_schema(row: &Map<String, Value>) -> Vec<HuntingColumn> {
    row.iter()
        .map(|(name, value)| HuntingColumn {
            name: name.clone(),
            r#type: match value {
                Value::Bool(_) => "Boolean",
                Value::Number(n) if n.is_f64() => "Double",
                Value::Number(_) => "Int64",
                Value::String(_) => "String",
                Value::Array(_) | Value::Object(_) => "Object",
                Value::Null => "",
            }
            .to_owned(),
        })
        .collect()
}

/// One cell of a column of `kind`.
pub fn cell(value: Value, kind: ColumnKind) -> ProtoValue {
    match (kind, value) {
        (ColumnKind::DateTime, Value::String(text)) => string(datetime_text(text)),
        (ColumnKind::Integer, Value::String(text)) => match text.trim().parse::<i64>() {
            Ok(n) => integer(i128::from(n)),
            Err(_) => string(text),
        },
        (ColumnKind::Dynamic, Value::String(text)) => dynamic_text(text),
        (_, value) => json(value),
    }
}

/// Any JSON value, recursively.
pub fn json(value: Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => return number(&n),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(json).collect(),
        }),
        Value::Object(map) => Kind::StructValue(structure(map)),
    };
    ProtoValue { kind: Some(kind) }
}

/// A JSON object as a `Struct`.
pub fn structure(map: Map<String, Value>) -> Struct {
    Struct {
        fields: map.into_iter().map(|(k, v)| (k, json(v))).collect(),
    }
}

fn number(n: &Number) -> ProtoValue {
    if let Some(i) = n.as_i64() {
        return integer(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return integer(i128::from(u));
    }
    match n.as_f64() {
        Some(f) => ProtoValue {
            kind: Some(Kind::NumberValue(f)),
        },
        None => string(n.to_string()),
    }
}

fn integer(i: i128) -> ProtoValue {
    if i.unsigned_abs() <= u128::from(MAX_EXACT_INTEGER) {
        // Exact: |i| <= 2^53.
        let n = i as f64;
        ProtoValue {
            kind: Some(Kind::NumberValue(n)),
        }
    } else {
        string(i.to_string())
    }
}

fn string(s: String) -> ProtoValue {
    ProtoValue {
        kind: Some(Kind::StringValue(s)),
    }
}

/// RFC 3339 as sent when it already is (keeping all 7 of Defender's fractional digits), else
/// re-formatted from the lenient parse, else the text unchanged.
fn datetime_text(text: String) -> String {
    let strict =
        text.as_bytes().get(10) == Some(&b'T') && OffsetDateTime::parse(&text, &Rfc3339).is_ok();
    if strict {
        return text;
    }
    match DefenderTime::parse(&text) {
        parsed @ DefenderTime::Parsed(_) => parsed.to_string(),
        DefenderTime::Unparsed(_) => text,
    }
}

/// Dynamic values sent as JSON text (`"{\"a\":1}"`) become structured; other text stays text.
fn dynamic_text(text: String) -> ProtoValue {
    let looks_structured = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if looks_structured {
        if let Ok(value @ (Value::Object(_) | Value::Array(_))) =
            serde_json::from_str::<Value>(&text)
        {
            return json(value);
        }
    }
    string(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json as j;

    fn kind(v: &ProtoValue) -> &Kind {
        v.kind.as_ref().expect("kind")
    }

    #[test]
    fn scalars_keep_their_types() {
        assert_eq!(kind(&json(j!(null))), &Kind::NullValue(0));
        assert_eq!(kind(&json(j!(true))), &Kind::BoolValue(true));
        assert_eq!(kind(&json(j!(2.5))), &Kind::NumberValue(2.5));
        assert_eq!(kind(&json(j!(-7))), &Kind::NumberValue(-7.0));
        assert_eq!(kind(&json(j!("x"))), &Kind::StringValue("x".into()));
    }

    #[test]
    fn integers_beyond_two_to_the_53_become_decimal_strings() {
        assert_eq!(
            kind(&json(j!(9_007_199_254_740_992_u64))),
            &Kind::NumberValue(9_007_199_254_740_992.0)
        );
        assert_eq!(
            kind(&json(j!(9_007_199_254_740_993_u64))),
            &Kind::StringValue("9007199254740993".into())
        );
        assert_eq!(
            kind(&json(j!(-9_007_199_254_740_993_i64))),
            &Kind::StringValue("-9007199254740993".into())
        );
        assert_eq!(
            kind(&json(j!(u64::MAX))),
            &Kind::StringValue(u64::MAX.to_string())
        );
        // Inside dynamic values too.
        let nested = json(j!({"a": [18_446_744_073_709_551_615_u64]}));
        let Kind::StructValue(s) = kind(&nested) else {
            panic!("struct")
        };
        let Some(Kind::ListValue(list)) = s.fields["a"].kind.as_ref() else {
            panic!("list")
        };
        assert_eq!(
            list.values[0].kind,
            Some(Kind::StringValue("18446744073709551615".into()))
        );
    }

    #[test]
    fn integer_columns_sent_as_text_become_numbers() {
        let v = cell(j!("22631"), ColumnKind::Integer);
        assert_eq!(kind(&v), &Kind::NumberValue(22631.0));
        let v = cell(j!("not a number"), ColumnKind::Integer);
        assert_eq!(kind(&v), &Kind::StringValue("not a number".into()));
    }

    #[test]
    fn datetimes_come_out_as_rfc3339_text() {
        let v = cell(j!("2020-02-05T01:10:26.2648757Z"), ColumnKind::DateTime);
        assert_eq!(
            kind(&v),
            &Kind::StringValue("2020-02-05T01:10:26.2648757Z".into())
        );
        let v = cell(j!("2020-12-30 14:17:26"), ColumnKind::DateTime);
        assert_eq!(kind(&v), &Kind::StringValue("2020-12-30T14:17:26Z".into()));
        let v = cell(j!("yesterday"), ColumnKind::DateTime);
        assert_eq!(kind(&v), &Kind::StringValue("yesterday".into()));
        assert_eq!(
            kind(&cell(j!(null), ColumnKind::DateTime)),
            &Kind::NullValue(0)
        );
    }

    #[test]
    fn dynamic_json_text_becomes_a_struct_or_list() {
        let v = cell(j!(r#"{"UserName":"alice","Count":2}"#), ColumnKind::Dynamic);
        let Kind::StructValue(s) = kind(&v) else {
            panic!("struct: {v:?}")
        };
        assert_eq!(
            s.fields["UserName"].kind,
            Some(Kind::StringValue("alice".into()))
        );
        let v = cell(j!("[1,2]"), ColumnKind::Dynamic);
        assert!(matches!(kind(&v), Kind::ListValue(l) if l.values.len() == 2));
        let v = cell(j!("{not json"), ColumnKind::Dynamic);
        assert_eq!(kind(&v), &Kind::StringValue("{not json".into()));
        let v = cell(j!({"already": true}), ColumnKind::Dynamic);
        assert!(matches!(kind(&v), Kind::StructValue(_)));
        // Text in a String column is never reinterpreted.
        let v = cell(j!("[1,2]"), ColumnKind::Other);
        assert_eq!(kind(&v), &Kind::StringValue("[1,2]".into()));
    }

    #[test]
    fn rows_follow_schema_order_and_fill_missing_columns_with_null() {
        let shape = RowShape::new(&[
            HuntingColumn {
                name: "B".into(),
                r#type: "Int64".into(),
            },
            HuntingColumn {
                name: "A".into(),
                r#type: "String".into(),
            },
            HuntingColumn {
                name: "C".into(),
                r#type: "Boolean".into(),
            },
        ]);
        let row = j!({"A": "a", "B": 1, "extra": 5});
        let Value::Object(row) = row else { panic!() };
        let values = shape.convert(row);
        assert_eq!(values.len(), 3);
        assert_eq!(kind(&values[0]), &Kind::NumberValue(1.0));
        assert_eq!(kind(&values[1]), &Kind::StringValue("a".into()));
        assert_eq!(kind(&values[2]), &Kind::NullValue(0));
    }

    #[test]
    fn a_schema_is_inferred_from_a_row_in_member_order() {
        let Value::Object(row) = j!({"T": "x", "N": 1, "D": 1.5, "B": true, "O": {}, "Z": null})
        else {
            panic!()
        };
        let types: Vec<(String, String)> = infer_schema(&row)
            .into_iter()
            .map(|c| (c.name, c.r#type))
            .collect();
        // serde_json without `preserve_order` sorts members.
        assert!(types.contains(&("D".into(), "Double".into())));
        assert!(types.contains(&("N".into(), "Int64".into())));
        assert!(types.contains(&("B".into(), "Boolean".into())));
        assert!(types.contains(&("O".into(), "Object".into())));
        assert_eq!(types.len(), 6);
    }
}
