//! Defender timestamps: ISO-8601 with up to 7 fractional digits, usually with `Z`, sometimes
//! without a zone (export rows: `2020-12-30 14:17:26`, UTC implied). An unparsable value is kept
//! as text rather than failing the whole response.

use std::cmp::Ordering;
use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// A Defender timestamp: parsed when possible, else the raw text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DefenderTime {
    /// A timestamp we understood (zone-less values taken as UTC).
    Parsed(OffsetDateTime),
    /// Text we could not parse, verbatim.
    Unparsed(String),
}

impl DefenderTime {
    /// Parses leniently; never fails.
    pub fn parse(text: &str) -> Self {
        parse_datetime(text).map_or_else(|| Self::Unparsed(text.to_owned()), Self::Parsed)
    }

    /// The instant, when it was parsable.
    pub fn datetime(&self) -> Option<OffsetDateTime> {
        match self {
            Self::Parsed(at) => Some(*at),
            Self::Unparsed(_) => None,
        }
    }
}

impl From<OffsetDateTime> for DefenderTime {
    fn from(at: OffsetDateTime) -> Self {
        Self::Parsed(at)
    }
}

/// Parsed values order by instant; unparsed ones sort before every parsed one (so "most recent"
/// picks a real time).
impl Ord for DefenderTime {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Parsed(a), Self::Parsed(b)) => a.cmp(b),
            (Self::Parsed(_), Self::Unparsed(_)) => Ordering::Greater,
            (Self::Unparsed(_), Self::Parsed(_)) => Ordering::Less,
            (Self::Unparsed(a), Self::Unparsed(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for DefenderTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for DefenderTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parsed(at) => match at.format(&Rfc3339) {
                Ok(text) => f.write_str(&text),
                Err(_) => write!(f, "{at}"),
            },
            Self::Unparsed(text) => f.write_str(text),
        }
    }
}

fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    // RFC 3339 in `time` takes any number of fractional digits and a `T` or space separator.
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let with_t = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let with_space = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(text, &with_t)
        .or_else(|_| PrimitiveDateTime::parse(text, &with_space))
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

impl serde::Serialize for DefenderTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DefenderTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use super::lenient::{Scalar, scalar};
        Ok(match scalar(d)? {
            Scalar::Str(text) => Self::parse(&text),
            Scalar::Int(v) => Self::Unparsed(v.to_string()),
            Scalar::Float(v) => Self::Unparsed(v.to_string()),
            Scalar::Bool(v) => Self::Unparsed(v.to_string()),
            Scalar::Nothing => Self::Unparsed(String::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_fraction_digits_with_and_without_zone() {
        let with_z = DefenderTime::parse("2021-01-26T20:33:57.7220239Z");
        let at = with_z.datetime().expect("parsed");
        assert_eq!(at.nanosecond(), 722_023_900);
        let no_zone = DefenderTime::parse("2021-01-26T20:33:57.7220239");
        assert_eq!(no_zone.datetime(), Some(at));
        let export = DefenderTime::parse("2020-12-30 14:17:26");
        assert_eq!(export.datetime().map(|d| d.hour()), Some(14));
        let short = DefenderTime::parse("2021-01-26T20:33:59.2Z");
        assert_eq!(short.datetime().map(|d| d.millisecond()), Some(200));
    }

    #[test]
    fn unparsable_text_is_kept() {
        let odd: DefenderTime = serde_json::from_str("\"last tuesday\"").expect("kept");
        assert_eq!(odd, DefenderTime::Unparsed("last tuesday".into()));
        assert_eq!(
            serde_json::to_string(&odd).expect("ser"),
            "\"last tuesday\""
        );
        assert!(odd < DefenderTime::parse("2000-01-01T00:00:00Z"));
    }

    #[test]
    fn serializes_back_to_rfc3339() {
        let t = DefenderTime::parse("2019-12-13T00:00:00Z");
        assert_eq!(
            serde_json::to_string(&t).expect("ser"),
            "\"2019-12-13T00:00:00Z\""
        );
    }
}
