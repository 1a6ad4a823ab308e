//! Server streams end with a status when the server shuts down, rather than being cut by the
//! connection's GOAWAY: the caller learns why (UNAVAILABLE, `SERVER_SHUTTING_DOWN`) and, from
//! the `resumable` metadata, whether calling again continues the stream or starts it over.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tonic::Status;

use super::ResponseStream;
use crate::error::ServiceError;
use crate::state::AppState;

/// `stream`, ended with [`ServiceError::ShuttingDown`] as soon as the server starts shutting down.
pub(super) fn until_shutdown<T: Send + 'static>(
    stream: ResponseStream<T>,
    state: &AppState,
    resumable: bool,
) -> ResponseStream<T> {
    let mut signal = state.shutdown.subscribe();
    let stopping = async move {
        if signal.wait_for(|stopping| *stopping).await.is_err() {
            // The state is gone without a signal: nothing to end the stream for.
            std::future::pending::<()>().await;
        }
    };
    Box::pin(UntilShutdown {
        inner: stream,
        stopping: Box::pin(stopping),
        resumable,
        done: false,
    })
}

struct UntilShutdown<T> {
    inner: ResponseStream<T>,
    stopping: Pin<Box<dyn Future<Output = ()> + Send>>,
    resumable: bool,
    done: bool,
}

impl<T> Stream for UntilShutdown<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        // The signal first, so that a stream with items always ready still ends.
        if self.stopping.as_mut().poll(cx).is_ready() {
            self.done = true;
            let resumable = self.resumable;
            return Poll::Ready(Some(Err(ServiceError::ShuttingDown { resumable }.into())));
        }
        let next = self.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(None) => self.done = true,
            // For `rpc_server_stream_messages_sent_total` and the call's access line.
            Poll::Ready(Some(Ok(_))) => crate::metrics::CallContext::count_message(),
            _ => {}
        }
        next
    }
}
