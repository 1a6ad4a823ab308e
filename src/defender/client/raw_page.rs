//! Machine pages read but not decoded yet. A page of 10,000 machines decoded at once holds
//! every machine of the page (tens of MB); a [`RawPage`] is decoded item by item wherever the
//! caller wants — `StreamFleetRisk` does it on a blocking thread that hands each scored machine
//! to its bounded channel — so only the body and the items in flight are held.

use serde::de::DeserializeOwned;
use url::Url;

use super::DefenderClient;
use crate::defender::budget::ApiFamily;
use crate::defender::error::DefenderError;
use crate::defender::odata::ODataQuery;
use crate::defender::paging::{LinkPolicy, PageCursor};
use crate::defender::settings::CallOptions;

/// A collection page's body as read, with what is needed to decode it and to check its next
/// link.
pub struct RawPage {
    url: Url,
    body: Vec<u8>,
    links: LinkPolicy,
    what: &'static str,
}

impl std::fmt::Debug for RawPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawPage")
            .field("url", &self.url.path())
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl RawPage {
    /// Decodes the page one item at a time, handing each to `each` as soon as it is decoded;
    /// returns where the next page is (checked against the link policy). On an error, the
    /// items already handed over belong to a failed read.
    pub fn fold<T: DeserializeOwned>(
        &self,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        self.links.fold_page(&self.url, &self.body, self.what, each)
    }

    /// The body's size in bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// True when the body is empty.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

impl DefenderClient {
    /// `GET /api/machines` (first page), read but not decoded: see [`RawPage`]. `None` when
    /// Defender answers 404 (no machine: an empty list).
    pub async fn read_machines_page(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Option<RawPage>, DefenderError> {
        let url = self.list_url(&["machines"], q, ApiFamily::Machines.max_page_size())?;
        match self
            .read_raw(url, ApiFamily::Machines, "machines", opts)
            .await
        {
            Err(DefenderError::NotFound { .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// The page `next` points at, read but not decoded; the cursor is checked against the link
    /// policy first (a foreign host is refused with no request).
    pub async fn read_next_page(
        &self,
        next: &PageCursor,
        family: ApiFamily,
        opts: &CallOptions,
    ) -> Result<RawPage, DefenderError> {
        let url = next.url().clone();
        self.inner.links.check(&url)?;
        self.read_raw(url, family, "next page", opts).await
    }

    async fn read_raw(
        &self,
        url: Url,
        family: ApiFamily,
        what: &'static str,
        opts: &CallOptions,
    ) -> Result<RawPage, DefenderError> {
        let call = self.get_call(url, family);
        let body = self.inner.exec.execute(&call, opts).await?;
        Ok(RawPage {
            url: call.url,
            body,
            links: self.inner.links.clone(),
            what,
        })
    }
}
