//! Reading the files the configuration names (the TOML file, secret and assertion files) with
//! a size cap, and describing their errors without ever repeating a value: a TOML file or a
//! secret file may hold the client secret, so an error names the file, the position and the key,
//! never the offending text.

use std::io::Read as _;
use std::path::Path;

use figment::error::{Actual, Kind};

/// Largest configuration file read (a real one is a few KiB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;
/// Largest secret or client-assertion file read (a secret is ~40 bytes, a signed JWT ~2 KiB).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads `path` as UTF-8 text, refusing files over `max` bytes without reading past the cap
/// (`/dev/zero` fails at once). The error text never contains the file's content.
pub fn read_capped(path: &Path, max: u64) -> Result<String, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{} is larger than {max} bytes; it cannot be the file meant here",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The TOML syntax error in `text`, if any, as "line L, column C (key `k`)": the line's text
/// is left out because it may hold a secret.
pub fn toml_syntax_error(text: &str) -> Option<String> {
    let err = toml::from_str::<toml::Table>(text).err()?;
    let at = err.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let key = key_at_line(text, line)
        .map(|k| format!(" in the value of key `{k}`"))
        .unwrap_or_default();
    Some(format!(
        "TOML syntax error at line {line}, column {column}{key} (the line is not shown: it may hold a secret)"
    ))
}

/// The dotted key assigned on line `line` (1-based), prefixed with its `[table]`, when the
/// line has the `key = value` shape.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut table = String::new();
    for (i, l) in text.lines().enumerate() {
        let trimmed = l.trim();
        if i + 1 == line {
            let (key, _) = trimmed.split_once('=')?;
            let key = key.trim();
            let is_key = !key.is_empty()
                && key.len() <= 128
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-. ".contains(c));
            if !is_key {
                return None;
            }
            return Some(if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            });
        }
        if trimmed.starts_with('[') {
            table = trimmed
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .chars()
                .take(128)
                .collect();
        }
    }
    None
}

/// One figment error as "key `k`: what is wrong", naming the kind of the value found but never
/// the value itself.
pub fn describe_figment_error(err: &figment::Error) -> String {
    let key = if err.path.is_empty() {
        String::new()
    } else {
        format!("key `{}`: ", err.path.join("."))
    };
    let what = match &err.kind {
        Kind::Message(m) => m.chars().take(200).collect(),
        Kind::InvalidType(actual, expected) => {
            format!("found {}, expected {expected}", actual_kind(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid {}, expected {expected}", actual_kind(actual))
        }
        Kind::InvalidLength(len, expected) => format!("invalid length {len}, expected {expected}"),
        Kind::UnknownVariant(_, expected) => {
            format!("unknown value, expected one of: {}", expected.join(", "))
        }
        Kind::UnknownField(field, expected) => {
            let field: String = field.chars().take(128).collect();
            if expected.is_empty() {
                format!("unknown key `{field}`")
            } else {
                format!(
                    "unknown key `{field}`, expected one of: {}",
                    expected.join(", ")
                )
            }
        }
        Kind::MissingField(field) => format!("missing key `{field}`"),
        Kind::DuplicateField(field) => format!("duplicate key `{field}`"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".into(),
        Kind::Unsupported(actual) => format!("unsupported {}", actual_kind(actual)),
        Kind::UnsupportedKey(actual, _) => format!("unsupported key type {}", actual_kind(actual)),
    };
    format!("{key}{what}")
}

fn actual_kind(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "an empty value",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        _ => "a value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_column_and_key_but_not_the_text() {
        let text = "listen = \"127.0.0.1:1\"\n[defender]\nclient_secret = \"hunter2-secret\n";
        let msg = toml_syntax_error(text).expect("syntax error");
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("defender.client_secret"), "{msg}");
        assert!(toml_syntax_error("a = 1\n").is_none());
    }

    #[test]
    fn oversized_files_are_refused_without_reading_them_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 70 * 1024]).expect("write");
        let err = read_capped(&path, MAX_SECRET_FILE_BYTES).expect_err("too big");
        assert!(err.contains("larger than 65536 bytes"), "{err}");
        std::fs::write(&path, "ok\n").expect("write");
        assert_eq!(
            read_capped(&path, MAX_SECRET_FILE_BYTES).as_deref(),
            Ok("ok\n")
        );
    }
}
