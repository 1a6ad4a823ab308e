//! The crypto provider of outgoing TLS (reqwest over rustls, to Defender, Entra ID and Graph).
//!
//! rustls is built with `ring` rather than reqwest's default `aws-lc-rs`, whose C build (cmake)
//! was the most expensive crate of a cold build. reqwest then needs a process-wide provider
//! before it builds a client (it panics otherwise), so [`install_crypto_provider`] runs before
//! every client this crate builds ([`crate::defender::DefenderClient`]), at the start of the
//! binary, and when a simulator starts (tests talk to it with their own reqwest clients).

/// Installs ring as the process-wide rustls provider, unless one is installed already.
/// Idempotent and cheap: call it before building a `reqwest::Client`.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: a provider is in place either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reqwest_client_can_be_built_after_install() {
        super::install_crypto_provider();
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert!(reqwest::Client::builder().build().is_ok());
    }
}
