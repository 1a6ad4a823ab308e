//! Write coalescing for accepted connections: bytes written to a connection are gathered and
//! sent when the HTTP/2 layer flushes, in one system call, instead of one write per frame.
//!
//! Why: h2 keeps a DATA payload of 256 bytes or more out of its own write buffer when the
//! transport accepts vectored writes, and then must flush before it can queue the next frame.
//! Every risk answer is larger than that (about 0.7 KB lean, 2.3 KB full), so each answer cost
//! its own `writev` (1.8 per call measured with `strace -c`, against 0.9 for a 12-byte
//! answer), and the kernel's share of a cache hit was twice the hello-world's. Reporting
//! non-vectored writes raises h2's threshold to 1 KiB (the lean answer is then copied into h2's
//! buffer like any small frame), and this buffer turns h2's separate writes of a flush into
//! one. Semantics are those of a buffered writer: everything written is sent by the next
//! `poll_flush` (h2 and hyper flush after every batch of frames) or `poll_shutdown`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

/// Bytes gathered before a write goes out without waiting for the flush.
pub const CAPACITY: usize = 64 * 1024;

/// The pending bytes of one connection.
#[derive(Debug, Default)]
pub struct WriteBuffer {
    bytes: Vec<u8>,
    /// How much of `bytes` the transport has already taken.
    sent: usize,
}

impl WriteBuffer {
    /// Accepts as much of `bufs` as fits (all of it when the buffer was flushed first); a write
    /// larger than [`CAPACITY`] on an empty buffer goes straight to `io`.
    pub fn poll_write_vectored<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if self.pending() + len > CAPACITY {
            ready!(self.poll_send(io, cx))?;
            if len > CAPACITY {
                return Pin::new(io).poll_write_vectored(cx, bufs);
            }
        }
        if self.bytes.is_empty() {
            self.bytes.reserve(len.max(4096));
        }
        for buf in bufs {
            self.bytes.extend_from_slice(buf);
        }
        Poll::Ready(Ok(len))
    }

    /// Sends every pending byte to `io` (not flushing `io` itself).
    pub fn poll_send<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.sent < self.bytes.len() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.bytes[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.sent = 0;
        self.bytes.clear();
        // A connection that once sent a large burst does not keep its memory while idle.
        if self.bytes.capacity() > CAPACITY {
            self.bytes = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Sends every pending byte, then flushes `io`.
    pub fn poll_flush<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_send(io, cx))?;
        Pin::new(io).poll_flush(cx)
    }

    /// Sends every pending byte, then shuts `io` down.
    pub fn poll_shutdown<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_send(io, cx))?;
        Pin::new(io).poll_shutdown(cx)
    }

    fn pending(&self) -> usize {
        self.bytes.len() - self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    /// A writer that counts its writes and takes at most `chunk` bytes per write.
    struct Counting {
        out: Vec<u8>,
        writes: usize,
        flushes: usize,
        chunk: usize,
    }

    impl AsyncWrite for Counting {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            self.writes += 1;
            Poll::Ready(Ok(n))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn counting(chunk: usize) -> Counting {
        Counting {
            out: Vec::new(),
            writes: 0,
            flushes: 0,
            chunk,
        }
    }

    #[test]
    fn writes_between_flushes_leave_as_one_write_in_order() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut io = counting(usize::MAX);
        let mut wb = WriteBuffer::default();
        for part in [&b"headers"[..], &[7u8; 2400][..], b"trailers"] {
            let polled = wb.poll_write_vectored(&mut io, &mut cx, &[io::IoSlice::new(part)]);
            assert!(matches!(polled, Poll::Ready(Ok(n)) if n == part.len()));
        }
        assert_eq!(io.writes, 0, "nothing is sent before the flush");
        assert!(matches!(
            wb.poll_flush(&mut io, &mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!((io.writes, io.flushes), (1, 1));
        let mut expected = b"headers".to_vec();
        expected.extend_from_slice(&[7u8; 2400]);
        expected.extend_from_slice(b"trailers");
        assert_eq!(io.out, expected);
    }

    #[test]
    fn partial_writes_are_resumed_and_large_writes_pass_through() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut io = counting(1000);
        let mut wb = WriteBuffer::default();
        let small = vec![1u8; 3000];
        assert!(matches!(
            wb.poll_write_vectored(&mut io, &mut cx, &[io::IoSlice::new(&small)]),
            Poll::Ready(Ok(3000))
        ));
        assert!(matches!(
            wb.poll_flush(&mut io, &mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(io.out, small, "a short transport write is resumed");
        assert_eq!(io.writes, 3);
        let big = vec![2u8; CAPACITY + 1];
        let n = match wb.poll_write_vectored(&mut io, &mut cx, &[io::IoSlice::new(&big)]) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            n, 1000,
            "a write over the capacity goes to the transport as it is"
        );
    }

    #[tokio::test]
    async fn over_a_socket_nothing_is_lost_at_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.expect("read");
            all
        });
        let mut io = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut wb = WriteBuffer::default();
        let mut sent = Vec::new();
        for i in 0..500u32 {
            let part = vec![(i % 251) as u8; (i as usize * 37) % 3000 + 1];
            let n = std::future::poll_fn(|cx| {
                wb.poll_write_vectored(&mut io, cx, &[io::IoSlice::new(&part)])
            })
            .await
            .expect("write");
            sent.extend_from_slice(&part[..n]);
        }
        std::future::poll_fn(|cx| wb.poll_shutdown(&mut io, cx))
            .await
            .expect("shutdown");
        assert_eq!(reader.await.expect("reader"), sent);
    }
}
