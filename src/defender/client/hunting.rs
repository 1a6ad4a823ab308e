//! Advanced hunting (Defender's and Graph's), streamed: the calls go through the rate budget,
//! tokens, retries and error classification like every other, but the 2xx body is decoded as it
//! arrives (`hunting_json`) instead of being read whole, so a 124 MB result never sits in
//! memory. `run_advanced_query` / `run_graph_hunting_query` drain the same stream into one
//! in-memory result.
//!
//! Retries stop once the answer's head has arrived: rows may already have been passed on, so a
//! failure while reading the body (connection lost, body cut short, malformed JSON, too slow) is
//! reported, never retried. The body read is bounded by an idle timeout per chunk (the client's
//! `request_timeout`: a healthy upstream sends continuously once the query has run), the
//! caller's deadline and the client's largest accepted body.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::time::Instant;
use url::Url;

use super::DefenderClient;
use crate::defender::auth::TokenScope;
use crate::defender::budget::ApiFamily;
use crate::defender::error::DefenderError;
use crate::defender::http::{Call, MAX_BODY_BYTES, RetryClass, transport_error};
use crate::defender::hunting_json::{DecodeError, HuntingDecoder, HuntingEvent};
use crate::defender::models::HuntingResult;
use crate::defender::settings::CallOptions;

/// A hunting answer being read: call [`HuntingStream::next_event`] until it returns `None`.
pub struct HuntingStream {
    response: reqwest::Response,
    decoder: HuntingDecoder,
    family: ApiFamily,
    idle_timeout: Duration,
    deadline: Option<Instant>,
    max_bytes: usize,
    bytes_read: usize,
    body_ended: bool,
    finished: bool,
}

impl std::fmt::Debug for HuntingStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuntingStream")
            .field("family", &self.family)
            .field("bytes_read", &self.bytes_read)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl HuntingStream {
    /// The API family (and so the rate budget) the query ran under.
    pub fn family(&self) -> ApiFamily {
        self.family
    }

    /// Bytes of the answer's body read so far.
    pub fn bytes_read(&self) -> usize {
        self.bytes_read
    }

    /// The next schema, row or statistics, in the order the backend sent them; `None` once the
    /// answer ended well. After an error the stream is over.
    pub async fn next_event(&mut self) -> Option<Result<HuntingEvent, DefenderError>> {
        if self.finished {
            return None;
        }
        let result = self.advance().await;
        if !matches!(result, Some(Ok(_))) {
            self.finished = true;
        }
        result
    }

    async fn advance(&mut self) -> Option<Result<HuntingEvent, DefenderError>> {
        loop {
            match self.decoder.next_event() {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => {}
                Err(err) => return Some(Err(decode_error(err))),
            }
            if self.body_ended {
                return self.decoder.finish().err().map(|e| Err(decode_error(e)));
            }
            if let Err(err) = self.read_chunk().await {
                return Some(Err(err));
            }
        }
    }

    async fn read_chunk(&mut self) -> Result<(), DefenderError> {
        let (wait, by_deadline) = match self.deadline.map(|d| d - Instant::now()) {
            Some(left) if left < self.idle_timeout => (left, true),
            _ => (self.idle_timeout, false),
        };
        let chunk = match tokio::time::timeout(wait, self.response.chunk()).await {
            Err(_) if by_deadline => return Err(DefenderError::DeadlineExceeded),
            Err(_) => {
                return Err(DefenderError::Transport {
                    message: format!(
                        "the hunting answer stalled: no data for {} ms",
                        wait.as_millis()
                    ),
                    timeout: true,
                    ambiguous: false,
                });
            }
            Ok(Err(err)) => return Err(transport_error(&err, false)),
            Ok(Ok(chunk)) => chunk,
        };
        match chunk {
            None => self.body_ended = true,
            Some(bytes) => {
                self.bytes_read += bytes.len();
                if self.bytes_read > self.max_bytes {
                    return Err(DefenderError::Decode {
                        what: "hunting result".into(),
                        message: format!("the answer is larger than {} bytes", self.max_bytes),
                    });
                }
                self.decoder.feed(&bytes);
            }
        }
        Ok(())
    }
}

fn decode_error(err: DecodeError) -> DefenderError {
    DefenderError::decode("hunting result", err)
}

impl DefenderClient {
    /// Defender `POST /api/advancedqueries/run` `{"Query"}`, the whole answer in memory (the
    /// service streams with [`DefenderClient::open_advanced_query`] instead). Read-only, so
    /// transient failures are retried (not timeouts: see the `http` module).
    pub async fn run_advanced_query(
        &self,
        query: &str,
        opts: &CallOptions,
    ) -> Result<HuntingResult, DefenderError> {
        collect_hunt(self.open_advanced_query(query, opts).await?).await
    }

    /// Graph `POST {graph}/v1.0/security/runHuntingQuery` `{"Query"}` with a Graph token, the
    /// whole answer in memory (see [`DefenderClient::open_graph_hunting_query`]).
    pub async fn run_graph_hunting_query(
        &self,
        query: &str,
        opts: &CallOptions,
    ) -> Result<HuntingResult, DefenderError> {
        collect_hunt(self.open_graph_hunting_query(query, opts).await?).await
    }

    /// `{graph_base}/v1.0/security/runHuntingQuery`.
    fn graph_hunting_url(&self) -> Result<Url, DefenderError> {
        let mut url = self.inner.graph_base.clone();
        url.path_segments_mut()
            .map_err(|()| DefenderError::Config("`graph_url` cannot be a base".into()))?
            .pop_if_empty()
            .extend(["v1.0", "security", "runHuntingQuery"]);
        Ok(url)
    }

    /// Defender `POST /api/advancedqueries/run` `{"Query"}`, its answer streamed.
    pub async fn open_advanced_query(
        &self,
        query: &str,
        opts: &CallOptions,
    ) -> Result<HuntingStream, DefenderError> {
        let url = self.api_url(&["advancedqueries", "run"])?;
        self.open_hunt(
            url,
            ApiFamily::AdvancedHunting,
            TokenScope::Defender,
            query,
            opts,
        )
        .await
    }

    /// Graph `POST {graph}/v1.0/security/runHuntingQuery` `{"Query"}` with a Graph token, its
    /// answer streamed.
    pub async fn open_graph_hunting_query(
        &self,
        query: &str,
        opts: &CallOptions,
    ) -> Result<HuntingStream, DefenderError> {
        let url = self.graph_hunting_url()?;
        self.open_hunt(url, ApiFamily::GraphHunting, TokenScope::Graph, query, opts)
            .await
    }

    async fn open_hunt(
        &self,
        url: Url,
        family: ApiFamily,
        scope: TokenScope,
        query: &str,
        opts: &CallOptions,
    ) -> Result<HuntingStream, DefenderError> {
        if query.trim().is_empty() {
            return Err(DefenderError::invalid_input("the hunting query is empty"));
        }
        let settings = self.settings();
        let body = json!({ "Query": query });
        let call = Call {
            method: Method::POST,
            url,
            family,
            scope,
            body: Some(&body),
            retry: RetryClass::ReadOnly,
            timeout: settings.hunting_timeout,
        };
        let response = self.executor().open(&call, opts).await?;
        Ok(HuntingStream {
            response,
            decoder: HuntingDecoder::default(),
            family,
            idle_timeout: settings.request_timeout,
            deadline: opts.deadline,
            max_bytes: MAX_BODY_BYTES,
            bytes_read: 0,
            body_ended: false,
            finished: false,
        })
    }
}

/// Drains a hunting stream into one in-memory result: one request path for both forms.
async fn collect_hunt(mut stream: HuntingStream) -> Result<HuntingResult, DefenderError> {
    let mut result = HuntingResult::default();
    while let Some(event) = stream.next_event().await {
        match event? {
            HuntingEvent::Schema(columns) => result.schema = columns,
            HuntingEvent::Row(row) => result.rows.push(row),
            HuntingEvent::Stats(stats) => result.stats = Some(stats),
        }
    }
    Ok(result)
}
