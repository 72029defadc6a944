//! Tests that reach below the public API, kept inside the crate.

/// The test vectors of docs/FORMAT.md and the `fixtures/format/v1/` objects.
mod format;
