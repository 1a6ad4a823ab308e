//! Paging of the list RPCs, as callers see it.
//!
//! Three concerns share the word "paging"; they live apart so that each reads on its own:
//! - [`offset`]: which page a caller asks for (an offset and a size), how it is read from
//!   Defender (one item more than the page, short answers filled from next links) and sliced.
//! - [`token`]: the signed, opaque page tokens that carry the offset between calls, bound to
//!   the RPC, tenant and filters of the listing.
//! - Defender's own server-driven paging (`@odata.nextLink`, the link policy that keeps the
//!   bearer token on Defender's hosts) is part of the REST client: `crate::defender`'s `paging`.

pub mod offset;
pub mod token;

pub use offset::{ListPage, PageRequest};
pub use token::{PageScope, PageTokenSigner};
