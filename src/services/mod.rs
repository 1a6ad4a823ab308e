//! The Tonic service implementations.
