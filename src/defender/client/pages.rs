//! Reading lists page by page: bulk lists folded item by item (a page's items are never held
//! together), next links followed under the link policy (a foreign host is refused with no
//! request), and whole lists gathered up to a bound.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use url::Url;

use super::{DefenderClient, MACHINES_VULNERABILITIES_MAX_TOP, PER_MACHINE_MAX_ITEMS};
use crate::defender::budget::ApiFamily;
use crate::defender::error::DefenderError;
use crate::defender::odata::ODataQuery;
use crate::defender::paging::{Collection, Page, PageCursor};
use crate::defender::settings::CallOptions;

impl DefenderClient {
    /// The first page of a bulk `list`, each item handed to `each` as it is decoded (the
    /// page's items are never held together); returns where the next page is. Continue with
    /// [`DefenderClient::fold_next_page`].
    pub async fn fold_list<T: DeserializeOwned>(
        &self,
        list: BulkList,
        q: &ODataQuery,
        opts: &CallOptions,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        let (segments, max_top, what): (&[&str], u32, &str) = match list {
            BulkList::Alerts => (&["alerts"], ApiFamily::Alerts.max_page_size(), "alerts"),
            BulkList::MachinesVulnerabilities => (
                &["vulnerabilities", "machinesVulnerabilities"],
                MACHINES_VULNERABILITIES_MAX_TOP,
                "machinesVulnerabilities",
            ),
            BulkList::Vulnerabilities => (
                &["vulnerabilities"],
                ApiFamily::Vulnerabilities.max_page_size(),
                "vulnerabilities",
            ),
        };
        let url = self.list_url(segments, q, max_top)?;
        self.fold_get_page(url, list.family(), what, opts, each)
            .await
    }

    /// The page `next` points at, folded like [`DefenderClient::fold_list`]; the cursor is
    /// checked against the link policy first.
    pub async fn fold_next_page<T: DeserializeOwned>(
        &self,
        next: &PageCursor,
        family: ApiFamily,
        opts: &CallOptions,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        let url = next.url().clone();
        self.inner.links.check(&url)?;
        self.fold_get_page(url, family, "next page", opts, each)
            .await
    }

    async fn fold_get_page<T: DeserializeOwned>(
        &self,
        url: Url,
        family: ApiFamily,
        what: &str,
        opts: &CallOptions,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        let call = self.get_call(url, family);
        let bytes = self.inner.exec.execute(&call, opts).await?;
        self.inner.links.fold_page(&call.url, &bytes, what, each)
    }

    /// Reads the page `next` points at. The cursor's URL is checked against the link policy
    /// first: a foreign host is refused with no request. `family` picks the rate budget.
    pub async fn next_page<T: DeserializeOwned>(
        &self,
        next: &PageCursor,
        family: ApiFamily,
        opts: &CallOptions,
    ) -> Result<Page<T>, DefenderError> {
        let url = next.url().clone();
        self.inner.links.check(&url)?;
        self.get_page(url, family, "next page", opts).await
    }

    /// Follows `first.next` until the end or `max_items`; `complete` says whether the whole list
    /// was read. An error on any page fails the whole read.
    pub async fn collect_all<T: DeserializeOwned>(
        &self,
        first: Page<T>,
        family: ApiFamily,
        max_items: usize,
        opts: &CallOptions,
    ) -> Result<Collection<T>, DefenderError> {
        let mut items = first.items;
        let mut next = first.next;
        let mut visited = HashSet::new();
        loop {
            if items.len() >= max_items {
                let complete = items.len() == max_items && next.is_none();
                items.truncate(max_items);
                return Ok(Collection { items, complete });
            }
            let Some(cursor) = next else {
                return Ok(Collection {
                    items,
                    complete: true,
                });
            };
            if !visited.insert(cursor.url().clone()) {
                return Err(DefenderError::Decode {
                    what: "@odata.nextLink".into(),
                    message: "paging links form a loop".into(),
                });
            }
            let page = self.next_page::<T>(&cursor, family, opts).await?;
            items.extend(page.items);
            next = page.next;
        }
    }

    /// One page, then its next links (APIs without documented `$top`/`$skip`).
    pub(super) async fn collect_links<T: DeserializeOwned>(
        &self,
        url: Url,
        family: ApiFamily,
        what: &str,
        opts: &CallOptions,
    ) -> Result<Vec<T>, DefenderError> {
        let first = self.get_page(url, family, what, opts).await?;
        let all = self
            .collect_all(first, family, PER_MACHINE_MAX_ITEMS, opts)
            .await?;
        if !all.complete {
            tracing::warn!(%family, max = PER_MACHINE_MAX_ITEMS, "per-machine list truncated");
        }
        Ok(all.items)
    }
}

/// The bulk lists that can be read item by item with [`DefenderClient::fold_list`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkList {
    /// `GET /api/alerts`.
    Alerts,
    /// `GET /api/vulnerabilities/machinesVulnerabilities`.
    MachinesVulnerabilities,
    /// `GET /api/vulnerabilities`.
    Vulnerabilities,
}

impl BulkList {
    /// The rate budget its pages count against.
    pub fn family(self) -> ApiFamily {
        match self {
            BulkList::Alerts => ApiFamily::Alerts,
            BulkList::MachinesVulnerabilities | BulkList::Vulnerabilities => {
                ApiFamily::Vulnerabilities
            }
        }
    }
}
