//! Client tests against real local HTTP servers.
