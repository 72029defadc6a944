//! pail: git for datasets of files in object storage.
//!
//! A dataset is a sequence of immutable, semantically versioned commits of rows (JSON
//! records, or the files of a listed bucket), kept in a repository under `.pail/`. Every
//! version is a content-addressed object graph: a [`Commit`] names a [`Schema`] and a tree
//! of Parquet leaves. docs/FORMAT.md gives every byte.
//!
//! The library never prints and never reads the environment; the command line ([`cli`],
//! behind the `cli` feature that the `pail` binary needs) does both.
//!
//! # The API
//!
//! [`Repo`] is a thin handle on a repository: its directory, its name defaults and its
//! transactions, and it resolves `name@version` refs ([`DatasetRef`]) to versions
//! ([`Resolved`]). Each capability is a module of free functions taking `&Repo` and a
//! named options struct, and returning a named report or the module's own error, which
//! wraps [`RepoError`]:
//!
//! | module        | what it does |
//! |---------------|--------------|
//! | [`commit`]    | commit JSON records ([`commit::records`]) or a listing of files ([`commit::listing`]) |
//! | [`diff`]      | compare two versions row by row ([`diff::diff`]) |
//! | [`tags`]      | movable names on versions ([`tags::tag`], [`tags::tags`], [`tags::delete_tag`]) |
//! | [`query`]     | SQL over versions with DataFusion ([`query::sql`], [`query::dataframe`]) |
//! | [`summary`]   | the stored summary of a version and its Markdown page ([`summary::page`]) |
//! | [`lineage`]   | what a version was made from and what was made from it ([`lineage::lineage`]) |
//! | [`checkout`]  | fetch the files a version lists ([`checkout::checkout`], [`checkout::verify`]) |
//! | [`lock`]      | `pail.lock`: versions pinned to exact commits, for CI and teammates |
//! | [`map`]       | run a command over every row into a new version ([`map::map`]) |
//! | [`remote`]    | push to and pull from object storage ([`remote::push`], [`remote::pull`]) |
//! | [`maintain`]  | integrity check and garbage collection ([`maintain::fsck`], [`maintain::gc`]) |
//! | [`view`]      | the one serializable (JSON) form of every answer, shared by the CLI and MCP |
//! | [`mcp`]       | a Model Context Protocol server over a repository ([`mcp::serve`]) |
//! | [`cli`]       | the `pail` command line, callable in-process ([`cli::run_with`]) |
//!
//! # A tour
//!
//! Create a repository, commit JSON records as `photos@1.0.0` and read them back:
//!
//! ```
//! use pail::commit::{self, CommitOptions, CommitOutcome, Records, RecordsOptions};
//! use pail::Repo;
//!
//! let work = tempfile::tempdir()?;
//! let (repo, _new) = Repo::init(&work.path().join(".pail"))?;
//!
//! let options = |message: &str| -> Result<CommitOptions, pail::RepoError> {
//!     Ok(CommitOptions {
//!         name: repo.parse_name("photos")?,
//!         message: message.into(),
//!         bump: None,
//!         author: "ada".into(),
//!         time: 0,
//!         command: Vec::new(),
//!         git: None,
//!         code: Vec::new(),
//!         inputs: Vec::new(),
//!     })
//! };
//! let records = "{\"id\": 1, \"label\": \"cat\"}\n{\"id\": 2, \"label\": \"dog\"}\n";
//! let outcome = commit::records(
//!     &repo,
//!     Records::Reader(Box::new(std::io::Cursor::new(records))),
//!     &RecordsOptions { schema: None, key: Some(vec!["id".into()]) },
//!     &options("first labels")?,
//! )?;
//! assert!(matches!(outcome, CommitOutcome::Created { .. }));
//!
//! // Resolve a ref and read the rows back, in key order.
//! let v1 = repo.resolve(&repo.parse_ref("photos@1.0.0")?)?;
//! assert_eq!(v1.commit.n_rows, 2);
//! let mut labels = Vec::new();
//! repo.for_each_row(&v1.commit, |row| {
//!     labels.push(row["label"].as_str().unwrap_or_default().to_string());
//!     Ok(true)
//! })?;
//! assert_eq!(labels, ["cat", "dog"]);
//!
//! // The same rows as a stream of Arrow record batches, which commit back unchanged.
//! let batches = repo.batches(&v1.commit)?;
//! let copy = CommitOptions { name: repo.parse_name("photos_copy")?, ..options("copy")? };
//! let copied = commit::records(
//!     &repo,
//!     Records::Batches(Box::new(batches.into_reader())),
//!     &RecordsOptions { schema: None, key: Some(vec!["id".into()]) },
//!     &copy,
//! )?;
//! let CommitOutcome::Created { commit: copied, .. } = copied else { panic!("new dataset") };
//! assert_eq!((copied.rows, copied.schema), (v1.commit.rows, v1.commit.schema));
//!
//! // A second version, and what changed between the two.
//! let records = "{\"id\": 1, \"label\": \"cat\"}\n{\"id\": 2, \"label\": \"wolf\"}\n";
//! commit::records(
//!     &repo,
//!     Records::Reader(Box::new(std::io::Cursor::new(records))),
//!     &RecordsOptions { schema: None, key: Some(vec!["id".into()]) },
//!     &options("fix a label")?,
//! )?;
//! let v2 = repo.resolve(&repo.parse_ref("photos@latest")?)?;
//! assert_eq!(v2.label(), "local.default.photos@1.0.1");
//! let stat = pail::diff::diff(&repo, &v1, &v2)?.stat(&repo)?;
//! assert_eq!((stat.added, stat.removed, stat.modified), (0, 0, 1));
//!
//! // A tag, resolved like a version.
//! let first = repo.parse_ref("photos@1.0.0")?;
//! pail::tags::tag(&repo, &first, "reviewed", &pail::tags::TagOptions::default())?;
//! assert_eq!(repo.resolve(&repo.parse_ref("photos@reviewed")?)?.id, v1.id);
//!
//! // Every answer has one JSON form.
//! let json = pail::view::to_json(&pail::view::VersionView::new(&v2, &[]));
//! assert_eq!(json["version"], "1.0.1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Share versions through a remote: object storage (`s3://`, `az://`, `gs://`) or, as
//! here, a directory:
//!
//! ```
//! # use pail::commit::{self, CommitOptions, Records, RecordsOptions};
//! use pail::remote::{self, AddOptions, NoSyncProgress, PullOptions, PushOptions};
//! use pail::Repo;
//!
//! # let work = tempfile::tempdir()?;
//! # let (alice, _) = Repo::init(&work.path().join("alice/.pail"))?;
//! # let options = CommitOptions {
//! #     name: alice.parse_name("photos")?, message: String::new(), bump: None,
//! #     author: "ada".into(), time: 0, command: Vec::new(), git: None, code: Vec::new(),
//! #     inputs: Vec::new(),
//! # };
//! # commit::records(
//! #     &alice,
//! #     Records::Reader(Box::new(std::io::Cursor::new("{\"id\": 1}\n"))),
//! #     &RecordsOptions::default(),
//! #     &options,
//! # )?;
//! let url = format!("file://{}", work.path().join("remote").display());
//! let origin = AddOptions { name: "origin", url: &url, cwd: work.path(), settings: Default::default() };
//! remote::add(&alice, &origin)?;
//! let push = PushOptions { remote: "origin", datasets: &[], force: false, store_options: &[] };
//! remote::push(&alice, &push, &NoSyncProgress)?;
//!
//! let (bob, _) = Repo::init(&work.path().join("bob/.pail"))?;
//! remote::add(&bob, &origin)?;
//! let pull = PullOptions { remote: "origin", datasets: &[], store_options: &[] };
//! remote::pull(&bob, &pull, &NoSyncProgress)?;
//! assert_eq!(
//!     bob.resolve(&bob.parse_ref("photos@1.0.0")?)?.id,
//!     alice.resolve(&alice.parse_ref("photos@1.0.0")?)?.id,
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Query versions with SQL (DataFusion); a dataset is a table named by its ref:
//!
//! ```
//! # use pail::commit::{self, CommitOptions, Records, RecordsOptions};
//! # let work = tempfile::tempdir()?;
//! # let (repo, _) = pail::Repo::init(&work.path().join(".pail"))?;
//! # let options = CommitOptions {
//! #     name: repo.parse_name("photos")?, message: String::new(), bump: None,
//! #     author: "ada".into(), time: 0, command: Vec::new(), git: None, code: Vec::new(),
//! #     inputs: Vec::new(),
//! # };
//! # let records = "{\"id\": 1, \"label\": \"cat\"}\n{\"id\": 2, \"label\": \"cat\"}\n";
//! # commit::records(
//! #     &repo,
//! #     Records::Reader(Box::new(std::io::Cursor::new(records))),
//! #     &RecordsOptions::default(),
//! #     &options,
//! # )?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! let rows = runtime.block_on(async {
//!     let frame = pail::query::sql(&repo, "SELECT label, count(*) AS n FROM photos GROUP BY 1").await?;
//!     pail::query::batches_to_json(&frame.collect().await?)
//! })?;
//! assert_eq!(rows, [serde_json::json!({"label": "cat", "n": 2})]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkout;
/// The `pail` command line (the `cli` feature, on by default): the one place that prints and
/// reads the environment. `cli::run_with` runs it from another program, e.g. the Python package.
#[cfg(feature = "cli")]
pub mod cli;
pub mod commit;
pub mod diff;
pub(crate) mod escape;
pub mod iceberg;
pub mod lineage;
pub(crate) mod listing;
pub mod lock;
pub mod maintain;
pub mod map;
pub mod mcp;
pub(crate) mod name;
pub(crate) mod object;
pub mod query;
pub mod remote;
pub mod repo;
pub(crate) mod rows;
pub(crate) mod schema;
mod spool;
pub(crate) mod store;
pub mod summary;
pub mod tags;
pub mod view;
mod walk;

#[cfg(test)]
mod tests;

pub use commit::{Bump, CommitError, CommitOptions, CommitOutcome, Records};
pub use listing::{FileEntry, ListError, Source, parse_source};
pub use name::{DatasetName, DatasetRef, NameDefaults, NameError, VersionSpec};
pub use object::{
    Child, CodeFile, CodecError, ColumnStats, Commit, CommitId, GitState, IdError, Input, Kind,
    Node, ObjectId,
};
pub use repo::{Batches, DatasetInfo, Repo, RepoError, Resolved};
pub use rows::{TreeError, leaf::LeafError, sort::SortError};
pub use schema::{
    BytesEncoding, Compat, Field, MAX_NESTING, Schema, SchemaError, Type, UnsupportedArrowType,
    Violation, from_arrow,
};
pub use spool::SpoolError;
pub use store::{Corruption, StoreError};

/// The runtime for storage I/O inside a library call (listing, hashing, push, pull,
/// checkout): two workers, since requests wait on the network rather than on the CPU.
pub(crate) fn io_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}
