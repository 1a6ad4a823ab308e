//! What one client connection may hold, below tonic: the accept loop (a cap on open
//! connections, back-off when accepting fails), and an idle timeout that closes a connection
//! with no call in flight, including one that never completes a request (docs/limits.md).
//!
//! tonic's own accept loop retries a failing `accept` at once, so running out of file
//! descriptors spins a core; and hyper's HTTP/1 header timeout needs a timer tonic does not
//! give it. Hence this module:
//! - [`accept_stream`] waits for a connection permit before accepting (connection N+1 waits in
//!   the kernel's backlog), and sleeps 10 ms doubling to 1 s after an accept error;
//! - [`LimitedIo`] holds the permit for the connection's life and fails its reads once the
//!   connection has been idle for the configured time;
//! - [`ActivityLayer`] counts the calls in flight on each connection (a call ends when its
//!   response body is dropped, so an open stream keeps its connection alive);
//! - with TLS, each connection's handshake runs in its own task, bounded by
//!   [`super::tls::HANDSHAKE_TIMEOUT`] and holding its connection permit, so slow or
//!   half-open handshakes neither block other clients nor pile up beyond the cap.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use super::tls::{Transport, handshake};
use super::write_buffer::WriteBuffer;

/// First pause after a failed accept.
pub const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// Longest pause between failed accepts.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// Idle time of a TCP connection before the kernel starts keep-alive probes.
pub const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// A source of connections (a TCP listener; a fake in tests).
pub trait Accept: Send + 'static {
    /// The connection.
    type Io: Send + 'static;
    /// Accepts the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

impl Accept for TcpListener {
    type Io = TcpStream;
    async fn accept(&mut self) -> io::Result<TcpStream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// Errors that concern only the connection being accepted: the next accept can go ahead.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Accepted connections, each with a permit of `permits`: no accept happens while every
/// permit is held. Errors such as EMFILE never reach the caller (tonic would retry them in a
/// hot loop): they are logged and retried after a growing pause.
pub fn accept_stream<A: Accept>(
    acceptor: A,
    permits: Arc<Semaphore>,
) -> impl Stream<Item = Result<(A::Io, OwnedSemaphorePermit), Infallible>> + Send {
    accept_stream_with(acceptor, permits, tokio::time::sleep)
}

/// [`accept_stream`] with the pause after a failed accept given (tests record it).
fn accept_stream_with<A, P, F>(
    acceptor: A,
    permits: Arc<Semaphore>,
    pause: P,
) -> impl Stream<Item = Result<(A::Io, OwnedSemaphorePermit), Infallible>> + Send
where
    A: Accept,
    P: FnMut(Duration) -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
    let state = (acceptor, permits, pause);
    futures::stream::unfold(state, |(mut acceptor, permits, mut pause)| async move {
        let permit = Arc::clone(&permits).acquire_owned().await.ok()?;
        let mut backoff = MIN_ACCEPT_BACKOFF;
        loop {
            match acceptor.accept().await {
                Ok(io) => return Some((Ok((io, permit)), (acceptor, permits, pause))),
                Err(err) if is_per_connection(&err) => {}
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        retry_in_ms = backoff.as_millis() as u64,
                        "cannot accept a connection"
                    );
                    pause(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                }
            }
        }
    })
}

/// The connections of `listener`, capped at `max_connections`, closed after `idle_timeout`
/// without a call in flight; with `tls`, only those whose handshake completed within
/// [`super::tls::HANDSHAKE_TIMEOUT`] (handshakes run concurrently, each in its own task).
pub fn incoming(
    listener: TcpListener,
    max_connections: usize,
    idle_timeout: Duration,
    tls: Option<TlsAcceptor>,
) -> impl Stream<Item = Result<LimitedIo, Infallible>> + Send {
    use futures::FutureExt as _;
    use futures::StreamExt as _;
    use futures::future::Either;
    let max_connections = max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max_connections));
    accept_stream(listener, permits)
        .map(move |accepted| {
            let Ok((stream, permit)) = accepted;
            // Small gRPC frames must not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            // Finds peers that vanished (no FIN) even on an HTTP/1.1 connection whose call is
            // silent, where neither HTTP/2 pings nor the idle timeout apply.
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(TCP_KEEPALIVE)
                .with_interval(Duration::from_secs(10));
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
            match &tls {
                None => Either::Left(std::future::ready(Some(LimitedIo::new(
                    Transport::Plain(stream),
                    permit,
                    idle_timeout,
                )))),
                Some(acceptor) => {
                    let handshake = handshake(acceptor.clone(), stream, permit, idle_timeout);
                    Either::Right(tokio::spawn(handshake).map(|joined| joined.ok().flatten()))
                }
            }
        })
        .buffer_unordered(max_connections)
        .filter_map(|io| std::future::ready(io.map(Ok)))
}

/// Calls in flight on one connection and since when it has had none.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    /// When the connection becomes idle too long; `None` while a call is in flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(since + timeout)
    }
}

/// One call in flight, until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .0
                .idle_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
    }
}

/// The connect info of a [`LimitedIo`]: tonic's TCP info (and TLS info, with the client's
/// certificate chain) plus the connection's activity.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// Addresses, as tonic reports them for a plain TCP stream.
    pub tcp: TcpConnectInfo,
    /// On a TLS connection: tonic's TLS info, whose `peer_certs()` is the verified client
    /// chain (leaf first) when the client presented one.
    pub tls: Option<TlsConnectInfo<TcpConnectInfo>>,
    /// The connection's calls in flight.
    pub activity: Arc<Activity>,
}

/// A TCP connection holding a connection permit, whose reads fail once it has been idle (no
/// call in flight) for `idle_timeout`, so the HTTP server closes it.
pub struct LimitedIo {
    io: Transport,
    /// Writes gathered until the HTTP layer flushes ([`super::write_buffer`]).
    pending: WriteBuffer,
    _permit: OwnedSemaphorePermit,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
}

impl LimitedIo {
    pub(super) fn new(io: Transport, permit: OwnedSemaphorePermit, idle_timeout: Duration) -> Self {
        Self {
            io,
            pending: WriteBuffer::default(),
            _permit: permit,
            activity: Arc::new(Activity::new()),
            idle_timeout,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    /// True once the connection has been idle for `idle_timeout`; otherwise arms the timer
    /// for the next possible expiry (it wakes the connection's task).
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            let deadline = self
                .activity
                .idle_deadline(self.idle_timeout)
                .unwrap_or(now + self.idle_timeout);
            if deadline <= now {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

impl Connected for LimitedIo {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        let (tcp, tls) = self.io.connect_info();
        ConnInfo {
            tcp,
            tls,
            activity: Arc::clone(&self.activity),
        }
    }
}

impl AsyncRead for LimitedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.idle_expired(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.pending
            .poll_write_vectored(&mut this.io, cx, &[io::IoSlice::new(buf)])
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.pending.poll_flush(&mut this.io, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.pending.poll_shutdown(&mut this.io, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.pending.poll_write_vectored(&mut this.io, cx, bufs)
    }

    /// False, although the transport takes vectored writes: so h2 copies answers under 1 KiB
    /// into its own buffer instead of flushing once per answer ([`super::write_buffer`]).
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// Counts each call as in flight on its connection until its response body is dropped; also
/// puts tonic's plain [`TcpConnectInfo`] in the request, so `Request::remote_addr` works, and on
/// TLS connections tonic's `TlsConnectInfo<TcpConnectInfo>`, so `Request::peer_certs` works.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityLayer;

impl<S> tower::Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ActivityService { inner }
    }
}

/// See [`ActivityLayer`].
#[derive(Clone, Debug)]
pub struct ActivityService<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for ActivityService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<TrackedBody<RB>>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let info = req.extensions().get::<ConnInfo>().cloned();
        let guard = info.map(|info| {
            req.extensions_mut().insert(info.tcp);
            if let Some(tls) = info.tls {
                req.extensions_mut().insert(tls);
            }
            InFlight::new(info.activity)
        });
        let call = self.inner.call(req);
        Box::pin(async move {
            let response = call.await?;
            Ok(response.map(|inner| GuardedBody::new(inner, guard)))
        })
    }
}

/// A response body that keeps its call counted as in flight until it is dropped.
pub type TrackedBody<B> = GuardedBody<B, Option<InFlight>>;

/// A response body that holds `G` (a call's in-flight count, a caller's concurrency slots)
/// until the body is dropped, so a stream holds it until it ends.
#[derive(Debug)]
pub struct GuardedBody<B, G> {
    inner: B,
    _guard: G,
}

impl<B, G> GuardedBody<B, G> {
    /// `inner`, holding `guard` for as long as it lives.
    pub fn new(inner: B, guard: G) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<B: http_body::Body + Unpin, G: Unpin> http_body::Body for GuardedBody<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;

    /// Fails `failures` times with EMFILE-like errors, then yields connections; counts calls.
    struct Flaky {
        failures: u32,
        calls: Arc<AtomicUsize>,
    }

    impl Accept for Flaky {
        type Io = u32;
        async fn accept(&mut self) -> io::Result<u32> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) as u32;
            if n < self.failures {
                Err(io::Error::other("Too many open files (os error 24)"))
            } else {
                Ok(n)
            }
        }
    }

    /// A pause that records how long it was asked to wait, and returns at once.
    fn recording() -> (
        Arc<Mutex<Vec<Duration>>>,
        impl FnMut(Duration) -> std::future::Ready<()> + Send + 'static,
    ) {
        let pauses = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&pauses);
        (pauses, move |d| {
            record.lock().expect("lock").push(d);
            std::future::ready(())
        })
    }

    #[tokio::test]
    async fn accept_errors_back_off_instead_of_spinning() {
        let calls = Arc::new(AtomicUsize::new(0));
        let flaky = Flaky {
            failures: 8,
            calls: Arc::clone(&calls),
        };
        let (pauses, pause) = recording();
        let mut stream = Box::pin(accept_stream_with(
            flaky,
            Arc::new(Semaphore::new(4)),
            pause,
        ));
        let first = stream
            .next()
            .await
            .expect("a connection")
            .expect("infallible");
        assert_eq!(first.0, 8);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            9,
            "one accept call per attempt"
        );
        let millis: Vec<u128> = pauses
            .lock()
            .expect("lock")
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(millis, [10, 20, 40, 80, 160, 320, 640, 1000]);
        // After a success the back-off starts again from the shortest pause.
        let (_, permit) = first;
        drop(permit);
        assert!(stream.next().await.is_some());
    }

    #[tokio::test]
    async fn per_connection_errors_do_not_pause() {
        struct Aborted(u32);
        impl Accept for Aborted {
            type Io = ();
            async fn accept(&mut self) -> io::Result<()> {
                self.0 += 1;
                if self.0 < 3 {
                    Err(io::ErrorKind::ConnectionAborted.into())
                } else {
                    Ok(())
                }
            }
        }
        let (pauses, pause) = recording();
        let mut stream = Box::pin(accept_stream_with(
            Aborted(0),
            Arc::new(Semaphore::new(1)),
            pause,
        ));
        assert!(stream.next().await.is_some());
        assert!(pauses.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn no_accept_happens_while_every_permit_is_held() {
        let calls = Arc::new(AtomicUsize::new(0));
        let flaky = Flaky {
            failures: 0,
            calls: Arc::clone(&calls),
        };
        let mut stream = Box::pin(accept_stream(flaky, Arc::new(Semaphore::new(1))));
        let (_, permit) = stream.next().await.expect("first").expect("infallible");
        // Cannot pass by accident: with the cap working, the second accept never starts.
        let waiting = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
        assert!(waiting.is_err(), "accepted past the cap");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(permit);
        assert!(stream.next().await.is_some());
    }

    #[test]
    fn a_connection_is_idle_only_without_calls_in_flight() {
        let activity = Arc::new(Activity::new());
        let timeout = Duration::from_secs(5);
        assert!(activity.idle_deadline(timeout).is_some());
        let call = InFlight::new(Arc::clone(&activity));
        let other = InFlight::new(Arc::clone(&activity));
        assert_eq!(activity.idle_deadline(timeout), None);
        drop(call);
        assert_eq!(activity.idle_deadline(timeout), None);
        drop(other);
        assert!(activity.idle_deadline(timeout).is_some());
    }
}
