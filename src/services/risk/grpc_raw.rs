//! A unary gRPC exchange over plain `http` types, for the one method whose answer is already
//! encoded: [`super::fast_path::FastPathRiskServer`]'s `GetEndpointRisk`.
//!
//! Why not tonic's `Grpc::unary`: its codec copies every answer into a fresh 8 KiB buffer and
//! frames it there, which for a cache hit (a ~2.3 KB answer kept encoded) cost more than the
//! rest of the call (measured: ~4 µs of ~40 µs per call). Here the answer is one `Bytes` that
//! already holds the whole gRPC message frame; the response body hands it to hyper as is.
//!
//! Only the unary, uncompressed request/response framing is done here, as tonic does it for
//! the generated services of this server (a compressed request is left to the generated
//! server, see [`is_compressed`]; the request size limit is the configured one).
//! Errors are tonic's own trailers-only responses (`Status::into_http`), and gRPC-Web is
//! translated by the `GrpcWebLayer` around the whole server, as for every other method.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame};
use tonic::Status;

/// Length of the gRPC message prefix: a compressed flag and a big-endian `u32` length.
pub const PREFIX_LEN: usize = 5;

/// Whether the request declares a compressed body (`grpc-encoding` other than `identity`):
/// such a request is left to tonic's generated server, which decompresses the encodings this
/// server accepts (gzip) and refuses the others with UNIMPLEMENTED.
pub fn is_compressed(headers: &HeaderMap) -> bool {
    headers
        .get("grpc-encoding")
        .is_some_and(|encoding| encoding.as_bytes() != b"identity")
}

/// Reads a unary request's one message (without its prefix) from `body`; the headers say it
/// is not compressed ([`is_compressed`]).
///
/// Fails as tonic does: OUT_OF_RANGE past `max` bytes, INTERNAL for a missing, truncated,
/// compressed-flagged or extra message.
pub async fn read_message<B>(body: B, max: usize) -> Result<Bytes, Status>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = std::pin::pin!(body);
    // Nearly always one DATA frame holding the whole message: kept without a copy.
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|err| {
            Status::internal(format!("cannot read the request body: {}", err.into()))
        })?;
        let Ok(mut data) = frame.into_data() else {
            continue; // request trailers carry nothing this method reads
        };
        let received = first.as_ref().map_or(0, Bytes::len) + more.len() + data.remaining();
        if received > max.saturating_add(PREFIX_LEN) {
            return Err(too_large(received.saturating_sub(PREFIX_LEN), max));
        }
        match &first {
            None if more.is_empty() => first = Some(data.copy_to_bytes(data.remaining())),
            _ => {
                if let Some(bytes) = first.take() {
                    more.put_slice(&bytes);
                }
                more.put(data);
            }
        }
    }
    let bytes = first.unwrap_or_else(|| more.freeze());
    message(bytes, max)
}

/// The one message of a request body (prefix checked and removed).
fn message(mut bytes: Bytes, max: usize) -> Result<Bytes, Status> {
    if bytes.is_empty() {
        return Err(Status::internal("Missing request message."));
    }
    if bytes.len() < PREFIX_LEN {
        return Err(Status::internal(
            "protocol error: the request ends inside a message prefix",
        ));
    }
    let compressed = bytes.get_u8();
    let len = usize::try_from(bytes.get_u32()).unwrap_or(usize::MAX);
    match compressed {
        0 => {}
        1 => {
            return Err(Status::internal(
                "protocol error: received message with compressed-flag but no grpc-encoding was specified",
            ));
        }
        other => {
            return Err(Status::internal(format!(
                "protocol error: received message with invalid compression flag: {other}"
            )));
        }
    }
    if len > max {
        return Err(too_large(len, max));
    }
    match bytes.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(Status::internal(
            "protocol error: the request ends inside its message",
        )),
        std::cmp::Ordering::Greater => Err(Status::internal(
            "protocol error: a unary request carries exactly one message",
        )),
        std::cmp::Ordering::Equal => Ok(bytes),
    }
}

fn too_large(len: usize, max: usize) -> Status {
    Status::out_of_range(format!(
        "Error, decoded message length too large: found {len} bytes, the limit is: {max} bytes"
    ))
}

/// Writes the 5-byte prefix of an uncompressed message of `len` bytes.
pub fn put_prefix(dst: &mut impl BufMut, len: usize) -> Result<(), Status> {
    let len = u32::try_from(len)
        .map_err(|_| Status::internal("the answer is larger than a gRPC message can be"))?;
    dst.put_u8(0);
    dst.put_u32(len);
    Ok(())
}

/// A successful unary response: `frame` (one whole message frame, prefix included) and the
/// `grpc-status: 0` trailer.
pub fn ok_response(frame: Bytes) -> http::Response<tonic::body::Body> {
    let mut response = http::Response::new(tonic::body::Body::new(OneMessage {
        frame: Some(frame),
        done: false,
    }));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

/// Largest DATA chunk of an answer. h2 copies a chunk under 1 KiB into its write buffer (on
/// our connections, which report non-vectored writes: `server::write_buffer`) but keeps a larger
/// one aside and must flush before it queues the next frame, i.e. one system call per answer.
/// A full answer (about 2.3 KB) sent in chunks below that joins the other answers of the
/// flush; the cost is 9 bytes of frame header per extra chunk.
pub const MAX_DATA_CHUNK: usize = 1000;

/// The body of [`ok_response`]: the message in DATA chunks of at most [`MAX_DATA_CHUNK`]
/// bytes, then the trailers.
struct OneMessage {
    frame: Option<Bytes>,
    done: bool,
}

impl Body for OneMessage {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(frame) = self.frame.as_mut() {
            let chunk = if frame.len() > MAX_DATA_CHUNK {
                frame.split_to(MAX_DATA_CHUNK)
            } else {
                std::mem::take(frame)
            };
            if frame.is_empty() {
                self.frame = None;
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        self.done = true;
        let mut trailers = HeaderMap::with_capacity(1);
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.frame.is_none() && self.done
    }

    // No exact `size_hint`: the gRPC-Web layer passes it through, and hyper would then send a
    // Content-Length that cuts off the trailer frame gRPC-Web appends to the body.
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_REQUEST_BYTES: usize = crate::config::DEFAULT_MAX_REQUEST_MESSAGE_BYTES;

    fn framed(flag: u8, message: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(flag);
        b.put_u32(u32::try_from(message.len()).expect("small"));
        b.put_slice(message);
        b.freeze()
    }

    type Frames = futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>;

    /// A body delivering `chunks` as separate DATA frames.
    fn body(chunks: Vec<Bytes>) -> http_body_util::StreamBody<Frames> {
        let frames: Vec<_> = chunks.into_iter().map(|c| Ok(Frame::data(c))).collect();
        http_body_util::StreamBody::new(futures::stream::iter(frames))
    }

    async fn read(chunks: Vec<Bytes>) -> Result<Bytes, Status> {
        read_message(body(chunks), MAX_REQUEST_BYTES).await
    }

    #[tokio::test]
    async fn one_message_in_one_or_many_frames() {
        let whole = framed(0, b"hello");
        assert_eq!(read(vec![whole.clone()]).await.expect("one frame"), "hello");
        let split: Vec<Bytes> = whole
            .iter()
            .map(|b| Bytes::copy_from_slice(&[*b]))
            .collect();
        assert_eq!(read(split).await.expect("byte by byte"), "hello");
        assert_eq!(read(vec![framed(0, b"")]).await.expect("empty"), "");
    }

    #[tokio::test]
    async fn malformed_requests_are_refused() {
        let code = |r: Result<Bytes, Status>| r.expect_err("refused").code();
        assert_eq!(code(read(vec![]).await), tonic::Code::Internal);
        assert_eq!(
            code(read(vec![Bytes::from_static(&[0, 0])]).await),
            tonic::Code::Internal
        );
        let truncated = framed(0, b"hello").slice(..7);
        assert_eq!(code(read(vec![truncated]).await), tonic::Code::Internal);
        let two = [framed(0, b"a"), framed(0, b"b")].concat();
        assert_eq!(code(read(vec![two.into()]).await), tonic::Code::Internal);
        assert_eq!(
            code(read(vec![framed(1, b"x")]).await),
            tonic::Code::Internal
        );
        assert_eq!(
            code(read(vec![framed(7, b"x")]).await),
            tonic::Code::Internal
        );
        let mut huge = BytesMut::new();
        huge.put_u8(0);
        huge.put_u32(u32::try_from(MAX_REQUEST_BYTES + 1).expect("fits"));
        assert_eq!(
            code(read(vec![huge.freeze()]).await),
            tonic::Code::OutOfRange
        );
        let big = Bytes::from(vec![0u8; MAX_REQUEST_BYTES + PREFIX_LEN + 1]);
        assert_eq!(code(read(vec![big]).await), tonic::Code::OutOfRange);
    }

    #[test]
    fn compressed_requests_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!is_compressed(&headers), "no header: uncompressed");
        headers.insert("grpc-encoding", HeaderValue::from_static("identity"));
        assert!(!is_compressed(&headers), "identity is no compression");
        headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
        assert!(is_compressed(&headers));
    }

    #[tokio::test]
    async fn the_response_is_the_frame_then_the_status_trailer() {
        use http_body_util::BodyExt;
        let response = ok_response(framed(0, b"answer"));
        assert_eq!(response.headers()["content-type"], "application/grpc");
        let collected = response.into_body().collect().await.expect("body");
        let trailers = collected.trailers().cloned().expect("trailers");
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(collected.to_bytes(), framed(0, b"answer"));
    }

    #[tokio::test]
    async fn a_large_answer_leaves_in_chunks_under_h2s_copy_threshold() {
        use http_body_util::BodyExt;
        let message: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        let mut body = ok_response(framed(0, &message)).into_body();
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame.expect("frame").into_data() {
                Ok(data) => chunks.push(data),
                Err(frame) => assert!(frame.is_trailers(), "only data, then trailers"),
            }
        }
        assert_eq!(chunks.len(), 3);
        assert!(
            chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= MAX_DATA_CHUNK)
        );
        assert_eq!(chunks.concat(), framed(0, &message));
    }
}
