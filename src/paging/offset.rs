//! Offset paging of the list RPCs: which page a caller asks for ([`PageRequest`]) and what it
//! gets back ([`ListPage`]).
//!
//! A page is an offset and a size. Defender is asked for `$top = size + 1` at `$skip = offset`,
//! so the extra item tells whether a next page exists and the last page never comes back
//! empty. Defender may page server-side (fewer items than `$top`, plus an `@odata.nextLink`):
//! the links are then followed until the page and its extra item are there, so a short answer
//! is never mistaken for the end of the list ([`PageRequest::fill`]). Lists with no paging
//! upstream are read whole and sliced ([`PageRequest::slice`]).

use serde::de::DeserializeOwned;

use crate::defender::{ApiFamily, CallOptions, DefenderClient, DefenderError, ODataQuery, Page};
use crate::error::ServiceError;

/// One page of a list and where the next one starts.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// The next page's offset; `None` on the last page.
    pub next_offset: Option<u64>,
}

/// Which page to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Items to skip.
    pub offset: u64,
    /// Items per page (1 to 1,000).
    pub size: usize,
}

impl PageRequest {
    /// Defender's query options for the page: `filter`, `$top = size + 1` (the extra item
    /// tells whether a next page exists) at `$skip = offset`.
    pub fn query(&self, filter: Option<String>) -> Result<ODataQuery, ServiceError> {
        let skip = u32::try_from(self.offset).map_err(|_| {
            ServiceError::invalid("page_token", "points beyond what Defender can page to")
        })?;
        Ok(ODataQuery {
            filter,
            top: Some(u32::try_from(self.size + 1).unwrap_or(u32::MAX)),
            skip: Some(skip),
        })
    }

    /// The page from Defender's first answer to [`PageRequest::query`]: its next links are
    /// followed (through the client's link policy) until `size + 1` items are read or the list
    /// ends, then the answer is cut to the page.
    pub async fn fill<T: DeserializeOwned>(
        &self,
        client: &DefenderClient,
        first: Page<T>,
        family: ApiFamily,
        opts: &CallOptions,
    ) -> Result<ListPage<T>, DefenderError> {
        let read = client
            .collect_all(first, family, self.size.saturating_add(1), opts)
            .await?;
        Ok(self.page(read.items))
    }

    /// Cuts a `$top = size + 1` answer to the page.
    fn page<T>(&self, mut items: Vec<T>) -> ListPage<T> {
        let more = items.len() > self.size;
        items.truncate(self.size);
        ListPage {
            next_offset: more.then_some(self.offset + self.size as u64),
            items,
        }
    }

    /// Slices a whole list read in one go.
    pub fn slice<T>(&self, items: Vec<T>) -> ListPage<T> {
        let start = usize::try_from(self.offset)
            .unwrap_or(usize::MAX)
            .min(items.len());
        let end = start.saturating_add(self.size).min(items.len());
        let next_offset = (end < items.len()).then_some(end as u64);
        ListPage {
            items: items.into_iter().skip(start).take(end - start).collect(),
            next_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_item_means_a_next_page() {
        let page = PageRequest {
            offset: 10,
            size: 2,
        };
        assert_eq!(
            page.page(vec![1, 2, 3]),
            ListPage {
                items: vec![1, 2],
                next_offset: Some(12)
            }
        );
        assert_eq!(page.page(vec![1, 2]).next_offset, None);
        let q = page.query(None).expect("query");
        assert_eq!((q.top, q.skip), (Some(3), Some(10)));
    }

    #[test]
    fn whole_lists_are_sliced() {
        let page = PageRequest { offset: 2, size: 2 };
        assert_eq!(
            page.slice(vec![1, 2, 3, 4, 5]),
            ListPage {
                items: vec![3, 4],
                next_offset: Some(4)
            }
        );
        assert_eq!(page.slice(vec![1, 2, 3, 4]).next_offset, None);
        assert!(
            PageRequest { offset: 9, size: 2 }
                .slice(vec![1])
                .items
                .is_empty()
        );
    }
}
