//! Typed configuration: defaults, then an optional TOML file (`--config FILE`), then environment
//! variables and flags (clap reads both, flags win). Everything is resolved and validated once at
//! start-up into [`Config`]; nothing reads the environment after that.
//!
//! The flag, environment variable and TOML key names are a stable interface (deployments and
//! tests outside the repo set them); README.md "Configuration" lists them all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::defender::{Cloud, Credential, DefenderSettings, RateLimitSettings};

pub mod admin;
mod callers;
pub(crate) mod file;
pub mod fleet;
mod limits;
mod security;

pub use file::{MAX_CONFIG_FILE_BYTES, MAX_SECRET_FILE_BYTES};
pub use limits::{
    DEFAULT_MAX_REQUEST_MESSAGE_BYTES, DEFAULT_MAX_RESPONSE_MESSAGE_BYTES, MAX_CACHE_SECS,
    ServerLimits,
};
pub use security::TlsFiles;

/// The default gRPC listen address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read or has a wrong key or type.
    #[error("config file {path}: {message}")]
    File {
        /// The file given with `--config`.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A value is present but unusable.
    #[error("invalid setting `{setting}`: {message}")]
    Invalid {
        /// The setting's name (TOML key or environment variable).
        setting: &'static str,
        /// What was wrong and how to fix it.
        message: String,
    },
    /// A setting needed while the integration is enabled is missing.
    #[error(
        "missing setting `{setting}`: {message} (or set `enabled = false` / DEFENDER_BRIDGE_ENABLED=false to run with the integration disabled)"
    )]
    Missing {
        /// The setting's name.
        setting: &'static str,
        /// Where it can be given.
        message: String,
    },
}

/// Which advanced hunting API `RunHuntingQuery` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HuntingBackend {
    /// Microsoft Graph `POST /v1.0/security/runHuntingQuery` (current; `ThreatHunting.Read.All`).
    #[default]
    Graph,
    /// Defender's `POST /api/advancedqueries/run` (being retired; `AdvancedQuery.Read.All`).
    Defender,
}

impl FromStr for HuntingBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "graph" => Ok(Self::Graph),
            "defender" => Ok(Self::Defender),
            other => Err(format!(
                "unknown hunting backend `{other}`: use `graph` or `defender`"
            )),
        }
    }
}

impl std::fmt::Display for HuntingBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Graph => "graph",
            Self::Defender => "defender",
        })
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The settings a `serve` command line (or `demo`) can give; every one also reads an environment
/// variable. `None` means "not given here": the file or the default applies.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags and environment variables override its values.
    #[arg(long, env = "DEFENDER_BRIDGE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// gRPC listen address. A non-loopback address requires a callers file and TLS (or
    /// --insecure-plaintext behind a sidecar that terminates mTLS). [default: 127.0.0.1:50051]
    #[arg(long, env = "DEFENDER_BRIDGE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Callers file (TOML): API keys, certificate identities and token issuers allowed to call,
    /// with their roles. Required on a non-loopback address.
    #[arg(long, env = "DEFENDER_BRIDGE_CALLERS", value_name = "FILE")]
    pub callers: Option<PathBuf>,
    /// Server certificate chain (PEM, leaf first). Serves TLS 1.2/1.3 with --tls-key; both
    /// files are re-read when they change and on SIGHUP.
    #[arg(long, env = "DEFENDER_BRIDGE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of the server certificate (PEM; should be readable by the owner only).
    #[arg(long, env = "DEFENDER_BRIDGE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) for client certificates: every client must then present a certificate
    /// that chains to it (mTLS). Re-read like the server certificate.
    #[arg(long, env = "DEFENDER_BRIDGE_TLS_CLIENT_CA", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address, for a service-mesh sidecar that terminates
    /// mTLS in front of the service. Still requires a callers file; logged as a warning.
    #[arg(long, env = "DEFENDER_BRIDGE_INSECURE_PLAINTEXT", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub insecure_plaintext: Option<bool>,
    /// Extra host names accepted in `Host` / `:authority` (comma-separated; `*.example.com`
    /// for subdomains, `*` for any). Loopback names and IP addresses are always accepted;
    /// other names are refused (DNS rebinding protection).
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_ALLOWED_HOSTS",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Option<Vec<String>>,
    /// Accept gRPC-Web (browser) calls, and HTTP/1.1 for them. [default: false]
    #[arg(long, env = "DEFENDER_BRIDGE_GRPC_WEB", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub grpc_web: Option<bool>,
    /// Origins allowed to make gRPC-Web calls from a browser (comma-separated, e.g.
    /// https://app.example.com); requests and CORS preflights from other origins are refused.
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_GRPC_WEB_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub grpc_web_origins: Option<Vec<String>>,
    /// Whether the Defender integration is enabled. When false every RPC answers
    /// FAILED_PRECONDITION / INTEGRATION_DISABLED and health reports NOT_SERVING. [default: true]
    #[arg(long, env = "DEFENDER_BRIDGE_ENABLED", value_name = "BOOL")]
    pub enabled: Option<bool>,
    /// Entra tenant (directory) id of the Defender tenant.
    #[arg(long, env = "DEFENDER_TENANT_ID", value_name = "GUID")]
    pub tenant_id: Option<String>,
    /// Application (client) id of the Entra app registration.
    #[arg(long, env = "DEFENDER_CLIENT_ID", value_name = "GUID")]
    pub client_id: Option<String>,
    /// Client secret of the app, from the DEFENDER_CLIENT_SECRET environment variable only (a
    /// flag would show in `ps`); filled in by [`ServeArgs::with_secret_from_env`].
    #[arg(skip)]
    pub client_secret: Option<SecretString>,
    /// File holding the client secret (first line used); alternative to DEFENDER_CLIENT_SECRET.
    #[arg(long, env = "DEFENDER_CLIENT_SECRET_FILE", value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// File holding a signed client assertion (JWT) for certificate credentials, used instead of a
    /// secret.
    #[arg(long, env = "DEFENDER_CLIENT_ASSERTION_FILE", value_name = "FILE")]
    pub client_assertion_file: Option<PathBuf>,
    /// Cloud: commercial, gcc, gcc-high or dod. Picks login, API, Graph and portal hosts and
    /// token scopes. [default: commercial]
    #[arg(long, env = "DEFENDER_CLOUD", value_name = "CLOUD")]
    pub cloud: Option<String>,
    /// Defender API base URL override (regional host, simulator); requests go to
    /// {API_URL}/api/... Token scopes do not change.
    #[arg(long, env = "DEFENDER_API_URL", value_name = "URL")]
    pub api_url: Option<Url>,
    /// Entra login base URL override; tokens come from {LOGIN_URL}/{tenant}/oauth2/v2.0/token.
    #[arg(long, env = "DEFENDER_LOGIN_URL", value_name = "URL")]
    pub login_url: Option<Url>,
    /// Defender portal base URL override used for the links in EndpointRisk.
    #[arg(long, env = "DEFENDER_PORTAL_URL", value_name = "URL")]
    pub portal_url: Option<Url>,
    /// Microsoft Graph base URL override; hunting goes to
    /// {GRAPH_URL}/v1.0/security/runHuntingQuery.
    #[arg(long, env = "DEFENDER_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<Url>,
    /// Advanced hunting backend: graph (Microsoft Graph runHuntingQuery) or defender
    /// (advancedqueries/run, being retired). [default: graph]
    #[arg(long, env = "DEFENDER_HUNTING_BACKEND", value_name = "BACKEND")]
    pub hunting_backend: Option<String>,
    /// This replica's share of the tenant's Defender rate budget (0 < share <= 1), e.g. 0.25
    /// for one of four replicas. [default: 1.0]
    #[arg(long, env = "DEFENDER_BRIDGE_RATE_SHARE", value_name = "FRACTION")]
    pub rate_share: Option<f64>,
    /// Append-only JSON-lines audit log of actions.
    #[arg(long, env = "DEFENDER_BRIDGE_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// How long after an action POST whose answer was lost (timeout, cut connection, 5xx) the
    /// service keeps looking for the action in Defender's list before settling it as "not
    /// taken", in seconds (1 to 3600). Within it, a retry with the same request_id waits and
    /// never sends the action again. [default: 120]
    #[arg(long, env = "DEFENDER_BRIDGE_ACTION_SETTLE_SECS", value_name = "SECS")]
    pub action_settle_secs: Option<u64>,
    /// How long, after SIGTERM or Ctrl-C, in-flight calls may take to finish before remaining
    /// connections are closed, in seconds. [default: 10]
    #[arg(long, env = "DEFENDER_BRIDGE_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Log format: human or json. [default: human]
    #[arg(long, env = "DEFENDER_BRIDGE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// File holding the log filter in RUST_LOG syntax (e.g. `info,defender_bridge::access=warn`;
    /// `#` comment lines allowed), re-read on SIGHUP. Without it RUST_LOG applies, fixed until a
    /// restart. [default: RUST_LOG, else info]
    #[arg(long, env = "DEFENDER_BRIDGE_LOG_FILTER_FILE", value_name = "FILE")]
    pub log_filter_file: Option<PathBuf>,
    /// Client connections open at once (1 to 1,000,000); further clients wait until one
    /// closes. [default: 512]
    #[arg(long, env = "DEFENDER_BRIDGE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<u64>,
    /// HTTP/2 concurrent streams (calls) allowed on one connection, advertised to clients
    /// (1 to 100,000). [default: 200]
    #[arg(long, env = "DEFENDER_BRIDGE_MAX_CONCURRENT_STREAMS", value_name = "N")]
    pub max_concurrent_streams: Option<u64>,
    /// Seconds a connection may stay open with no call in flight, including a client that
    /// never completes its first request (1 to 604,800). [default: 300]
    #[arg(long, env = "DEFENDER_BRIDGE_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// StreamFleetRisk streams open at once across all callers (1 to 10,000); more are refused
    /// with RESOURCE_EXHAUSTED. [default: 8]
    #[arg(long, env = "DEFENDER_BRIDGE_MAX_FLEET_STREAMS", value_name = "N")]
    pub max_fleet_streams: Option<u64>,
    /// Seconds between HTTP/2 keep-alive pings; a client that does not answer one within 20 s
    /// is disconnected. 0 turns them off (0 to 86,400). [default: 60]
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_HTTP2_KEEPALIVE_SECS",
        value_name = "SECS"
    )]
    pub http2_keepalive_secs: Option<u64>,
    /// Deadline of a read RPC whose caller set none, in seconds: upstream calls, retries and
    /// rate-budget waits all end within it. [default: 30]
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_DEFAULT_DEADLINE_SECS",
        value_name = "SECS"
    )]
    pub default_deadline_secs: Option<u64>,
    /// Largest request message accepted, in bytes after decompression (1 KiB to 256 MiB);
    /// larger ones are refused with OUT_OF_RANGE. [default: 4194304]
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_MAX_REQUEST_MESSAGE_BYTES",
        value_name = "BYTES"
    )]
    pub max_request_message_bytes: Option<u64>,
    /// Largest response message sent, in bytes (4 MiB to 1 GiB). [default: 16777216]
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_MAX_RESPONSE_MESSAGE_BYTES",
        value_name = "BYTES"
    )]
    pub max_response_message_bytes: Option<u64>,
    /// Calls per minute of one caller without its own `rate_per_minute` in the callers file
    /// (1 to 1,000,000). [default: 600]
    #[arg(long, env = "DEFENDER_BRIDGE_CALLER_RATE_PER_MINUTE", value_name = "N")]
    pub caller_rate_per_minute: Option<u64>,
    /// Calls one caller may have in flight at once (a stream counts until it ends), without its
    /// own `max_concurrent` (1 to 100,000). [default: 32]
    #[arg(long, env = "DEFENDER_BRIDGE_CALLER_MAX_CONCURRENT", value_name = "N")]
    pub caller_max_concurrent: Option<u64>,
    /// Heavy calls (RunHuntingQuery, BatchGetEndpointRisks, StreamFleetRisk) per minute of one
    /// caller; never more than the caller's own rate (1 to 1,000,000). [default: 30]
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_CALLER_HEAVY_RATE_PER_MINUTE",
        value_name = "N"
    )]
    pub caller_heavy_rate_per_minute: Option<u64>,
    /// Heavy calls one caller may have in flight at once (1 to 100,000). [default: 2]
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_CALLER_HEAVY_MAX_CONCURRENT",
        value_name = "N"
    )]
    pub caller_heavy_max_concurrent: Option<u64>,
    /// Admin HTTP listener for /metrics, /healthz and /readyz (plain HTTP, no caller
    /// authentication: keep it on loopback or a pod network), or `off`.
    /// [default: 127.0.0.1:9464; port 0 when --listen has port 0]
    #[arg(long, env = "DEFENDER_BRIDGE_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// The fleet table's flags (docs/fleet-table.md).
    #[command(flatten)]
    pub fleet: fleet::FleetArgs,
}

impl ServeArgs {
    /// Reads `DEFENDER_CLIENT_SECRET` from the environment into `client_secret`.
    pub fn with_secret_from_env(mut self) -> Self {
        if self.client_secret.is_none() {
            self.client_secret = std::env::var("DEFENDER_CLIENT_SECRET")
                .ok()
                .map(SecretString::from);
        }
        self
    }
}

/// The optional TOML file. Keys mirror the flags; see README.md "Configuration".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    log_format: Option<LogFormat>,
    log_filter_file: Option<PathBuf>,
    audit_log: Option<PathBuf>,
    action_settle_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    default_deadline_secs: Option<u64>,
    caller_rate_per_minute: Option<u64>,
    caller_max_concurrent: Option<u64>,
    caller_heavy_rate_per_minute: Option<u64>,
    caller_heavy_max_concurrent: Option<u64>,
    #[serde(default)]
    defender: FileDefender,
    #[serde(default)]
    cache: FileCache,
    #[serde(default)]
    limits: limits::FileLimits,
    #[serde(default)]
    tls: security::FileTls,
    callers: Option<PathBuf>,
    insecure_plaintext: Option<bool>,
    allowed_hosts: Option<Vec<String>>,
    grpc_web: Option<bool>,
    grpc_web_origins: Option<Vec<String>>,
    admin_listen: Option<String>,
    #[serde(default)]
    fleet: fleet::FileFleet,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDefender {
    cloud: Option<String>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    client_secret_file: Option<PathBuf>,
    client_assertion_file: Option<PathBuf>,
    api_url: Option<Url>,
    login_url: Option<Url>,
    portal_url: Option<Url>,
    graph_url: Option<Url>,
    hunting_backend: Option<String>,
    rate_limits: Option<bool>,
    rate_share: Option<f64>,
    request_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCache {
    risk_ttl_secs: Option<u64>,
    stale_max_age_secs: Option<u64>,
    negative_ttl_secs: Option<u64>,
    lookup_ttl_secs: Option<u64>,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
}

/// Cache bounds and lifetimes (used by the risk read side).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// How long a computed endpoint risk is served from the cache.
    pub risk_ttl: Duration,
    /// How old a cached risk may be and still be served (`stale = true`) while Defender fails.
    pub stale_max_age: Duration,
    /// How long a "not found" is remembered.
    pub negative_ttl: Duration,
    /// How long an IP / hostname → machine look-up is reused.
    pub lookup_ttl: Duration,
    /// Maximum number of entries per cache.
    pub max_entries: u64,
    /// Maximum approximate memory per cache, in bytes.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            risk_ttl: Duration::from_secs(300),
            stale_max_age: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(30),
            lookup_ttl: Duration::from_secs(300),
            max_entries: 100_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The fully resolved configuration of a `serve` (or `demo`) process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Whether the integration is enabled.
    pub enabled: bool,
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// The log filter file (`--log-filter-file`), re-read on SIGHUP.
    pub log_filter_file: Option<PathBuf>,
    /// The file the client secret or assertion was read from, re-read on SIGHUP (`None` when
    /// the credential came from the environment or the config file itself).
    pub credential_file: Option<CredentialFile>,
    /// Audit log path, if any.
    pub audit_log: Option<PathBuf>,
    /// How long an ambiguous action is looked for before it is settled as not taken.
    pub action_settle_window: Duration,
    /// Defender connection settings; `None` when the integration is disabled.
    pub defender: Option<DefenderSettings>,
    /// Portal base URL for links (cloud default unless overridden).
    pub portal_url: Url,
    /// Advanced hunting backend.
    pub hunting_backend: HuntingBackend,
    /// Cache settings.
    pub cache: CacheConfig,
    /// Drain period after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Connection, stream and idle limits of the gRPC listener.
    pub limits: ServerLimits,
    /// Deadline of a read RPC whose caller set none.
    pub default_deadline: Duration,
    /// The callers file (`--callers`); its content is read by the caller authentication.
    pub callers: Option<PathBuf>,
    /// TLS certificate files; `None` serves plaintext.
    pub tls: Option<TlsFiles>,
    /// Plaintext on a non-loopback address was asked for explicitly (a sidecar does TLS).
    pub insecure_plaintext: bool,
    /// Host names accepted in `Host` / `:authority` besides loopback names and IP addresses
    /// (lower case; `*.suffix` and `*` allowed).
    pub allowed_hosts: Vec<String>,
    /// gRPC-Web (and HTTP/1.1 for it) is accepted.
    pub grpc_web: bool,
    /// Browser origins allowed to call (`scheme://host[:port]`, lower case).
    pub grpc_web_origins: Vec<String>,
    /// Default per-caller limits (used only with a callers file).
    pub caller_limits: crate::auth::CallerLimitSettings,
    /// Admin HTTP listener (`/metrics`, `/healthz`, `/readyz`); `None` when `off`.
    pub admin_listen: Option<SocketAddr>,
    /// The fleet table (docs/fleet-table.md).
    pub fleet: fleet::FleetConfig,
}

impl Config {
    /// Resolves defaults < file < environment/flags and validates the result.
    pub fn resolve(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let fd = file.defender;
        let enabled = args.enabled.or(file.enabled).unwrap_or(true);
        let listen = match args.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse().map_err(|_| ConfigError::Invalid {
                setting: "listen",
                message: "bad built-in default".into(),
            })?,
        };
        let file_security = security::FileSecurity {
            callers: file.callers,
            insecure_plaintext: file.insecure_plaintext,
            allowed_hosts: file.allowed_hosts,
            grpc_web: file.grpc_web,
            grpc_web_origins: file.grpc_web_origins,
        };
        let security = security::resolve(args, file_security, file.tls, listen)?;
        let cloud_name = args
            .cloud
            .clone()
            .or(fd.cloud)
            .unwrap_or_else(|| "commercial".into());
        let cloud = Cloud::from_str(&cloud_name).map_err(|_| ConfigError::Invalid {
            setting: "DEFENDER_CLOUD",
            message: format!("unknown cloud `{cloud_name}`: use commercial, gcc, gcc-high or dod"),
        })?;
        let hunting_backend = match args.hunting_backend.clone().or(fd.hunting_backend) {
            Some(s) => HuntingBackend::from_str(&s).map_err(|message| ConfigError::Invalid {
                setting: "DEFENDER_HUNTING_BACKEND",
                message,
            })?,
            None => HuntingBackend::default(),
        };
        let portal_url = args
            .portal_url
            .clone()
            .or(fd.portal_url)
            .unwrap_or_else(|| cloud.portal_url());
        let rate_share = args.rate_share.or(fd.rate_share).unwrap_or(1.0);
        if !(rate_share > 0.0 && rate_share <= 1.0) {
            return Err(ConfigError::Invalid {
                setting: "DEFENDER_BRIDGE_RATE_SHARE",
                message: format!("{rate_share} is not in (0, 1]"),
            });
        }
        let cache = resolve_cache(file.cache)?;
        let caller_limits = callers::resolve_limits([
            args.caller_rate_per_minute.or(file.caller_rate_per_minute),
            args.caller_max_concurrent.or(file.caller_max_concurrent),
            args.caller_heavy_rate_per_minute
                .or(file.caller_heavy_rate_per_minute),
            args.caller_heavy_max_concurrent
                .or(file.caller_heavy_max_concurrent),
        ])?;
        let server_limits = limits::resolve(args, file.limits)?;
        let admin_listen = admin::resolve(
            args.admin_listen
                .as_deref()
                .or(file.admin_listen.as_deref()),
            listen,
        )?;
        let fleet = fleet::resolve(&args.fleet, file.fleet)?;

        let mut credential_file = None;
        let defender = if enabled {
            let tenant_id = required(
                args.tenant_id.clone().or(fd.tenant_id),
                "DEFENDER_TENANT_ID",
            )?;
            let client_id = required(
                args.client_id.clone().or(fd.client_id),
                "DEFENDER_CLIENT_ID",
            )?;
            let (credential, from_file) = resolve_credential(
                args,
                fd.client_secret,
                fd.client_secret_file,
                fd.client_assertion_file,
            )?;
            credential_file = from_file;
            let mut settings = DefenderSettings::new(cloud, tenant_id, client_id, credential);
            settings.api_url = args.api_url.clone().or(fd.api_url);
            settings.login_url = args.login_url.clone().or(fd.login_url);
            settings.graph_url = args.graph_url.clone().or(fd.graph_url);
            settings.rate_limits = RateLimitSettings {
                enabled: fd.rate_limits.unwrap_or(true),
                share: rate_share,
            };
            if let Some(secs) = fd.request_timeout_secs {
                settings.request_timeout =
                    limits::secs("defender.request_timeout_secs", secs, 1, 3600)?;
            }
            Some(settings)
        } else {
            None
        };

        Ok(Self {
            enabled,
            listen,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            log_filter_file: args.log_filter_file.clone().or(file.log_filter_file),
            credential_file,
            audit_log: args.audit_log.clone().or(file.audit_log),
            action_settle_window: settle_window(
                args.action_settle_secs.or(file.action_settle_secs),
            )?,
            defender,
            portal_url,
            hunting_backend,
            cache,
            shutdown_grace: limits::secs(
                "DEFENDER_BRIDGE_SHUTDOWN_GRACE_SECS",
                args.shutdown_grace_secs
                    .or(file.shutdown_grace_secs)
                    .unwrap_or(10),
                0,
                3600,
            )?,
            limits: server_limits,
            default_deadline: limits::secs(
                "DEFENDER_BRIDGE_DEFAULT_DEADLINE_SECS",
                args.default_deadline_secs
                    .or(file.default_deadline_secs)
                    .unwrap_or(30),
                1,
                3600,
            )?,
            callers: security.callers,
            tls: security.tls,
            insecure_plaintext: security.insecure_plaintext,
            allowed_hosts: security.allowed_hosts,
            grpc_web: security.grpc_web,
            grpc_web_origins: security.grpc_web_origins,
            caller_limits,
            admin_listen,
            fleet,
        })
    }
}

/// The action settle window: 1 s to 1 h (a window shorter than Defender's own processing of a
/// late request would let a retry act twice; longer keeps retries waiting for nothing).
fn settle_window(secs: Option<u64>) -> Result<Duration, ConfigError> {
    match secs {
        None => Ok(crate::actions::DEFAULT_SETTLE_WINDOW),
        Some(secs @ 1..=3600) => Ok(Duration::from_secs(secs)),
        Some(secs) => Err(ConfigError::Invalid {
            setting: "action_settle_secs",
            message: format!("{secs} is out of range: give 1 to 3600 seconds"),
        }),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let fail = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(fail("not found or not a file".into()));
    }
    let text = file::read_capped(path, MAX_CONFIG_FILE_BYTES).map_err(fail)?;
    // figment's own parse errors quote the offending line, which may hold the client secret:
    // check the syntax first and report only the position and the key.
    if let Some(message) = file::toml_syntax_error(&text) {
        return Err(fail(message));
    }
    Figment::from(Toml::string(&text)).extract().map_err(|e| {
        let messages: Vec<String> = e
            .into_iter()
            .map(|e| file::describe_figment_error(&e))
            .collect();
        fail(messages.join("; "))
    })
}

fn resolve_cache(file: FileCache) -> Result<CacheConfig, ConfigError> {
    let d = CacheConfig::default();
    let ttl = |setting, value: Option<u64>, default: Duration| match value {
        Some(v) => limits::secs(setting, v, 0, MAX_CACHE_SECS),
        None => Ok(default),
    };
    Ok(CacheConfig {
        risk_ttl: ttl("cache.risk_ttl_secs", file.risk_ttl_secs, d.risk_ttl)?,
        stale_max_age: ttl(
            "cache.stale_max_age_secs",
            file.stale_max_age_secs,
            d.stale_max_age,
        )?,
        negative_ttl: ttl(
            "cache.negative_ttl_secs",
            file.negative_ttl_secs,
            d.negative_ttl,
        )?,
        lookup_ttl: ttl("cache.lookup_ttl_secs", file.lookup_ttl_secs, d.lookup_ttl)?,
        max_entries: file.max_entries.unwrap_or(d.max_entries).max(1),
        max_bytes: file.max_bytes.unwrap_or(d.max_bytes).max(1024),
    })
}

fn required(value: Option<String>, setting: &'static str) -> Result<String, ConfigError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ConfigError::Missing {
            setting,
            message: format!("set {setting} or the matching key in the config file"),
        }),
    }
}

/// A credential kept in a file, re-read on SIGHUP (see [`CredentialFile::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFile {
    /// The file.
    pub path: PathBuf,
    /// It holds a client assertion (certificate credential) rather than a client secret.
    pub assertion: bool,
}

impl CredentialFile {
    /// Reads the credential again (first line, trimmed; an empty or oversized file is an error
    /// that never quotes the content).
    pub fn read(&self) -> Result<Credential, ConfigError> {
        if self.assertion {
            Ok(Credential::Certificate {
                assertion: read_secret_file(&self.path, "DEFENDER_CLIENT_ASSERTION_FILE")?,
            })
        } else {
            Ok(Credential::Secret(read_secret_file(
                &self.path,
                "DEFENDER_CLIENT_SECRET_FILE",
            )?))
        }
    }
}

fn resolve_credential(
    args: &ServeArgs,
    file_secret: Option<SecretString>,
    file_secret_file: Option<PathBuf>,
    file_assertion_file: Option<PathBuf>,
) -> Result<(Credential, Option<CredentialFile>), ConfigError> {
    if let Some(secret) = &args.client_secret {
        let trimmed = secret.expose_secret().trim();
        if !trimmed.is_empty() {
            return Ok((
                Credential::Secret(SecretString::from(trimmed.to_owned())),
                None,
            ));
        }
    }
    if let Some(path) = args.client_secret_file.clone().or(file_secret_file) {
        let file = CredentialFile {
            path,
            assertion: false,
        };
        return Ok((file.read()?, Some(file)));
    }
    if let Some(secret) = file_secret {
        return Ok((Credential::Secret(secret), None));
    }
    if let Some(path) = args.client_assertion_file.clone().or(file_assertion_file) {
        let file = CredentialFile {
            path,
            assertion: true,
        };
        return Ok((file.read()?, Some(file)));
    }
    Err(ConfigError::Missing {
        setting: "DEFENDER_CLIENT_SECRET",
        message: "set DEFENDER_CLIENT_SECRET, DEFENDER_CLIENT_SECRET_FILE, \
                  DEFENDER_CLIENT_ASSERTION_FILE or defender.client_secret in the config file"
            .into(),
    })
}

fn read_secret_file(path: &Path, setting: &'static str) -> Result<SecretString, ConfigError> {
    let text = file::read_capped(path, MAX_SECRET_FILE_BYTES)
        .map_err(|message| ConfigError::Invalid { setting, message })?;
    let first = text.lines().next().unwrap_or("").trim().to_owned();
    if first.is_empty() {
        return Err(ConfigError::Invalid {
            setting,
            message: format!("{} is empty", path.display()),
        });
    }
    Ok(SecretString::from(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_secret: Some(SecretString::from("s3cret-value")),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn defaults_listen_on_loopback_and_enable_the_integration() {
        let cfg = Config::resolve(&args()).expect("valid");
        assert_eq!(cfg.listen.to_string(), DEFAULT_LISTEN);
        assert!(cfg.enabled);
        assert_eq!(cfg.hunting_backend, HuntingBackend::Graph);
    }

    #[test]
    fn refuses_a_non_loopback_listen_address() {
        let mut a = args();
        a.listen = Some("0.0.0.0:50051".parse().expect("addr"));
        let err = Config::resolve(&a).expect_err("must refuse");
        assert!(err.to_string().contains("authenticated"), "{err}");
    }

    #[test]
    fn missing_secret_names_every_way_to_give_it() {
        let mut a = args();
        a.client_secret = None;
        let err = Config::resolve(&a).expect_err("must fail");
        assert!(
            err.to_string().contains("DEFENDER_CLIENT_SECRET_FILE"),
            "{err}"
        );
    }

    #[test]
    fn disabled_integration_needs_no_credentials() {
        let a = ServeArgs {
            enabled: Some(false),
            ..ServeArgs::default()
        };
        let cfg = Config::resolve(&a).expect("valid");
        assert!(cfg.defender.is_none());
    }

    #[test]
    fn secret_never_appears_in_debug_output() {
        let cfg = Config::resolve(&args()).expect("valid");
        assert!(!format!("{cfg:?}").contains("s3cret-value"));
    }

    #[test]
    fn file_values_are_overridden_by_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\n[defender]\ncloud = \"gcc-high\"\nhunting_backend = \"defender\"\n[cache]\nrisk_ttl_secs = 60\n",
        )
        .expect("write");
        let mut a = args();
        a.config = Some(path);
        a.listen = Some("127.0.0.1:7000".parse().expect("addr"));
        let cfg = Config::resolve(&a).expect("valid");
        assert_eq!(cfg.listen.port(), 7000);
        assert_eq!(cfg.hunting_backend, HuntingBackend::Defender);
        assert_eq!(cfg.cache.risk_ttl, Duration::from_secs(60));
        assert_eq!(cfg.portal_url.host_str(), Some("security.microsoft.us"));
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lissen = \"127.0.0.1:6000\"\n").expect("write");
        let mut a = args();
        a.config = Some(path);
        assert!(Config::resolve(&a).is_err());
    }
}
