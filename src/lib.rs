//! pail: git for datasets of files in object storage.
//!
//! The library never prints and never reads the environment; the command line (`cli`, behind
//! the `cli` feature that the `pail` binary needs) does both. Everything pail knows is an
//! immutable object (see `object`) or a ref, kept in one redb database under `.pail/` (see
//! `store`, `repo`).

pub mod checkout;
/// The `pail` command line (the `cli` feature, on by default): the one place that prints and
/// reads the environment. `cli::run_with` runs it from another program, e.g. the Python package.
#[cfg(feature = "cli")]
pub mod cli;
pub mod commit;
pub mod diff;
pub mod escape;
pub mod lineage;
pub mod listing;
pub mod lock;
pub mod maintain;
pub mod map;
pub mod mcp;
pub mod name;
pub mod object;
pub mod query;
pub mod remote;
pub mod repo;
pub mod rows;
pub mod schema;
mod spool;
pub mod store;
pub mod summary;
pub mod tags;
pub mod view;
mod walk;

pub use commit::{Bump, CommitError, CommitOptions, CommitOutcome, Records};
pub use name::{DatasetName, DatasetRef, NameDefaults, VersionSpec};
pub use object::{Commit, CommitId, Kind, ObjectId};
pub use repo::{Repo, RepoError};
pub use schema::Schema;

/// The runtime for storage I/O inside a library call (listing, hashing, push, pull,
/// checkout): two workers, since requests wait on the network rather than on the CPU.
pub(crate) fn io_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}
