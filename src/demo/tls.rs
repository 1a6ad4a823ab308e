//! `demo --tls`: a throw-away CA, server and client certificates, an API key and a callers
//! file in a temporary folder (removed when the demo stops), so TLS, mTLS and both kinds of
//! caller identity can be tried locally. `--tls-dir DIR` writes them into a folder of the
//! caller's choosing instead (the files, not the folder, are removed when the demo stops), so
//! that scripts and client test suites find them without reading the banner.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::pki::Ca;

/// The identity (URI SAN) of the demo's client certificate, as the callers file names it.
pub const CLIENT_IDENTITY: &str = "spiffe://defender-bridge.demo/client";

/// Every role, given to both demo callers.
const ROLES: &str = r#"["reader", "hunter", "responder", "admin"]"#;

/// The files `demo --tls` writes, in the order they are written.
pub const FILES: [&str; 7] = [
    "ca.pem",
    "server.pem",
    "server.key",
    "client.pem",
    "client.key",
    "callers.toml",
    "api-key",
];

/// Where the files go.
enum Folder {
    /// A new temporary folder, removed with everything in it.
    Temp(tempfile::TempDir),
    /// A folder named by `--tls-dir`: only the files written are removed.
    Chosen(PathBuf),
}

/// What `demo --tls` wrote.
pub struct DemoTls {
    dir: Folder,
    /// The demo API key (printed once in the banner; only its SHA-256 is in the callers file).
    pub api_key: SecretString,
}

impl std::fmt::Debug for DemoTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoTls")
            .field("dir", &self.dir())
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl DemoTls {
    /// Generates everything into `dir` (created when missing; files of an earlier demo are
    /// replaced), or into a new temporary folder when `dir` is `None`.
    pub fn generate(dir: Option<&Path>) -> Result<Self, String> {
        let dir = match dir {
            Some(path) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                Folder::Chosen(path.to_path_buf())
            }
            None => Folder::Temp(
                tempfile::Builder::new()
                    .prefix("defender-bridge-demo-tls-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary folder: {e}"))?,
            ),
        };
        let fail = |e: rcgen::Error| format!("cannot generate the demo certificates: {e}");
        let ca = Ca::new("defender-bridge demo CA").map_err(fail)?;
        let server = ca
            .server(&["localhost", "127.0.0.1", "::1"])
            .map_err(fail)?;
        let client = ca
            .client("demo-client", Some(CLIENT_IDENTITY))
            .map_err(fail)?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let api_key = SecretString::from(format!("demo_{}", hex::encode(bytes)));
        let digest = hex::encode(Sha256::digest(api_key.expose_secret().as_bytes()));
        let callers = format!(
            "# Written by `defender-bridge demo --tls`: throw-away credentials.\n\
             [[api_key]]\nname = \"demo\"\nsha256 = \"{digest}\"\nroles = {ROLES}\n\n\
             [[certificate]]\nidentity = \"{CLIENT_IDENTITY}\"\nroles = {ROLES}\n"
        );
        let this = Self { dir, api_key };
        this.write("ca.pem", &ca.cert_pem)?;
        this.write("server.pem", &server.cert_pem)?;
        this.write("server.key", &server.key_pem)?;
        this.write("client.pem", &client.cert_pem)?;
        this.write("client.key", &client.key_pem)?;
        this.write("callers.toml", &callers)?;
        // For scripts and client tests: the key without reading the banner.
        this.write("api-key", &format!("{}\n", this.api_key.expose_secret()))?;
        Ok(this)
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        match &self.dir {
            Folder::Temp(temp) => temp.path(),
            Folder::Chosen(path) => path,
        }
    }

    /// The path of one of the generated files ([`FILES`]: `ca.pem`, `server.pem`, `server.key`,
    /// `client.pem`, `client.key`, `callers.toml`, `api-key`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// Writes `name`, readable by the owner only (keys must not trigger the permission warning).
    /// A file left by an earlier demo in a chosen folder is removed first, so that the new one
    /// is created with these permissions rather than inheriting the old file's.
    fn write(&self, name: &str, text: &str) -> Result<(), String> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot replace {}: {e}", path.display()));
            }
            _ => {}
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

impl Drop for DemoTls {
    fn drop(&mut self) {
        // The temporary folder removes itself; in a chosen folder only our files go.
        if let Folder::Chosen(dir) = &self.dir {
            for name in FILES {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    }
}
