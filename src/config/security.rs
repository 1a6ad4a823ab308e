//! Who may reach the listener and how (docs/security.md): TLS and mTLS files, the callers file,
//! the listening rules (a network address needs TLS and callers; plaintext there only with
//! `--insecure-plaintext`), the `Host`/`:authority` allowlist and opt-in gRPC-Web.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, ServeArgs};

/// The server's certificate files (PEM), re-read when they change and on SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA bundle that client certificates must chain to; when set, every client must present a
    /// valid certificate (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// The `[tls]` table of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
}

/// The security keys of the TOML file's top level.
#[derive(Debug, Default)]
pub(super) struct FileSecurity {
    pub(super) callers: Option<PathBuf>,
    pub(super) insecure_plaintext: Option<bool>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    pub(super) grpc_web: Option<bool>,
    pub(super) grpc_web_origins: Option<Vec<String>>,
}

/// The security settings, resolved and checked against the listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Security {
    pub(super) callers: Option<PathBuf>,
    pub(super) tls: Option<TlsFiles>,
    pub(super) insecure_plaintext: bool,
    pub(super) allowed_hosts: Vec<String>,
    pub(super) grpc_web: bool,
    pub(super) grpc_web_origins: Vec<String>,
}

/// Resolves flags over file values and enforces the listening rules.
pub(super) fn resolve(
    args: &ServeArgs,
    file: FileSecurity,
    file_tls: FileTls,
    listen: SocketAddr,
) -> Result<Security, ConfigError> {
    let callers = args.callers.clone().or(file.callers);
    if let Some(path) = &callers {
        readable_file("DEFENDER_BRIDGE_CALLERS", path)?;
    }
    let cert = args.tls_cert.clone().or(file_tls.cert);
    let key = args.tls_key.clone().or(file_tls.key);
    let client_ca = args.tls_client_ca.clone().or(file_tls.client_ca);
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            readable_file("DEFENDER_BRIDGE_TLS_CERT", &cert)?;
            readable_file("DEFENDER_BRIDGE_TLS_KEY", &key)?;
            if let Some(ca) = &client_ca {
                readable_file("DEFENDER_BRIDGE_TLS_CLIENT_CA", ca)?;
            }
            Some(TlsFiles {
                cert,
                key,
                client_ca,
            })
        }
        (None, None) if client_ca.is_some() => {
            return Err(invalid(
                "DEFENDER_BRIDGE_TLS_CLIENT_CA",
                "client certificates can only be checked over TLS: set DEFENDER_BRIDGE_TLS_CERT and DEFENDER_BRIDGE_TLS_KEY too",
            ));
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid(
                "DEFENDER_BRIDGE_TLS_KEY",
                "a TLS certificate was given without its key: set DEFENDER_BRIDGE_TLS_KEY (--tls-key)",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "DEFENDER_BRIDGE_TLS_CERT",
                "a TLS key was given without its certificate: set DEFENDER_BRIDGE_TLS_CERT (--tls-cert)",
            ));
        }
    };
    let insecure_plaintext = args
        .insecure_plaintext
        .or(file.insecure_plaintext)
        .unwrap_or(false);
    if insecure_plaintext && tls.is_some() {
        return Err(invalid(
            "DEFENDER_BRIDGE_INSECURE_PLAINTEXT",
            "--insecure-plaintext and a TLS certificate were both given: drop one of them",
        ));
    }
    if !listen.ip().is_loopback() {
        if callers.is_none() {
            return Err(invalid(
                "DEFENDER_BRIDGE_LISTEN",
                &format!(
                    "{listen} is not a loopback address: listening beyond this host requires a callers file (--callers / DEFENDER_BRIDGE_CALLERS) so that every caller is authenticated; see docs/security.md"
                ),
            ));
        }
        if tls.is_none() && !insecure_plaintext {
            return Err(invalid(
                "DEFENDER_BRIDGE_LISTEN",
                &format!(
                    "{listen} is not a loopback address: listening beyond this host requires TLS (--tls-cert and --tls-key), or --insecure-plaintext when a sidecar terminates mTLS in front of the service; see docs/security.md"
                ),
            ));
        }
    }
    let allowed_hosts = names(
        "DEFENDER_BRIDGE_ALLOWED_HOSTS",
        args.allowed_hosts.clone().or(file.allowed_hosts),
        check_host,
    )?;
    let grpc_web = args.grpc_web.or(file.grpc_web).unwrap_or(false);
    let grpc_web_origins = names(
        "DEFENDER_BRIDGE_GRPC_WEB_ORIGINS",
        args.grpc_web_origins.clone().or(file.grpc_web_origins),
        check_origin,
    )?;
    if !grpc_web && !grpc_web_origins.is_empty() {
        return Err(invalid(
            "DEFENDER_BRIDGE_GRPC_WEB_ORIGINS",
            "origins were listed but gRPC-Web is off: also set --grpc-web (DEFENDER_BRIDGE_GRPC_WEB=true)",
        ));
    }
    Ok(Security {
        callers,
        tls,
        insecure_plaintext,
        allowed_hosts,
        grpc_web,
        grpc_web_origins,
    })
}

fn invalid(setting: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.to_owned(),
    }
}

/// A file that exists and can be opened for reading (its content is checked by its user).
fn readable_file(setting: &'static str, path: &Path) -> Result<(), ConfigError> {
    if !path.is_file() {
        return Err(invalid(
            setting,
            &format!("{} is not found or not a file", path.display()),
        ));
    }
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| invalid(setting, &format!("cannot read {}: {e}", path.display())))
}

/// Trimmed, lower-cased, non-empty entries, each checked by `check`.
fn names(
    setting: &'static str,
    values: Option<Vec<String>>,
    check: fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for value in values.unwrap_or_default() {
        let value = value.trim().to_ascii_lowercase();
        if value.is_empty() {
            continue;
        }
        check(&value).map_err(|message| invalid(setting, &message))?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// A host name (optionally `*.` for any subdomain), `*` for any host, or an IP address; no port.
fn check_host(value: &str) -> Result<(), String> {
    let name = value.strip_prefix("*.").unwrap_or(value);
    let ok = value == "*"
        || value.parse::<std::net::IpAddr>().is_ok()
        || (!name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a host name: give names such as `bridge.example.com` or `*.example.com`, without scheme or port",
            crate::error::echo(value)
        ))
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn check_origin(value: &str) -> Result<(), String> {
    let parsed = url::Url::parse(value).ok();
    let ok = parsed.is_some_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.origin().ascii_serialization() == value
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an origin: give `https://app.example.com` (scheme, host and port only, no path or trailing slash)",
            crate::error::echo(value)
        ))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::super::Config;
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_secret: Some(SecretString::from("s3cret-value")),
            ..ServeArgs::default()
        }
    }

    fn files() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let callers = dir.path().join("callers.toml");
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        for path in [&callers, &cert, &key] {
            std::fs::write(path, "x").expect("write");
        }
        (dir, callers, cert, key)
    }

    #[test]
    fn a_network_listen_needs_callers_and_tls_or_insecure_plaintext() {
        let (_dir, callers, cert, key) = files();
        let network = Some("0.0.0.0:50051".parse().expect("addr"));
        let refused = |a: ServeArgs| Config::resolve(&a).expect_err("refused").to_string();
        let err = refused(ServeArgs {
            listen: network,
            ..args()
        });
        assert!(err.contains("callers file"), "{err}");
        let err = refused(ServeArgs {
            listen: network,
            callers: Some(callers.clone()),
            ..args()
        });
        assert!(
            err.contains("requires TLS") && err.contains("--insecure-plaintext"),
            "{err}"
        );
        let err = refused(ServeArgs {
            listen: network,
            tls_cert: Some(cert.clone()),
            tls_key: Some(key.clone()),
            ..args()
        });
        assert!(err.contains("callers file"), "{err}");
        let err = refused(ServeArgs {
            listen: network,
            insecure_plaintext: Some(true),
            ..args()
        });
        assert!(err.contains("callers file"), "{err}");

        let with_tls = Config::resolve(&ServeArgs {
            listen: network,
            callers: Some(callers.clone()),
            tls_cert: Some(cert.clone()),
            tls_key: Some(key.clone()),
            ..args()
        })
        .expect("TLS and callers");
        assert_eq!(with_tls.callers.as_deref(), Some(callers.as_path()));
        assert!(with_tls.tls.is_some());
        let plaintext = Config::resolve(&ServeArgs {
            listen: network,
            callers: Some(callers),
            insecure_plaintext: Some(true),
            ..args()
        })
        .expect("sidecar mode");
        assert!(plaintext.insecure_plaintext && plaintext.tls.is_none());
    }

    #[test]
    fn loopback_keeps_working_without_callers_or_tls() {
        let cfg = Config::resolve(&args()).expect("valid");
        assert!(cfg.callers.is_none() && cfg.tls.is_none() && !cfg.grpc_web);
    }

    #[test]
    fn tls_settings_must_be_complete_and_readable() {
        let (dir, _callers, cert, key) = files();
        let err = |a: ServeArgs| Config::resolve(&a).expect_err("refused").to_string();
        let e = err(ServeArgs {
            tls_cert: Some(cert.clone()),
            ..args()
        });
        assert!(e.contains("DEFENDER_BRIDGE_TLS_KEY"), "{e}");
        let e = err(ServeArgs {
            tls_client_ca: Some(cert.clone()),
            ..args()
        });
        assert!(e.contains("DEFENDER_BRIDGE_TLS_CLIENT_CA"), "{e}");
        let missing = dir.path().join("absent.pem");
        let e = err(ServeArgs {
            tls_cert: Some(cert.clone()),
            tls_key: Some(missing.clone()),
            ..args()
        });
        assert!(e.contains("absent.pem"), "{e}");
        let e = err(ServeArgs {
            callers: Some(missing),
            ..args()
        });
        assert!(e.contains("DEFENDER_BRIDGE_CALLERS"), "{e}");
        let e = err(ServeArgs {
            tls_cert: Some(cert),
            tls_key: Some(key),
            insecure_plaintext: Some(true),
            ..args()
        });
        assert!(e.contains("both"), "{e}");
    }

    #[test]
    fn hosts_and_origins_are_checked_and_normalised() {
        let cfg = Config::resolve(&ServeArgs {
            allowed_hosts: Some(vec![" Bridge.Example.com ".into(), "*.svc".into()]),
            grpc_web: Some(true),
            grpc_web_origins: Some(vec!["https://app.example.com".into()]),
            ..args()
        })
        .expect("valid");
        assert_eq!(cfg.allowed_hosts, ["bridge.example.com", "*.svc"]);
        assert_eq!(cfg.grpc_web_origins, ["https://app.example.com"]);
        for bad in [
            ServeArgs {
                allowed_hosts: Some(vec!["http://x.example".into()]),
                ..args()
            },
            ServeArgs {
                grpc_web: Some(true),
                grpc_web_origins: Some(vec!["https://app.example.com/".into()]),
                ..args()
            },
            ServeArgs {
                grpc_web_origins: Some(vec!["https://app.example.com".into()]),
                ..args()
            },
        ] {
            assert!(Config::resolve(&bad).is_err(), "{bad:?}");
        }
    }
}
