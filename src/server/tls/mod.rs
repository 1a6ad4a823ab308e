//! TLS and mTLS on the gRPC listener (docs/security.md).
//!
//! The handshake happens in our own accept loop ([`super::conn::incoming`]), so the connection
//! cap, the idle timeout and a handshake timeout apply to TLS connections too. Certificates are
//! reloadable without a restart or a dropped connection: rustls asks [`Reloadable`] for the
//! server certificate and the client verifier on every handshake, and a reload swaps the
//! `Arc`s they hand out. Open connections keep the session they negotiated; new handshakes get
//! the new files. A reload that fails keeps the previous material and logs why.
//!
//! The verified client chain reaches handlers through tonic's own connect info: the stream is
//! a `tokio_rustls::server::TlsStream`, whose `Connected` impl (in tonic) yields
//! `TlsConnectInfo<TcpConnectInfo>`, and [`super::conn::ActivityLayer`] puts that into each
//! request's extensions. So `tonic::Request::peer_certs()` returns the client's chain (leaf
//! first) in handlers, and [`peer_certs`] reads it from a plain `http::Request`'s extensions.

mod load;
mod stream;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

pub use load::{MAX_PEM_FILE_BYTES, TlsError};
pub use stream::Transport;
pub(super) use stream::handshake;

use crate::config::TlsFiles;

/// How often the certificate files are checked for a change (cert-manager and Kubernetes
/// secret mounts replace them in place; SIGHUP reloads at once).
pub const RELOAD_POLL: Duration = Duration::from_secs(10);

/// Longest time a client may take to complete the TLS handshake; a connection still
/// handshaking then is closed (it holds a connection slot meanwhile).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The verified client certificate chain (leaf first) of the connection a request came on,
/// from the request's extensions; `None` on plaintext or when no certificate was presented.
///
/// Works in any tower layer: inside [`super::conn::ActivityLayer`] it reads tonic's
/// `TlsConnectInfo` (what `tonic::Request::peer_certs` reads), outside it the connection's
/// [`super::conn::ConnInfo`].
pub fn peer_certs(extensions: &http::Extensions) -> Option<Arc<Vec<CertificateDer<'static>>>> {
    extensions
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .or_else(|| {
            extensions
                .get::<super::conn::ConnInfo>()
                .and_then(|info| info.tls.as_ref())
        })
        .and_then(TlsConnectInfo::peer_certs)
}

/// What every handshake reads: the current server key and client verifier.
struct Current {
    key: Arc<CertifiedKey>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    digest: [u8; 32],
    /// Digest of the last files that failed to load, so a broken file is logged once.
    failed_digest: Option<[u8; 32]>,
}

/// The reloadable TLS material, shared by the rustls config and the [`TlsReloader`].
struct Reloadable {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Current>,
}

impl std::fmt::Debug for Reloadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Paths only: never the key.
        f.debug_struct("Reloadable")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Reloadable {
    fn key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.read().key)
    }

    fn verifier(&self) -> Option<Arc<dyn ClientCertVerifier>> {
        self.read().verifier.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands rustls the current server certificate on every handshake.
#[derive(Debug)]
struct Resolver(Arc<Reloadable>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.key())
    }
}

/// Verifies client certificates against the current client CA bundle.
///
/// It sends no CA names in its certificate request (rustls lends them out by reference, which
/// a swappable bundle cannot do); clients then offer their configured certificate, as grpcurl,
/// Go, Java and tonic clients do.
#[derive(Debug)]
struct Verifier(Arc<Reloadable>);

impl Verifier {
    fn inner(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        self.0
            .verifier()
            .ok_or_else(|| rustls::Error::General("no client CA bundle is loaded".into()))
    }
}

impl ClientCertVerifier for Verifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner()?
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner()
            .map(|v| v.supported_verify_schemes())
            .unwrap_or_default()
    }
}

/// Re-reads the TLS files on demand; cheap to clone.
#[derive(Debug, Clone)]
pub struct TlsReloader(Arc<Reloadable>);

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The files changed and new handshakes now use them.
    Replaced,
    /// The files are byte-for-byte the ones in use.
    Unchanged,
}

impl TlsReloader {
    /// Reads the files and, if they changed and are valid, makes new handshakes use them.
    /// On error the previous material stays in use.
    pub fn reload(&self) -> Result<Reload, TlsError> {
        let state = &self.0;
        let raw = load::read(&state.files)?;
        if raw.digest == state.read().digest {
            return Ok(Reload::Unchanged);
        }
        let material = load::parse(&state.files, &raw, &state.provider)?;
        if material.key_exposed {
            warn_exposed(&state.files);
        }
        let mut current = state
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        current.key = material.key;
        if material.client_verifier.is_some() {
            current.verifier = material.client_verifier;
        }
        current.digest = material.digest;
        current.failed_digest = None;
        drop(current);
        tracing::info!(
            cert = %state.files.cert.display(),
            leaf_sha256 = %material.leaf_sha256,
            "TLS certificate reloaded; new connections use it"
        );
        Ok(Reload::Replaced)
    }

    /// [`Self::reload`], logging a failure (once per distinct broken content) instead of
    /// returning it: what the file watch runs.
    pub fn reload_logged(&self) {
        let err = match self.reload() {
            Ok(_) => return,
            Err(err) => err,
        };
        // The digest of what failed, when readable: the same broken files are logged once.
        let digest = load::read(&self.0.files).ok().map(|raw| raw.digest);
        let mut current = self
            .0
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if digest.is_some() && current.failed_digest == digest {
            return;
        }
        current.failed_digest = digest;
        drop(current);
        tracing::warn!(error = %err, "TLS reload failed; still serving the previous certificate");
    }

    /// Reloads every [`RELOAD_POLL`] when the files changed, until `stop` completes (SIGHUP
    /// reloads at once: `crate::admin::reload`).
    pub async fn watch(self, poll: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut ticks = tokio::time::interval(poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticks.tick() => {}
            }
            let reloader = self.clone();
            // File reads and key parsing off the async workers.
            let _ = tokio::task::spawn_blocking(move || reloader.reload_logged()).await;
        }
    }
}

fn warn_exposed(files: &TlsFiles) {
    tracing::warn!(
        key = %files.key.display(),
        "the TLS private key file is readable by its group or by others; make it readable by the service's user only (chmod 600)"
    );
}

/// The TLS side of the listener: the acceptor for handshakes and its reloader.
#[derive(Clone)]
pub struct TlsSetup {
    /// Runs server handshakes with the current material.
    pub acceptor: TlsAcceptor,
    /// Re-reads the files.
    pub reloader: TlsReloader,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("reloader", &self.reloader)
            .finish_non_exhaustive()
    }
}

impl TlsSetup {
    /// Loads the files (an unreadable or mismatched pair is an error naming the file) and
    /// builds the TLS 1.2/1.3 server config: ALPN `h2`, plus `http/1.1` when `http1` is true.
    pub fn new(files: &TlsFiles, http1: bool) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let raw = load::read(files)?;
        let material = load::parse(files, &raw, &provider)?;
        if material.key_exposed {
            warn_exposed(files);
        }
        let mtls = material.client_verifier.is_some();
        let state = Arc::new(Reloadable {
            files: files.clone(),
            provider: Arc::clone(&provider),
            current: RwLock::new(Current {
                key: material.key,
                verifier: material.client_verifier,
                digest: material.digest,
                failed_digest: None,
            }),
        });
        let builder = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| TlsError::BadKey {
                path: files.key.clone(),
                message: format!("no usable TLS version: {err}"),
            })?;
        let builder = if mtls {
            builder.with_client_cert_verifier(Arc::new(Verifier(Arc::clone(&state))))
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_cert_resolver(Arc::new(Resolver(Arc::clone(&state))));
        config.alpn_protocols = vec![b"h2".to_vec()];
        if http1 {
            config.alpn_protocols.push(b"http/1.1".to_vec());
        }
        tracing::info!(
            cert = %files.cert.display(),
            leaf_sha256 = %material.leaf_sha256,
            client_certificates = if mtls { "required" } else { "not requested" },
            "TLS enabled"
        );
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            reloader: TlsReloader(state),
        })
    }
}
