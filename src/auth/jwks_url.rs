//! An issuer's JWKS fetched from its URL (`jwks_url`) and refreshed in the background.
//!
//! The keys are fetched when the callers file is loaded (in the background: start-up never
//! waits on the issuer), then again when the response's `Cache-Control: max-age` runs out
//! (clamped to [`MIN_REFRESH`]..[`MAX_REFRESH`]; [`DEFAULT_REFRESH`] without one), and early
//! when a token names a key id the JWKS does not hold (an issuer rotating its keys), at most
//! once per [`UNKNOWN_KID_GAP`]. A failed fetch keeps the keys in force and is retried with a
//! growing delay. A reload of the callers file keeps the keys already fetched for the same URL.
//!
//! Only `https` is fetched, except `http` to a loopback address (a local test issuer). No
//! redirects are followed, the body is capped at [`MAX_JWKS_FILE_BYTES`], and a fetch gives up
//! after [`FETCH_TIMEOUT`]. `jwks_ca_file` adds a root certificate for an issuer whose
//! certificate is not signed by a public CA (a cluster's own CA).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use rustls::pki_types::pem::PemObject as _;
use url::Url;

use super::jwt::{Jwks, MAX_JWKS_FILE_BYTES};

/// Refresh interval when the response has no usable `Cache-Control: max-age`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// Shortest refresh interval, whatever the response says (`no-cache`, `max-age=0`).
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// Longest refresh interval, whatever the response says.
pub const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Shortest gap between two fetches caused by tokens with an unknown key id (tokens are
/// caller-controlled: they must not make the service hammer the issuer).
pub const UNKNOWN_KID_GAP: Duration = Duration::from_secs(5);
/// First retry delay after a failed fetch; it doubles up to [`DEFAULT_REFRESH`].
pub const RETRY_FIRST: Duration = Duration::from_secs(5);
/// A fetch that takes longer fails.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The keys of one `jwks_url`, shared by the loaded callers files that name it.
pub struct RemoteJwks {
    url: Url,
    ca_pem: Option<Vec<u8>>,
    keys: RwLock<Arc<Jwks>>,
    state: Mutex<FetchState>,
    unknown_kid: AtomicBool,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.url.as_str())
            .field("custom_ca", &self.ca_pem.is_some())
            .field("keys", &*self.keys())
            .finish()
    }
}

#[derive(Debug)]
struct FetchState {
    next_due: Instant,
    last_attempt: Option<Instant>,
    fetched: bool,
    failures: u32,
}

/// What a look at the keys did (for the log and the tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Not due.
    NotDue,
    /// New keys are in force.
    Fetched,
    /// The fetch failed; the previous keys stay in force.
    Failed(String),
}

impl RemoteJwks {
    /// Checks the URL (https, or http to a loopback address) and the optional extra root
    /// certificates (PEM). Nothing is fetched yet.
    pub fn new(url: &str, ca_pem: Option<Vec<u8>>) -> Result<Self, String> {
        let url = Url::parse(url).map_err(|e| format!("`jwks_url` is not a URL: {e}"))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(
                    "`jwks_url` must be an https URL (http only to a loopback address)".into(),
                );
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("`jwks_url` must not carry credentials".into());
        }
        if let Some(pem) = &ca_pem {
            let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "`jwks_ca_file` holds a malformed PEM certificate".to_string())?;
            if certs.is_empty() {
                return Err("`jwks_ca_file` holds no PEM certificate".into());
            }
        }
        Ok(Self {
            url,
            ca_pem,
            keys: RwLock::new(Arc::new(Jwks::default())),
            state: Mutex::new(FetchState {
                next_due: Instant::now(),
                last_attempt: None,
                fetched: false,
                failures: 0,
            }),
            unknown_kid: AtomicBool::new(false),
            client: OnceLock::new(),
        })
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether `other` fetches the same document the same way (a reload then keeps this one).
    pub fn same_source(&self, other: &Self) -> bool {
        self.url == other.url && self.ca_pem == other.ca_pem
    }

    /// The keys in force (none before the first successful fetch).
    pub fn keys(&self) -> Arc<Jwks> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether a fetch has succeeded yet.
    pub fn fetched(&self) -> bool {
        self.lock().fetched
    }

    /// A token named a key id these keys do not hold: fetch again soon.
    pub fn saw_unknown_kid(&self) {
        self.unknown_kid.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fetches the keys if they are due (see the module docs); claims the attempt first, so
    /// two callers never fetch at once.
    pub async fn refresh_if_due(&self) -> Refresh {
        let now = Instant::now();
        {
            let mut state = self.lock();
            let early = self.unknown_kid.load(Ordering::Relaxed)
                && state
                    .last_attempt
                    .is_none_or(|t| now.duration_since(t) >= UNKNOWN_KID_GAP);
            if !early && now < state.next_due {
                return Refresh::NotDue;
            }
            state.last_attempt = Some(now);
            // Until this attempt ends, nobody else starts one.
            state.next_due = now + FETCH_TIMEOUT + Duration::from_secs(1);
            self.unknown_kid.store(false, Ordering::Relaxed);
        }
        let outcome = self.fetch().await;
        let mut state = self.lock();
        match outcome {
            Ok((jwks, max_age)) => {
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(jwks);
                state.fetched = true;
                state.failures = 0;
                state.next_due = Instant::now() + refresh_after(max_age);
                tracing::info!(url = %self.url, "JWKS fetched");
                Refresh::Fetched
            }
            Err(message) => {
                state.failures = state.failures.saturating_add(1);
                let exp = state.failures.saturating_sub(1).min(8);
                let delay = RETRY_FIRST.saturating_mul(1 << exp).min(DEFAULT_REFRESH);
                state.next_due = Instant::now() + delay;
                tracing::warn!(
                    url = %self.url,
                    error = %message,
                    retry_in_secs = delay.as_secs(),
                    "JWKS not fetched; the keys in force stay"
                );
                Refresh::Failed(message)
            }
        }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                let mut builder = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(FETCH_TIMEOUT)
                    .connect_timeout(FETCH_TIMEOUT);
                if let Some(pem) = &self.ca_pem {
                    for cert in reqwest::Certificate::from_pem_bundle(pem)
                        .map_err(|e| format!("`jwks_ca_file`: {e}"))?
                    {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                builder
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn fetch(&self) -> Result<(Jwks, Option<Duration>), String> {
        let client = self.client()?;
        let mut response = client
            .get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {}", without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the issuer answered HTTP {}", status.as_u16()));
        }
        let max_age = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the answer failed: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS_FILE_BYTES as usize {
                return Err(format!(
                    "the answer is larger than {MAX_JWKS_FILE_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_string())?;
        let jwks = Jwks::parse(&text)?;
        Ok((jwks, max_age))
    }
}

/// reqwest's error text without the URL (it is logged once, as its own field).
fn without_url(err: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let mut text = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "cannot connect".to_string()
    } else {
        "HTTP error".to_string()
    };
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// When to fetch again after a success that said `max_age`.
fn refresh_after(max_age: Option<Duration>) -> Duration {
    max_age
        .unwrap_or(DEFAULT_REFRESH)
        .clamp(MIN_REFRESH, MAX_REFRESH)
}

/// `Cache-Control: max-age` of a response (`no-cache` and `no-store` count as 0).
pub fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                if let Ok(secs) = secs.trim_matches('"').parse::<u64>() {
                    found = Some(Duration::from_secs(secs));
                }
            }
        }
    }
    found
}

/// Keeps, in `new`, the keys already fetched by `old` for the same sources.
pub fn adopt(old: &[Arc<RemoteJwks>], new: &mut [&mut Arc<RemoteJwks>]) {
    for slot in new.iter_mut() {
        if let Some(kept) = old.iter().find(|o| o.same_source(slot)) {
            **slot = Arc::clone(kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::CACHE_CONTROL, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn cache_control_is_read_and_clamped() {
        assert_eq!(max_age(&headers(&[])), None);
        assert_eq!(
            max_age(&headers(&["public, max-age=3600"])),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(max_age(&headers(&["no-store"])), Some(Duration::ZERO));
        assert_eq!(max_age(&headers(&["max-age=junk"])), None);
        assert_eq!(refresh_after(None), DEFAULT_REFRESH);
        assert_eq!(refresh_after(Some(Duration::ZERO)), MIN_REFRESH);
        assert_eq!(
            refresh_after(Some(Duration::from_secs(1 << 40))),
            MAX_REFRESH
        );
    }

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        assert!(RemoteJwks::new("https://issuer.example/keys", None).is_ok());
        assert!(RemoteJwks::new("http://127.0.0.1:8080/keys", None).is_ok());
        assert!(RemoteJwks::new("http://localhost/keys", None).is_ok());
        assert!(RemoteJwks::new("http://[::1]/keys", None).is_ok());
        for bad in [
            "http://issuer.example/keys",
            "ftp://issuer.example/keys",
            "https://user:pw@issuer.example/keys",
            "not a url",
        ] {
            assert!(RemoteJwks::new(bad, None).is_err(), "{bad}");
        }
        assert!(RemoteJwks::new("https://i/k", Some(b"not pem".to_vec())).is_err());
    }

    #[test]
    fn a_reload_keeps_the_fetched_keys_of_the_same_source() {
        let old = vec![Arc::new(
            RemoteJwks::new("https://a.example/k", None).expect("ok"),
        )];
        let mut same = Arc::new(RemoteJwks::new("https://a.example/k", None).expect("ok"));
        let mut other = Arc::new(RemoteJwks::new("https://b.example/k", None).expect("ok"));
        adopt(&old, &mut [&mut same, &mut other]);
        assert!(Arc::ptr_eq(&same, &old[0]));
        assert!(!Arc::ptr_eq(&other, &old[0]));
    }
}
