//! What one caller or one connection can hold (connections, streams, idle time), and the range
//! checks every numeric setting goes through, so an absurd value is a clear configuration error
//! at start-up rather than a panic or an unbounded resource (docs/limits.md).

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, ServeArgs};

/// Server limits, resolved and range-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once; further clients wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` advertised on every connection.
    pub max_concurrent_streams: u32,
    /// A connection with no call in flight for this long is closed (this also bounds a client
    /// that connects and never sends a complete request).
    pub idle_timeout: Duration,
    /// `StreamFleetRisk` streams open at once, server-wide; more are refused with
    /// RESOURCE_EXHAUSTED.
    pub max_fleet_streams: usize,
    /// Interval of HTTP/2 keep-alive pings (a peer that does not answer within 20 s is dropped);
    /// `None` turns them off.
    pub http2_keepalive: Option<Duration>,
    /// Largest request message accepted, in bytes (after decompression); larger ones are
    /// refused with OUT_OF_RANGE before they are decoded.
    pub max_request_message_bytes: usize,
    /// Largest response message sent, in bytes; a larger answer fails with OUT_OF_RANGE
    /// rather than reaching a client that would refuse it anyway.
    pub max_response_message_bytes: usize,
}

/// Default request message cap: gRPC's usual 4 MiB.
pub const DEFAULT_MAX_REQUEST_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Default response message cap: room for the largest page (1,000 risks of ~2.3 KB) several
/// times over.
pub const DEFAULT_MAX_RESPONSE_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_concurrent_streams: 200,
            idle_timeout: Duration::from_secs(300),
            max_fleet_streams: 8,
            http2_keepalive: Some(Duration::from_secs(60)),
            max_request_message_bytes: DEFAULT_MAX_REQUEST_MESSAGE_BYTES,
            max_response_message_bytes: DEFAULT_MAX_RESPONSE_MESSAGE_BYTES,
        }
    }
}

/// The `[limits]` table of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimits {
    max_connections: Option<u64>,
    max_concurrent_streams: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_fleet_streams: Option<u64>,
    http2_keepalive_secs: Option<u64>,
    max_request_message_bytes: Option<u64>,
    max_response_message_bytes: Option<u64>,
}

/// Longest accepted cache lifetime or age: beyond a month a cache entry is not a cache.
pub const MAX_CACHE_SECS: u64 = 30 * 24 * 3600;

/// `value` if it lies in `min..=max`, else an error naming the setting and the range.
pub(super) fn in_range(
    setting: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            setting,
            message: format!("{value} is out of range: use {min} to {max}"),
        })
    }
}

/// A duration in seconds within `min..=max` seconds.
pub(super) fn secs(
    setting: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    in_range(setting, value, min, max).map(Duration::from_secs)
}

pub(super) fn resolve(args: &ServeArgs, file: FileLimits) -> Result<ServerLimits, ConfigError> {
    let d = ServerLimits::default();
    let count = |setting, value: Option<u64>, default: u64, max| match value {
        Some(v) => in_range(setting, v, 1, max),
        None => Ok(default),
    };
    let max_connections = count(
        "DEFENDER_BRIDGE_MAX_CONNECTIONS",
        args.max_connections.or(file.max_connections),
        d.max_connections as u64,
        1_000_000,
    )?;
    let max_concurrent_streams = count(
        "DEFENDER_BRIDGE_MAX_CONCURRENT_STREAMS",
        args.max_concurrent_streams.or(file.max_concurrent_streams),
        u64::from(d.max_concurrent_streams),
        100_000,
    )?;
    let idle_timeout = count(
        "DEFENDER_BRIDGE_IDLE_TIMEOUT_SECS",
        args.idle_timeout_secs.or(file.idle_timeout_secs),
        d.idle_timeout.as_secs(),
        7 * 24 * 3600,
    )?;
    let max_fleet_streams = count(
        "DEFENDER_BRIDGE_MAX_FLEET_STREAMS",
        args.max_fleet_streams.or(file.max_fleet_streams),
        d.max_fleet_streams as u64,
        10_000,
    )?;
    // Requests: at least 1 KiB (every API request is far smaller); answers: at least 4 MiB, the
    // size a hunting batch may reach.
    let max_request = match args
        .max_request_message_bytes
        .or(file.max_request_message_bytes)
    {
        Some(v) => in_range(
            "DEFENDER_BRIDGE_MAX_REQUEST_MESSAGE_BYTES",
            v,
            1024,
            256 * 1024 * 1024,
        )?,
        None => d.max_request_message_bytes as u64,
    };
    let max_response = match args
        .max_response_message_bytes
        .or(file.max_response_message_bytes)
    {
        Some(v) => in_range(
            "DEFENDER_BRIDGE_MAX_RESPONSE_MESSAGE_BYTES",
            v,
            4 * 1024 * 1024,
            1024 * 1024 * 1024,
        )?,
        None => d.max_response_message_bytes as u64,
    };
    let keepalive = match args.http2_keepalive_secs.or(file.http2_keepalive_secs) {
        Some(v) => in_range("DEFENDER_BRIDGE_HTTP2_KEEPALIVE_SECS", v, 0, 24 * 3600)?,
        None => d.http2_keepalive.map_or(0, |k| k.as_secs()),
    };
    Ok(ServerLimits {
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        max_concurrent_streams: u32::try_from(max_concurrent_streams).unwrap_or(u32::MAX),
        idle_timeout: Duration::from_secs(idle_timeout),
        max_fleet_streams: usize::try_from(max_fleet_streams).unwrap_or(usize::MAX),
        http2_keepalive: (keepalive > 0).then(|| Duration::from_secs(keepalive)),
        max_request_message_bytes: usize::try_from(max_request).unwrap_or(usize::MAX),
        max_response_message_bytes: usize::try_from(max_response).unwrap_or(usize::MAX),
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::super::{Config, ServeArgs};
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_secret: Some(SecretString::from("s3cret-value")),
            ..ServeArgs::default()
        }
    }

    fn with_file(text: &str) -> (tempfile::TempDir, ServeArgs) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).expect("write");
        let mut a = args();
        a.config = Some(path);
        (dir, a)
    }

    #[test]
    fn a_toml_syntax_error_shows_position_and_key_but_never_the_secret() {
        let (_dir, a) = with_file(
            "listen = \"127.0.0.1:6000\"\n[defender]\nclient_secret = \"Zx9~very-secret-value\" oops\n",
        );
        let err = Config::resolve(&a).expect_err("syntax error").to_string();
        assert!(!err.contains("very-secret-value"), "{err}");
        assert!(!err.contains("oops"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("defender.client_secret"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn a_wrongly_typed_secret_is_not_echoed() {
        let (_dir, a) = with_file("[defender]\nclient_secret = 987654321987\n");
        let err = Config::resolve(&a).expect_err("type error").to_string();
        assert!(!err.contains("987654321987"), "{err}");
        assert!(err.contains("defender.client_secret"), "{err}");
        let (_dir, a) = with_file("log_format = \"Zx9-secretish\"\n");
        let err = Config::resolve(&a).expect_err("bad variant").to_string();
        assert!(!err.contains("Zx9-secretish"), "{err}");
    }

    #[test]
    fn an_endless_secret_file_is_refused_at_the_cap() {
        let mut a = args();
        a.client_secret = None;
        a.client_secret_file = Some("/dev/zero".into());
        let err = Config::resolve(&a).expect_err("too large").to_string();
        assert!(err.contains("DEFENDER_CLIENT_SECRET_FILE"), "{err}");
        assert!(err.contains("larger than 65536 bytes"), "{err}");
    }

    #[test]
    fn a_thousand_year_cache_ttl_is_a_config_error_not_a_panic() {
        let thousand_years = 1000u64 * 365 * 24 * 3600;
        let (_dir, a) = with_file(&format!("[cache]\nrisk_ttl_secs = {thousand_years}\n"));
        let err = Config::resolve(&a).expect_err("out of range").to_string();
        assert!(err.contains("cache.risk_ttl_secs"), "{err}");
        assert!(err.contains("out of range"), "{err}");
        let (_dir, a) = with_file(&format!("[cache]\nstale_max_age_secs = {MAX_CACHE_SECS}\n"));
        assert!(Config::resolve(&a).is_ok());
    }

    #[test]
    fn limits_have_defaults_flags_file_values_and_ranges() {
        let cfg = Config::resolve(&args()).expect("valid");
        assert_eq!(cfg.limits, ServerLimits::default());
        let (_dir, mut a) = with_file(
            "[limits]\nmax_connections = 7\nidle_timeout_secs = 9\nhttp2_keepalive_secs = 0\n",
        );
        a.max_connections = Some(5);
        let cfg = Config::resolve(&a).expect("valid");
        assert_eq!(cfg.limits.max_connections, 5);
        assert_eq!(cfg.limits.idle_timeout, Duration::from_secs(9));
        assert_eq!(cfg.limits.http2_keepalive, None);
        for bad in [
            ServeArgs {
                max_connections: Some(0),
                ..args()
            },
            ServeArgs {
                max_concurrent_streams: Some(u64::MAX),
                ..args()
            },
            ServeArgs {
                idle_timeout_secs: Some(0),
                ..args()
            },
            ServeArgs {
                max_fleet_streams: Some(0),
                ..args()
            },
            ServeArgs {
                shutdown_grace_secs: Some(u64::MAX),
                ..args()
            },
            ServeArgs {
                max_request_message_bytes: Some(10),
                ..args()
            },
            ServeArgs {
                max_response_message_bytes: Some(1024),
                ..args()
            },
        ] {
            let err = Config::resolve(&bad).expect_err("out of range").to_string();
            assert!(err.contains("out of range"), "{err}");
        }
    }
}
