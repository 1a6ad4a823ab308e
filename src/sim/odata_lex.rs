//! The OData `$filter` tokenizer and Defender's accepted date-time literal forms.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::odata::ODataError;

/// A `$filter` token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    Comma,
    Colon,
    Slash,
    Ident(String),
    Str(String),
    Lit(String),
}

pub(crate) fn tokenize(s: &str) -> Result<Vec<Tok>, ODataError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | ',' | ':' | '/' => {
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    ':' => Tok::Colon,
                    _ => Tok::Slash,
                });
                i += 1;
            }
            '\'' => {
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(ODataError::Syntax("unterminated string literal".into()));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            lit.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(lit));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | ':' | '-' | '+'))
                {
                    i += 1;
                }
                out.push(Tok::Lit(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                i = i.max(start + 1);
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(ODataError::Syntax(format!(
                    "unexpected character '{other}'"
                )));
            }
        }
    }
    Ok(out)
}

/// Parses the OData/ISO-8601 date forms Defender accepts: `2018-08-01`, `2018-08-01Z`,
/// `2019-11-22T00:00:00Z`, `2019-11-22T00:00:00.1234567+02:00`, `2019-11-22T00:00Z`.
/// A missing offset means UTC.
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let date_part = s.get(..10)?;
    let mut it = date_part.split('-');
    let year: i32 = it.next()?.parse().ok()?;
    let month: u8 = it.next()?.parse().ok()?;
    let day: u8 = it.next()?.parse().ok()?;
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    let mut rest = &s[10..];
    let mut time = Time::MIDNIGHT;
    if let Some(t) = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')) {
        let end = t.find(['Z', 'z', '+', '-']).unwrap_or(t.len());
        let (clock, zone) = t.split_at(end);
        let mut parts = clock.split(':');
        let h: u8 = parts.next()?.parse().ok()?;
        let m: u8 = parts.next()?.parse().ok()?;
        let (sec, nanos) = match parts.next() {
            None => (0, 0),
            Some(sec) => {
                let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
                let whole: u8 = whole.parse().ok()?;
                if frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                let nanos = if frac.is_empty() {
                    0
                } else {
                    format!("{frac:0<9}").parse().ok()?
                };
                (whole, nanos)
            }
        };
        if parts.next().is_some() {
            return None;
        }
        time = Time::from_hms_nano(h, m, sec, nanos).ok()?;
        rest = zone;
    }
    let offset = match rest {
        "" | "Z" | "z" => UtcOffset::UTC,
        z => {
            let sign = match z.chars().next()? {
                '+' => 1,
                '-' => -1,
                _ => return None,
            };
            let (hh, mm) = z[1..].split_once(':').unwrap_or((&z[1..], "0"));
            // Unsigned digits only: a signed part (`--128:00`) made `sign * hh` overflow.
            let part = |p: &str| -> Option<i8> {
                if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                p.parse().ok()
            };
            UtcOffset::from_hms(sign * part(hh)?, sign * part(mm)?, 0).ok()?
        }
    };
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_escaped_by_doubling() {
        let toks = tokenize("computerDnsName eq 'o''brien'").expect("tokens");
        assert_eq!(toks[2], Tok::Str("o'brien".into()));
    }

    #[test]
    fn every_accepted_date_form_parses_to_the_same_instant_rules() {
        let utc = parse_datetime("2019-11-22T00:00:00Z").expect("utc");
        assert_eq!(parse_datetime("2019-11-22"), Some(utc));
        assert_eq!(parse_datetime("2019-11-22Z"), Some(utc));
        assert_eq!(parse_datetime("2019-11-22T00:00Z"), Some(utc));
        assert_eq!(
            parse_datetime("2019-11-22T02:00:00.0000000+02:00"),
            Some(utc)
        );
        assert!(parse_datetime("2019-11-22T25:00:00Z").is_none());
        assert!(parse_datetime("2019-02-30").is_none());
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn signed_offset_parts_are_refused_not_overflowed() {
        // `-1 * -128` overflowed: a panic in debug builds (the simulator of the tests).
        assert!(parse_datetime("2026-01-01T00:00:00--128:00").is_none());
        assert!(parse_datetime("2026-01-01T00:00:00-00:-128").is_none());
        assert!(parse_datetime("2026-01-01T00:00:00+-5:00").is_none());
        assert_eq!(
            parse_datetime("2026-01-01T00:00:00-05:30"),
            parse_datetime("2026-01-01T05:30:00Z")
        );
    }

    #[test]
    fn literals_and_identifiers_are_separate_tokens() {
        let toks = tokenize("lastSeen gt 2018-08-01Z and startswith(x,'a')").expect("tokens");
        assert_eq!(toks[2], Tok::Lit("2018-08-01Z".into()));
        assert_eq!(toks[5], Tok::LParen);
        assert!(tokenize("a eq 'open").is_err());
        assert!(tokenize("a # b").is_err());
    }
}
