//! The one integration test binary: every end-to-end test, one module per area, sharing
//! `common` (linking the library once instead of once per file). Run one area with
//! `cargo test --test it remote::`.

mod agents;
mod arrow;
mod checkout;
mod cli;
mod cli_doc;
mod common;
mod completions;
mod delta;
mod iceberg;
mod map;
mod mcp;
mod query;
mod query_sql;
mod remote;
mod s3;
mod snapshots;
mod summary;
mod terminal;
mod types;
mod values;
