//! The admin HTTP listener's address (`--admin-listen` / `DEFENDER_BRIDGE_ADMIN_LISTEN`,
//! TOML `admin_listen`): `/metrics`, `/healthz`, `/readyz`.

use std::net::SocketAddr;

use super::ConfigError;

/// The default admin address: loopback, Prometheus' conventional exporter port range.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9464";

/// Resolves the admin address: `off` (any case) disables the listener; an address is used as
/// given. Unset: [`DEFAULT_ADMIN_LISTEN`], except when the gRPC port is 0 (an ephemeral port, as
/// tests and embedded servers use): then port 0 too, so that many servers in one process or on
/// one machine never compete for 9464.
pub(crate) fn resolve(
    value: Option<&str>,
    grpc_listen: SocketAddr,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(value) = value.map(str::trim) else {
        let mut addr: SocketAddr =
            DEFAULT_ADMIN_LISTEN
                .parse()
                .map_err(|_| ConfigError::Invalid {
                    setting: "DEFENDER_BRIDGE_ADMIN_LISTEN",
                    message: "bad built-in default".into(),
                })?;
        if grpc_listen.port() == 0 {
            addr.set_port(0);
        }
        return Ok(Some(addr));
    };
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value
        .parse::<SocketAddr>()
        .map(Some)
        .map_err(|_| ConfigError::Invalid {
            setting: "DEFENDER_BRIDGE_ADMIN_LISTEN",
            message: format!("`{value}` is neither `off` nor an address such as 127.0.0.1:9464"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn default_off_and_addresses() {
        assert_eq!(
            resolve(None, grpc(50051)).expect("ok"),
            Some(DEFAULT_ADMIN_LISTEN.parse().expect("addr"))
        );
        assert_eq!(
            resolve(None, grpc(0)).expect("ok").map(|a| a.port()),
            Some(0)
        );
        assert_eq!(resolve(Some("OFF"), grpc(1)).expect("ok"), None);
        assert_eq!(
            resolve(Some("0.0.0.0:9100"), grpc(1)).expect("ok"),
            Some("0.0.0.0:9100".parse().expect("addr"))
        );
        let err = resolve(Some("nope"), grpc(1)).expect_err("refused");
        assert!(err.to_string().contains("ADMIN_LISTEN"), "{err}");
    }
}
