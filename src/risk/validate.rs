//! Input validation for the read side, done before any upstream call so that bad input costs
//! no Defender quota and gets a precise `INVALID_FIELD` (with the field name) instead of a
//! Defender 400. The accepted forms are documented in the proto comments.

use std::net::IpAddr;

use time::{Duration, OffsetDateTime};

use crate::error::ServiceError;

/// Default page size of every list RPC.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size of every list RPC.
pub const MAX_PAGE_SIZE: usize = 1_000;
/// Most endpoints in one `BatchGetEndpointRisks`.
pub const MAX_BATCH: usize = 1_000;
/// Longest hostname (and hostname prefix) accepted: DNS's limit.
pub const MAX_HOSTNAME_LEN: usize = 253;
/// How far back `observed_at` may be: Defender's find-by-IP only searches the last 30 days.
pub const MAX_OBSERVED_AGE: Duration = Duration::days(30);
/// Clock skew tolerated for an `observed_at` in the future.
const FUTURE_SKEW: Duration = Duration::minutes(5);

/// A Defender machine id: 40 hexadecimal characters, either case; returned in lower case so
/// that cache keys agree.
pub fn machine_id(field: &str, value: &str) -> Result<String, ServiceError> {
    let value = value.trim();
    if value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ServiceError::invalid(
            field,
            "must be a Defender machine id: 40 hexadecimal characters",
        ))
    }
}

/// An IPv4 or IPv6 address (no port, no zone, no brackets).
pub fn ip_address(field: &str, value: &str) -> Result<IpAddr, ServiceError> {
    value.trim().parse::<IpAddr>().map_err(|_| {
        ServiceError::invalid(
            field,
            "must be an IPv4 address (e.g. 10.1.2.3) or an IPv6 address (e.g. fd00::1)",
        )
    })
}

/// A hostname: 1 to 253 characters, dot-separated labels of 1 to 63 letters, digits, `-` or
/// `_` (Windows names use it), no leading or trailing `-` in a label; one trailing dot is
/// dropped. Returned in lower case (Defender compares names case-insensitively).
pub fn hostname(field: &str, value: &str) -> Result<String, ServiceError> {
    let name = value.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    let bad = |why: &str| ServiceError::invalid(field, format!("must be a valid hostname: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_HOSTNAME_LEN {
        return Err(bad("longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each dot-separated label must have 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("only letters, digits, '-', '_' and '.' are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label may not start or end with '-'"));
        }
    }
    Ok(name.to_ascii_lowercase())
}

/// A hostname prefix for `ListMachines`: empty (no filter) or up to 253 hostname characters.
pub fn hostname_prefix(field: &str, value: &str) -> Result<Option<String>, ServiceError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_HOSTNAME_LEN
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ServiceError::invalid(
            field,
            "must be at most 253 characters of letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(Some(value.to_ascii_lowercase()))
}

/// A Defender enum value given as text (`health_status`, `os_platform`): empty (no filter) or
/// up to 64 letters and digits.
pub fn defender_word(field: &str, value: &str) -> Result<Option<String>, ServiceError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 64 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ServiceError::invalid(
            field,
            "must be a Defender value as Defender spells it (letters and digits, e.g. \"Active\", \"Windows11\")",
        ));
    }
    Ok(Some(value.to_string()))
}

/// A page size: 0 means [`DEFAULT_PAGE_SIZE`], 1 to [`MAX_PAGE_SIZE`] as given.
pub fn page_size(field: &str, value: i32) -> Result<usize, ServiceError> {
    match usize::try_from(value) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(ServiceError::invalid(
            field,
            format!(
                "must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}); got {value}"
            ),
        )),
    }
}

/// When an IP was seen: unset means `now`; at most 30 days back and not in the future.
pub fn observed_at(
    field: &str,
    value: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, ServiceError> {
    let Some(at) = value else {
        return Ok(now);
    };
    if at < now - MAX_OBSERVED_AGE {
        return Err(ServiceError::invalid(
            field,
            "must be within the past 30 days (Defender's find-by-IP searches no further back)",
        ));
    }
    if at > now + FUTURE_SKEW {
        return Err(ServiceError::invalid(field, "must not be in the future"));
    }
    Ok(at.min(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ServiceError) -> String {
        match err {
            ServiceError::InvalidField { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn machine_ids_are_forty_hex_characters_in_either_case() {
        let id = "1E5BC9D7E413DDD7902C2932E418702B84D0CC07";
        assert_eq!(machine_id("machine_id", id).expect("ok"), id.to_lowercase());
        for bad in [
            "",
            "xyz",
            &"a".repeat(39),
            &"a".repeat(41),
            &"g".repeat(40),
            "../../etc",
        ] {
            assert_eq!(
                field_of(machine_id("machine_id", bad).expect_err(bad)),
                "machine_id"
            );
        }
    }

    #[test]
    fn ip_addresses_parse_v4_and_v6() {
        assert!(ip_address("ip_address", "10.1.2.3").is_ok());
        assert!(ip_address("ip_address", "fd00::1").is_ok());
        for bad in [
            "",
            "10.1.2",
            "10.1.2.3:80",
            "[fd00::1]",
            "fe80::1%eth0",
            "host",
        ] {
            assert!(ip_address("ip_address", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames_follow_dns_rules() {
        assert_eq!(
            hostname("hostname", "Desk-01.Contoso.com.").expect("ok"),
            "desk-01.contoso.com"
        );
        assert_eq!(hostname("hostname", "WIN_PC").expect("ok"), "win_pc");
        let long_label = "a".repeat(64);
        let too_long = vec!["a"; 128].join("."); // 255 characters
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a b",
            "a/b",
            "a'b",
            &long_label,
            &too_long,
        ] {
            assert!(hostname("hostname", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size("page_size", 0).expect("ok"), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size("page_size", 1000).expect("ok"), 1000);
        assert!(page_size("page_size", 1001).is_err());
        assert!(page_size("page_size", -1).is_err());
    }

    #[test]
    fn observed_at_stays_within_thirty_days() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(observed_at("observed_at", None, now).expect("ok"), now);
        assert!(observed_at("observed_at", Some(now - Duration::days(29)), now).is_ok());
        assert!(observed_at("observed_at", Some(now - Duration::days(31)), now).is_err());
        assert!(observed_at("observed_at", Some(now + Duration::hours(1)), now).is_err());
    }

    #[test]
    fn filter_words_refuse_odata_syntax() {
        assert_eq!(
            defender_word("health_status", "Active")
                .expect("ok")
                .as_deref(),
            Some("Active")
        );
        assert!(defender_word("health_status", "x' or 1 eq 1").is_err());
        assert_eq!(hostname_prefix("hostname_prefix", "").expect("ok"), None);
        assert!(hostname_prefix("hostname_prefix", "a'b").is_err());
    }
}
