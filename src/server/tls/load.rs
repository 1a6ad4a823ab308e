//! Reading the certificate, key and client CA files into what rustls uses, with errors that
//! name the file and never quote a key.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};

use crate::config::TlsFiles;

/// Largest certificate, key or CA file read: a CA bundle of a few hundred certificates fits.
pub const MAX_PEM_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why TLS material could not be loaded. Messages name the file and never hold key bytes.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{} holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----` blocks)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no usable private key.
    #[error("{} holds no usable private key: {message}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What was wrong (never the key itself).
        message: String,
    },
    /// The key does not belong to the certificate.
    #[error("the private key in {} does not match the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The client CA bundle is unusable.
    #[error("client CA bundle {}: {message}", path.display())]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// One consistent set of TLS material, read from the files at one moment.
pub(super) struct Material {
    /// The server's chain and signing key.
    pub(super) key: Arc<CertifiedKey>,
    /// The client verifier built from the client CA bundle, when mTLS is configured.
    pub(super) client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    /// SHA-256 of the files' bytes: a reload with the same digest changes nothing.
    pub(super) digest: [u8; 32],
    /// SHA-256 of the leaf certificate (DER), for the logs.
    pub(super) leaf_sha256: String,
    /// True when the key file is readable by its group or by others.
    pub(super) key_exposed: bool,
}

/// The raw bytes of the files and their digest (cheap: what a change poll reads).
pub(super) struct Raw {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
    pub(super) digest: [u8; 32],
}

impl Drop for Raw {
    fn drop(&mut self) {
        // Best effort: the key's PEM text does not linger in freed memory.
        self.key.iter_mut().for_each(|b| *b = 0);
    }
}

/// Reads the three files (size-capped).
pub(super) fn read(files: &TlsFiles) -> Result<Raw, TlsError> {
    let cert = read_capped(&files.cert)?;
    let key = read_capped(&files.key)?;
    let client_ca = files.client_ca.as_deref().map(read_capped).transpose()?;
    let mut hash = Sha256::new();
    for part in [Some(&cert), Some(&key), client_ca.as_ref()]
        .into_iter()
        .flatten()
    {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    Ok(Raw {
        cert,
        key,
        client_ca,
        digest: hash.finalize().into(),
    })
}

/// Parses what [`read`] returned into rustls objects, checking that the key matches.
pub(super) fn parse(
    files: &TlsFiles,
    raw: &Raw,
    provider: &Arc<CryptoProvider>,
) -> Result<Material, TlsError> {
    let chain = certificates(&raw.cert).ok_or_else(|| TlsError::NoCertificate {
        path: files.cert.clone(),
    })?;
    let key_der = PrivateKeyDer::from_pem_slice(&raw.key).map_err(|_| TlsError::BadKey {
        path: files.key.clone(),
        message: "no PEM private key found (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`)".into(),
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|err| TlsError::BadKey {
            path: files.key.clone(),
            message: format!("unsupported key type or malformed key ({err})"),
        })?;
    let leaf_sha256 = chain
        .first()
        .map(|c| hex::encode(Sha256::digest(c)))
        .unwrap_or_default();
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        Ok(()) => {}
        // `Unknown`: the key type cannot export its public key; the handshake will tell.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            });
        }
    }
    let client_verifier = match (&files.client_ca, &raw.client_ca) {
        (Some(path), Some(bytes)) => Some(client_verifier(path, bytes, provider)?),
        _ => None,
    };
    Ok(Material {
        key: Arc::new(key),
        client_verifier,
        digest: raw.digest,
        leaf_sha256,
        key_exposed: key_exposed(&files.key),
    })
}

/// The PEM certificates of `bytes`, or `None` when there is none or one is malformed.
fn certificates(bytes: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let chain: Vec<_> = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<_, _>>()
        .ok()?;
    (!chain.is_empty()).then_some(chain)
}

fn client_verifier(
    path: &Path,
    bytes: &[u8],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let fail = |message: String| TlsError::ClientCa {
        path: path.to_path_buf(),
        message,
    };
    let certs = certificates(bytes)
        .ok_or_else(|| fail("holds no PEM certificate (or a malformed one)".into()))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|err| fail(format!("a certificate is not a usable CA: {err}")))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|err| fail(err.to_string()))
}

fn read_capped(path: &Path) -> Result<Vec<u8>, TlsError> {
    let fail = |message: String| TlsError::Read {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(fail(format!(
            "larger than {MAX_PEM_FILE_BYTES} bytes; not a PEM certificate or key file"
        )));
    }
    Ok(bytes)
}

/// Whether the key file can be read by its group or by others (a warning, not an error:
/// some mounts cannot be made stricter).
#[cfg(unix)]
fn key_exposed(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn key_exposed(_path: &Path) -> bool {
    false
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_key_readable_by_group_or_others_is_flagged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tls.key");
        std::fs::write(&path, "k").expect("write");
        for (mode, exposed) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            assert_eq!(key_exposed(&path), exposed, "mode {mode:o}");
        }
    }

    #[test]
    fn an_endless_file_is_refused_at_the_cap() {
        let err = read_capped(Path::new("/dev/zero")).expect_err("capped");
        assert!(err.to_string().contains("/dev/zero"), "{err}");
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
