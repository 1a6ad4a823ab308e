//! `GetSoftware` and `ListSoftwareMachines`: a software product from Defender's inventory, and
//! the devices it is installed on (`GET /api/Software/{id}/machineReferences`).
//!
//! Paging follows the other list RPCs: the signed page token carries an offset, and Defender is
//! asked for `$top = page_size + 1` at `$skip = offset`, the extra item telling whether a next
//! page exists; a shorter answer with a next link is followed until the page is full. Defender does not document OData options on `machineReferences`; if it ever
//! answers with more items than asked for (options ignored), the whole list is read (following
//! next links) and sliced here instead, so a caller never sees the same devices twice.

use crate::defender::{
    ApiFamily, CallOptions, DefenderClient, MachineReference, ODataQuery, Software,
};
use crate::error::ServiceError;
use crate::paging::{ListPage, PageRequest, PageScope};

/// Longest software id accepted (Defender ids are `<vendor>-_-<name>`).
pub const MAX_SOFTWARE_ID_CHARS: usize = 256;

/// Most devices read when Defender ignores `$top`/`$skip` and the list must be read whole.
const MAX_WHOLE_LIST: usize = 100_000;

/// Characters no Defender software id contains; they would only change the upstream path
/// (`/`, `\`) or end it (`?`, `#`), so such an id is refused before any call.
const FORBIDDEN_CHARS: [char; 4] = ['/', '\\', '?', '#'];

/// A software id from a request: 1 to 256 characters, no control characters, none of
/// `/ \ ? #`, not `.`/`..`.
pub fn software_id(field: &str, value: &str) -> Result<String, ServiceError> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err(ServiceError::invalid(
            field,
            "is required: a Defender software id such as \"microsoft-_-edge\"",
        ));
    }
    if chars > MAX_SOFTWARE_ID_CHARS
        || value
            .chars()
            .any(|c| c.is_control() || FORBIDDEN_CHARS.contains(&c))
        || value == "."
        || value == ".."
    {
        return Err(ServiceError::invalid(
            field,
            format!(
                "must be a Defender software id (`<vendor>-_-<name>`, e.g. \"microsoft-_-edge\"), 1 to {MAX_SOFTWARE_ID_CHARS} characters without control characters, `/`, `\\`, `?` or `#`"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// The page-token scope of `ListSoftwareMachines` for one software id.
pub fn machines_scope(tenant: &str, software_id: &str) -> PageScope {
    PageScope::new("ListSoftwareMachines", tenant).with("software_id", software_id)
}

/// `GET /api/Software/{id}`; 404 is NOT_FOUND of that software.
pub async fn get_software(
    client: &DefenderClient,
    id: &str,
    opts: &CallOptions,
) -> Result<Software, ServiceError> {
    client
        .get_software(id, opts)
        .await
        .map_err(|e| ServiceError::from_defender(e, "software", id))
}

/// One page of the devices that have software `id`.
pub async fn list_software_machines(
    client: &DefenderClient,
    id: &str,
    page: PageRequest,
    opts: &CallOptions,
) -> Result<ListPage<MachineReference>, ServiceError> {
    let not_found = |e| ServiceError::from_defender(e, "software", id);
    let asked = page.size + 1;
    let query = page.query(None)?;
    let answer = client
        .list_software_machines(id, &query, opts)
        .await
        .map_err(not_found)?;
    if answer.items.len() <= asked {
        // Fewer than asked with a next link is server-driven paging: follow it to fill the page.
        return page
            .fill(client, answer, ApiFamily::Software, opts)
            .await
            .map_err(not_found);
    }
    tracing::warn!(
        asked,
        got = answer.items.len(),
        "machineReferences ignored $top/$skip; reading the list whole"
    );
    let first = client
        .list_software_machines(id, &ODataQuery::default(), opts)
        .await
        .map_err(not_found)?;
    let all = client
        .collect_all(first, ApiFamily::Software, MAX_WHOLE_LIST, opts)
        .await
        .map_err(not_found)?;
    Ok(page.slice(all.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_ids_are_checked_before_any_call() {
        assert_eq!(
            software_id("software_id", "microsoft-_-edge")
                .ok()
                .as_deref(),
            Some("microsoft-_-edge")
        );
        for bad in [
            "",
            "  ",
            "a\nb",
            ".",
            "..",
            "a/b",
            "../machines",
            "a\\b",
            "a?$top=1",
            "a#b",
        ] {
            assert!(software_id("software_id", bad).is_err(), "{bad:?}");
        }
        assert!(software_id("software_id", &"x".repeat(MAX_SOFTWARE_ID_CHARS)).is_ok());
        assert!(software_id("software_id", &"x".repeat(MAX_SOFTWARE_ID_CHARS + 1)).is_err());
    }

    #[test]
    fn scopes_differ_per_software() {
        assert_ne!(machines_scope("t", "a-_-b"), machines_scope("t", "a-_-c"));
        assert_ne!(machines_scope("t", "a-_-b"), machines_scope("u", "a-_-b"));
    }
}
