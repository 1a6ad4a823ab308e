//! The accepted connection as the HTTP server sees it: plain TCP or TLS over TCP, and the
//! handshake that turns one into the other.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected as _, TcpConnectInfo, TlsConnectInfo};

use crate::server::conn::LimitedIo;

/// The TLS handshake of one accepted connection, or `None` (logged) when it fails or takes
/// longer than [`super::HANDSHAKE_TIMEOUT`].
pub(in crate::server) async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    permit: OwnedSemaphorePermit,
    idle_timeout: Duration,
) -> Option<LimitedIo> {
    let peer = stream.peer_addr().ok();
    let limit = super::HANDSHAKE_TIMEOUT.min(idle_timeout);
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(LimitedIo::new(
            Transport::Tls(Box::new(tls)),
            permit,
            idle_timeout,
        )),
        Ok(Err(err)) => {
            tracing::debug!(?peer, error = %err, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(?peer, "TLS handshake timed out");
            None
        }
    }
}

/// An accepted connection: plain TCP, or TLS over TCP.
pub enum Transport {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS after a completed handshake.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    pub(in crate::server) fn connect_info(
        &self,
    ) -> (TcpConnectInfo, Option<TlsConnectInfo<TcpConnectInfo>>) {
        match self {
            Self::Plain(tcp) => (tcp.connect_info(), None),
            Self::Tls(tls) => {
                let info = tls.connect_info();
                (info.get_ref().clone(), Some(info))
            }
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_flush(cx),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(io) => io.is_write_vectored(),
            Self::Tls(io) => io.is_write_vectored(),
        }
    }
}
