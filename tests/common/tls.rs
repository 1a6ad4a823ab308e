//! Helpers of the TLS tests: certificates written to a temporary folder, services started with
//! them, tonic channels and raw rustls handshakes against them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use defender_bridge::config::ServeArgs;
use defender_bridge::demo::pki::{Ca, Leaf};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A callers file with one API key entry (the key is "test-key").
pub const CALLERS: &str = "[[api_key]]\nname = \"test\"\n\
    sha256 = \"62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef\"\n\
    roles = [\"reader\"]\n";

/// A CA, a server certificate from it, and a folder holding `server.pem`, `server.key`,
/// `ca.pem` (the client CA bundle) and `callers.toml`.
pub struct Pki {
    pub ca: Ca,
    pub server: Leaf,
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        defender_bridge::tls::install_crypto_provider();
        let ca = Ca::new("test CA").expect("CA");
        let server = ca.server(&["localhost", "127.0.0.1"]).expect("server cert");
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Self { ca, server, dir };
        write(&pki.path("server.pem"), &pki.server.cert_pem);
        write(&pki.path("server.key"), &pki.server.key_pem);
        write(&pki.path("ca.pem"), &pki.ca.cert_pem);
        write(&pki.path("callers.toml"), CALLERS);
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Service settings serving this PKI's server certificate; with `mtls`, client certificates
    /// from its CA are required.
    pub fn apply(&self, args: &mut ServeArgs, mtls: bool) {
        args.tls_cert = Some(self.path("server.pem"));
        args.tls_key = Some(self.path("server.key"));
        if mtls {
            args.tls_client_ca = Some(self.path("ca.pem"));
        }
    }

    /// Replaces the served certificate files (in place, as cert-manager does).
    pub fn replace_server(&self, leaf: &Leaf) {
        write(&self.path("server.pem"), &leaf.cert_pem);
        write(&self.path("server.key"), &leaf.key_pem);
    }
}

/// Writes `text` to `path`, readable by the owner only.
pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// A tonic channel over TLS to `addr`, trusting `ca_pem`, presenting `identity` if given.
pub async fn channel(
    addr: SocketAddr,
    ca_pem: &str,
    identity: Option<&Leaf>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some(leaf) = identity {
        tls = tls.identity(Identity::from_pem(&leaf.cert_pem, &leaf.key_pem));
    }
    Channel::from_shared(format!("https://{addr}"))
        .expect("uri")
        .connect_timeout(Duration::from_secs(5))
        .tls_config(tls)?
        .connect()
        .await
}

/// The DER of the first certificate in `pem`.
pub fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}

/// What a raw TLS client saw: the server's chain, and whether the server then spoke HTTP/2
/// (sent its SETTINGS) or closed the connection with an error (e.g. a TLS alert).
pub struct Handshake {
    pub server_chain: Vec<CertificateDer<'static>>,
    pub served: Result<(), std::io::Error>,
}

/// A raw rustls handshake with `addr` trusting `ca_pem` (and presenting `identity`), then an
/// HTTP/2 preface, to see whether the server accepts the connection. `Err` when the client
/// itself refuses the server (wrong CA).
pub async fn handshake(
    addr: SocketAddr,
    ca_pem: &str,
    identity: Option<&Leaf>,
) -> Result<Handshake, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(ca_pem)).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let mut config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![der(&leaf.cert_pem)],
                PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await?;
    let server_chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let served = async {
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await?;
        tls.flush().await?;
        let mut buf = [0u8; 64];
        match tls.read(&mut buf).await? {
            0 => Err(std::io::Error::other("closed without an answer")),
            _ => Ok(()),
        }
    }
    .await;
    Ok(Handshake {
        server_chain,
        served,
    })
}
