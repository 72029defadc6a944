//! The redb database behind `.pail/`: objects, refs and small metadata.
//!
//! redb lets one process hold the file at a time, so callers open the store for one
//! transaction's worth of work and drop it; `Store::open` waits (bounded) while another
//! pail process holds it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::object::{CodecError, Commit, CommitId, Kind, Manifest, ObjectId};
use crate::schema::Schema;

const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
const REFS: TableDefinition<&str, &[u8]> = TableDefinition::new("refs");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Remote name -> URL.
const REMOTES: TableDefinition<&str, &str> = TableDefinition::new("remotes");
/// Remote name, 0, object id -> (): objects known to be on that remote.
const REMOTE_OBJECTS: TableDefinition<&[u8], ()> = TableDefinition::new("remote_objects");
/// "<remote>\n<ref name>" -> commit id (32 bytes) followed by the ref object's etag, as last
/// seen on the remote: the base for compare-and-swap tag updates.
const REMOTE_REFS: TableDefinition<&str, &[u8]> = TableDefinition::new("remote_refs");
/// Remote name -> the instance id in that remote's marker when this repository last
/// pushed to it: the remembered `REMOTE_OBJECTS` hold only for that instance.
const REMOTE_INSTANCES: TableDefinition<&str, &str> = TableDefinition::new("remote_instances");
/// Version ref name -> commit id: versions pulled from or pushed to any remote. A
/// published version is never renumbered; kept when a remote is removed.
const PUBLISHED: TableDefinition<&str, &[u8]> = TableDefinition::new("published");
/// Job id -> JSON description of an unfinished `pail map` run.
const JOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("map_jobs");
/// Job id followed by an input row key -> the persisted outcome of that row.
const JOB_RESULTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("map_checkpoints");
/// Cache key (command, code hash, row identity) -> a result row.
const MAP_CACHE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("map_cache");
/// Remote name, 0, cache key -> a `pail map` cache entry pulled from that remote. Kept apart
/// from `map_cache` (what this repository computed) so that a remote's results are used
/// only while the user trusts that remote, and never pushed on as this repository's own.
const REMOTE_MAP_CACHE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("remote_map_cache");
/// Remote name -> its settings as JSON (`{"trust_cache": bool}`); absent: the defaults.
const REMOTE_SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("remote_settings");
/// Commit id -> URL of the remote it was first fetched from (pull, or a pail.lock
/// fetch). Commits made here are not in it. Checkout reads no `file://` source of a
/// commit listed here without an explicit opt-in.
const FETCHED_COMMITS: TableDefinition<&[u8], &str> = TableDefinition::new("fetched_commits");

/// The store's own format, recorded in the `meta` table.
pub const STORE_FORMAT: &str = "1";

/// Why the repository database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the repository database at {path} is held by another pail process and stayed busy for {waited:?}"
    )]
    Busy { path: PathBuf, waited: Duration },
    #[error("could not open the repository database at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("repository database error: {0}")]
    Db(#[from] redb::Error),
    #[error("object {id} in the local store is corrupt: {problem}")]
    Corrupt { id: ObjectId, problem: Corruption },
    #[error("object {key:?} in the local store is corrupt: key is not 32 bytes")]
    BadObjectKey { key: Vec<u8> },
    #[error("object {name} in the local store is corrupt: ref value is not 32 bytes")]
    BadRef { name: String },
    #[error("object {id} is missing from the repository")]
    Missing { id: ObjectId },
    #[error("object {id} is a {found}, expected a {expected}")]
    WrongKind {
        id: ObjectId,
        found: Kind,
        expected: Kind,
    },
    /// A manifest that does not decode (see `Manifest::decode`). Says only what the codec
    /// says, as before the id was carried.
    #[error("{source}")]
    Decode {
        id: ObjectId,
        kind: Kind,
        #[source]
        source: CodecError,
    },
    #[error(
        "the repository database at {path} has store format {found}; this pail reads format {STORE_FORMAT}"
    )]
    NewerFormat { path: PathBuf, found: String },
    #[error("internal error: a write to the repository database opened for reading")]
    ReadOnly,
}

/// What is wrong with a stored object record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    EmptyRecord,
    UnknownKindCode { code: u8 },
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Corruption::EmptyRecord => "empty record",
            Corruption::UnknownKindCode { .. } => "unknown kind code",
        })
    }
}

/// redb's specific errors all become `StoreError::Db`.
macro_rules! db_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(err: $error) -> Self {
                StoreError::Db(err.into())
            }
        }
    )*};
}
db_errors!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// How long to wait for another process to release the database, and whom to tell.
pub struct WaitPolicy<'a> {
    pub timeout: Duration,
    /// Called once, when the first attempt finds the database busy.
    pub on_wait: Option<&'a (dyn Fn() + Sync)>,
}

impl Default for WaitPolicy<'_> {
    fn default() -> Self {
        WaitPolicy {
            timeout: Duration::from_secs(60),
            on_wait: None,
        }
    }
}

/// The database, open for reading and writing, or only for reading.
enum Db {
    ReadWrite(redb::Database),
    ReadOnly(redb::ReadOnlyDatabase),
}

pub struct Store {
    db: Db,
}

impl Store {
    /// Opens (creating if needed) the database for reading and writing, waiting while
    /// another process holds it.
    pub fn open(path: &Path, wait: &WaitPolicy) -> Result<Store, StoreError> {
        Store::open_with(path, wait, |builder| {
            builder.create(path).map(Db::ReadWrite)
        })
    }

    /// Opens the database only for reading: nothing is written, so no sync is paid (a
    /// read-write open writes and syncs the header twice), and other readers may hold it
    /// at the same time. A database left unclean by a crash needs a repair, which only a
    /// read-write open makes, so that is what it falls back to.
    pub fn open_read(path: &Path, wait: &WaitPolicy) -> Result<Store, StoreError> {
        let result = Store::open_with(path, wait, |builder| {
            builder.open_read_only(path).map(Db::ReadOnly)
        });
        match result {
            Err(StoreError::Open {
                source: redb::DatabaseError::RepairAborted,
                ..
            }) => Store::open(path, wait),
            other => other,
        }
    }

    fn open_with(
        path: &Path,
        wait: &WaitPolicy,
        open: impl Fn(&redb::Builder) -> Result<Db, redb::DatabaseError>,
    ) -> Result<Store, StoreError> {
        let started = Instant::now();
        let mut told = false;
        let mut pause = Duration::from_millis(2);
        let mut builder = redb::Database::builder();
        builder.set_cache_size(32 * 1024 * 1024);
        loop {
            match open(&builder) {
                Ok(db) => {
                    let store = Store { db };
                    // A store written by a newer pail may use tables or encodings this one
                    // does not know: refuse it before reading or writing anything.
                    match store.read()?.meta("format")? {
                        Some(found) if found != STORE_FORMAT => {
                            return Err(StoreError::NewerFormat {
                                path: path.to_path_buf(),
                                found,
                            });
                        }
                        _ => return Ok(store),
                    }
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    let waited = started.elapsed();
                    if waited >= wait.timeout {
                        return Err(StoreError::Busy {
                            path: path.to_path_buf(),
                            waited,
                        });
                    }
                    if !told && waited > Duration::from_millis(500) {
                        if let Some(on_wait) = wait.on_wait {
                            on_wait();
                        }
                        told = true;
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            }
        }
    }

    pub fn read(&self) -> Result<Reader, StoreError> {
        let txn = match &self.db {
            Db::ReadWrite(db) => db.begin_read()?,
            Db::ReadOnly(db) => db.begin_read()?,
        };
        Ok(Transaction { txn })
    }

    pub fn write(&self) -> Result<Writer, StoreError> {
        match &self.db {
            Db::ReadWrite(db) => Ok(Transaction {
                txn: db.begin_write()?,
            }),
            Db::ReadOnly(_) => Err(StoreError::ReadOnly),
        }
    }
}

fn split_object(id: &ObjectId, stored: &[u8]) -> Result<(Kind, Vec<u8>), StoreError> {
    let corrupt = |problem| StoreError::Corrupt { id: *id, problem };
    let (&code, bytes) = stored
        .split_first()
        .ok_or_else(|| corrupt(Corruption::EmptyRecord))?;
    let kind =
        Kind::from_code(code).ok_or_else(|| corrupt(Corruption::UnknownKindCode { code }))?;
    Ok((kind, bytes.to_vec()))
}

fn remote_object_key(remote: &str, id: &ObjectId) -> Vec<u8> {
    let mut key = remote.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&id.0);
    key
}

fn hex_prefix_range(prefix: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    // An odd number of hex digits covers a range of the next byte.
    let mut low = Vec::new();
    let chars: Vec<char> = prefix.chars().collect();
    for pair in chars.chunks(2) {
        let hi = pair[0].to_digit(16).unwrap_or(0) as u8;
        let lo = pair.get(1).and_then(|c| c.to_digit(16)).unwrap_or(0) as u8;
        low.push(hi << 4 | lo);
    }
    let mut high = low.clone();
    let odd = chars.len() % 2 == 1;
    // Increment the prefix as a big number to get the exclusive upper bound.
    let mut idx = high.len();
    let step: u8 = if odd { 0x10 } else { 1 };
    let mut carry = step;
    while idx > 0 && carry > 0 {
        idx -= 1;
        let (sum, overflow) = high[idx].overflowing_add(carry);
        high[idx] = sum;
        carry = if overflow { 1 } else { 0 };
    }
    if carry > 0 {
        (low, None)
    } else {
        (low, Some(high))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for redb::ReadTransaction {}
    impl Sealed for redb::WriteTransaction {}
}

/// The one read trait over both kinds of redb transaction: all it supplies is a table
/// opened for reading. Every read, from an object's bytes to a decoded commit, is written
/// once on [`Transaction`] over it, so a [`Reader`] and a [`Writer`] read alike (redb's
/// `ReadableTable` plays the same part for its two table types).
pub trait ReadTxn: sealed::Sealed {
    /// The table, or None when the store never created it (a read transaction on a store
    /// that never held that kind of entry; a write transaction creates it).
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: TableDefinition<K, V>,
    ) -> Result<Option<impl ReadableTable<K, V> + '_>, StoreError>;
}

impl ReadTxn for redb::ReadTransaction {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: TableDefinition<K, V>,
    ) -> Result<Option<impl ReadableTable<K, V> + '_>, StoreError> {
        match self.open_table(table) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

impl ReadTxn for redb::WriteTransaction {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: TableDefinition<K, V>,
    ) -> Result<Option<impl ReadableTable<K, V> + '_>, StoreError> {
        Ok(Some(self.open_table(table)?))
    }
}

/// A persisted outcome of a map run: input row key and outcome bytes.
pub type JobResult = (Vec<u8>, Vec<u8>);

/// A transaction on the store: a [`Reader`] or a [`Writer`]. The read methods are defined
/// once, over [`ReadTxn`]; the writes only on a `Writer`. Callers generic over both take
/// `&Transaction<impl ReadTxn>`.
pub struct Transaction<T> {
    txn: T,
}

/// A read transaction: sees one snapshot, and may share the file with other readers.
pub type Reader = Transaction<redb::ReadTransaction>;

/// The write transaction: nothing it writes is seen before [`Writer::commit`].
pub type Writer = Transaction<redb::WriteTransaction>;

/// Opens a table for reading, or returns `Ok($missing)` from the calling method when the
/// table has not been created yet.
macro_rules! open_or {
    ($txn:expr, $table:expr, $missing:expr) => {
        match $txn.table($table)? {
            Some(table) => table,
            None => return Ok($missing),
        }
    };
}

impl<T: ReadTxn> Transaction<T> {
    /// An object's kind and bytes, if present.
    pub fn object(&self, id: &ObjectId) -> Result<Option<(Kind, Vec<u8>)>, StoreError> {
        let table = open_or!(self.txn, OBJECTS, None);
        match table.get(id.0.as_slice())? {
            Some(guard) => Ok(Some(split_object(id, guard.value())?)),
            None => Ok(None),
        }
    }

    pub fn has_object(&self, id: &ObjectId) -> Result<bool, StoreError> {
        let table = open_or!(self.txn, OBJECTS, false);
        Ok(table.get(id.0.as_slice())?.is_some())
    }

    /// Ids and kinds of the objects whose hex id starts with `prefix`.
    pub fn objects_with_prefix(&self, prefix: &str) -> Result<Vec<(ObjectId, Kind)>, StoreError> {
        let table = open_or!(self.txn, OBJECTS, Vec::new());
        let (low, high) = hex_prefix_range(prefix);
        let mut found = Vec::new();
        let iter = match &high {
            Some(high) => table.range(low.as_slice()..high.as_slice())?,
            None => table.range(low.as_slice()..)?,
        };
        for entry in iter {
            let (key, value) = entry?;
            let id = ObjectId::from_slice(key.value()).ok_or_else(|| StoreError::BadObjectKey {
                key: key.value().to_vec(),
            })?;
            let (kind, _) = split_object(&id, &value.value()[..1.min(value.value().len())])?;
            found.push((id, kind));
        }
        Ok(found)
    }

    pub fn get_ref(&self, name: &str) -> Result<Option<ObjectId>, StoreError> {
        let table = open_or!(self.txn, REFS, None);
        match table.get(name)? {
            Some(guard) => Ok(Some(ObjectId::from_slice(guard.value()).ok_or_else(
                || StoreError::BadRef {
                    name: name.to_string(),
                },
            )?)),
            None => Ok(None),
        }
    }

    /// Refs whose name starts with `prefix`, in name order.
    pub fn refs(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, StoreError> {
        let table = open_or!(self.txn, REFS, Vec::new());
        let mut found = Vec::new();
        for entry in table.range(prefix..)? {
            let (key, value) = entry?;
            let name = key.value();
            if !name.starts_with(prefix) {
                break;
            }
            let id = ObjectId::from_slice(value.value()).ok_or_else(|| StoreError::BadRef {
                name: name.to_string(),
            })?;
            found.push((name.to_string(), id));
        }
        Ok(found)
    }

    pub fn remotes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let table = open_or!(self.txn, REMOTES, Vec::new());
        let mut found = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            found.push((key.value().to_string(), value.value().to_string()));
        }
        Ok(found)
    }

    /// Whether an object is known to be on a remote.
    pub fn remote_has(&self, remote: &str, id: &ObjectId) -> Result<bool, StoreError> {
        let table = open_or!(self.txn, REMOTE_OBJECTS, false);
        Ok(table
            .get(remote_object_key(remote, id).as_slice())?
            .is_some())
    }

    /// The remote URL a commit was fetched from, or None for a commit made here.
    pub fn fetched_from(&self, id: &ObjectId) -> Result<Option<String>, StoreError> {
        let table = open_or!(self.txn, FETCHED_COMMITS, None);
        Ok(table
            .get(id.0.as_slice())?
            .map(|guard| guard.value().to_string()))
    }

    /// The last-seen state of a ref on a remote: commit id and the ref object's etag.
    pub fn remote_ref(
        &self,
        remote: &str,
        name: &str,
    ) -> Result<Option<(ObjectId, String)>, StoreError> {
        let table = open_or!(self.txn, REMOTE_REFS, None);
        let key = format!("{remote}\n{name}");
        Ok(table.get(key.as_str())?.and_then(|guard| {
            let bytes = guard.value();
            let id = ObjectId::from_slice(bytes.get(..32)?)?;
            Some((id, String::from_utf8_lossy(&bytes[32..]).into_owned()))
        }))
    }

    /// The commit a version ref was published as (pulled from or pushed to any remote).
    pub fn published(&self, name: &str) -> Result<Option<ObjectId>, StoreError> {
        let table = open_or!(self.txn, PUBLISHED, None);
        Ok(table
            .get(name)?
            .and_then(|guard| ObjectId::from_slice(guard.value())))
    }

    /// Unfinished map runs: job id and description.
    pub fn jobs(&self) -> Result<Vec<(ObjectId, Vec<u8>)>, StoreError> {
        let table = open_or!(self.txn, JOBS, Vec::new());
        let mut found = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            if let Some(id) = ObjectId::from_slice(key.value()) {
                found.push((id, value.value().to_vec()));
            }
        }
        Ok(found)
    }

    /// The persisted outcomes of a map run, by input row key.
    pub fn job_results(&self, job: &ObjectId) -> Result<Vec<JobResult>, StoreError> {
        let mut found = Vec::new();
        self.for_each_job_result(job, |key, value| -> Result<(), StoreError> {
            found.push((key.to_vec(), value.to_vec()));
            Ok(())
        })?;
        Ok(found)
    }

    /// Calls `each` with every persisted outcome of a map run, in row key order.
    pub fn for_each_job_result<E: From<StoreError>>(
        &self,
        job: &ObjectId,
        mut each: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let table = open_or!(self.txn, JOB_RESULTS, ());
        let range = table.range(job.0.as_slice()..).map_err(StoreError::from)?;
        for entry in range {
            let (key, value) = entry.map_err(StoreError::from)?;
            let key = key.value();
            if !key.starts_with(&job.0) {
                break;
            }
            each(&key[32..], value.value())?;
        }
        Ok(())
    }

    pub fn map_cache(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let table = open_or!(self.txn, MAP_CACHE, None);
        Ok(table.get(key)?.map(|guard| guard.value().to_vec()))
    }

    /// A cache entry pulled from `remote`.
    pub fn remote_map_cache(
        &self,
        remote: &str,
        key: &ObjectId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let table = open_or!(self.txn, REMOTE_MAP_CACHE, None);
        Ok(table
            .get(remote_object_key(remote, key).as_slice())?
            .map(|guard| guard.value().to_vec()))
    }

    /// A remote's settings (JSON), if any were recorded.
    pub fn remote_settings(&self, remote: &str) -> Result<Option<String>, StoreError> {
        let table = open_or!(self.txn, REMOTE_SETTINGS, None);
        Ok(table.get(remote)?.map(|guard| guard.value().to_string()))
    }

    /// Every cache entry's key, for sync with a remote.
    pub fn map_cache_keys(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let table = open_or!(self.txn, MAP_CACHE, Vec::new());
        let mut keys = Vec::new();
        for entry in table.iter()? {
            let (key, _) = entry?;
            keys.push(key.value().to_vec());
        }
        Ok(keys)
    }

    /// Calls `each` with every object's id, kind code and bytes, in id order.
    pub fn for_each_object(&self, mut each: impl FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        let table = open_or!(self.txn, OBJECTS, ());
        for entry in table.iter()? {
            let (key, value) = entry?;
            each(key.value(), value.value());
        }
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let table = open_or!(self.txn, META, None);
        Ok(table.get(key)?.map(|guard| guard.value().to_string()))
    }

    // ---- typed getters ----

    /// The bytes of an object that must be there and be of `kind`.
    pub fn object_of_kind(&self, id: &ObjectId, kind: Kind) -> Result<Vec<u8>, StoreError> {
        match self.object(id)? {
            Some((found, bytes)) if found == kind => Ok(bytes),
            Some((found, _)) => Err(StoreError::WrongKind {
                id: *id,
                found,
                expected: kind,
            }),
            None => Err(StoreError::Missing { id: *id }),
        }
    }

    /// A manifest, decoded by the one decoder (`Manifest::decode`): `Missing` when it
    /// is not there, `WrongKind` when the object is of another kind, `Decode` when its
    /// bytes do not decode or have a format this pail does not know.
    pub fn get_manifest<M: Manifest>(&self, id: &ObjectId) -> Result<M, StoreError> {
        let bytes = self.object_of_kind(id, M::KIND)?;
        M::decode(&bytes).map_err(|source| StoreError::Decode {
            id: *id,
            kind: M::KIND,
            source,
        })
    }

    pub fn get_commit(&self, id: &CommitId) -> Result<Commit, StoreError> {
        self.get_manifest(&id.object())
    }

    pub fn get_schema(&self, id: &ObjectId) -> Result<Schema, StoreError> {
        self.get_manifest(id)
    }

    /// Ids of the commits whose hex id starts with `prefix`.
    pub fn commits_with_prefix(&self, prefix: &str) -> Result<Vec<CommitId>, StoreError> {
        Ok(self
            .objects_with_prefix(prefix)?
            .into_iter()
            .filter(|(_, kind)| *kind == Kind::Commit)
            .map(|(id, _)| CommitId(id))
            .collect())
    }
}

impl Writer {
    /// Stores an object unless it is already there; returns whether it was new.
    pub fn put_object(&self, kind: Kind, id: &ObjectId, bytes: &[u8]) -> Result<bool, StoreError> {
        let mut table = self.txn.open_table(OBJECTS)?;
        if table.get(id.0.as_slice())?.is_some() {
            return Ok(false);
        }
        let mut stored = Vec::with_capacity(bytes.len() + 1);
        stored.push(kind.code());
        stored.extend_from_slice(bytes);
        table.insert(id.0.as_slice(), stored.as_slice())?;
        Ok(true)
    }

    pub fn set_ref(&self, name: &str, id: &ObjectId) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(REFS)?;
        table.insert(name, id.0.as_slice())?;
        Ok(())
    }

    pub fn delete_ref(&self, name: &str) -> Result<bool, StoreError> {
        let mut table = self.txn.open_table(REFS)?;
        Ok(table.remove(name)?.is_some())
    }

    pub fn delete_object(&self, id: &ObjectId) -> Result<(), StoreError> {
        self.txn.open_table(OBJECTS)?.remove(id.0.as_slice())?;
        Ok(())
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(META)?;
        table.insert(key, value)?;
        Ok(())
    }

    /// Creates every table, so later readers find them.
    pub fn create_tables(&self) -> Result<(), StoreError> {
        self.txn.open_table(OBJECTS)?;
        self.txn.open_table(REFS)?;
        self.txn.open_table(META)?;
        self.txn.open_table(REMOTES)?;
        self.txn.open_table(REMOTE_OBJECTS)?;
        self.txn.open_table(REMOTE_REFS)?;
        self.txn.open_table(REMOTE_INSTANCES)?;
        self.txn.open_table(PUBLISHED)?;
        self.txn.open_table(JOBS)?;
        self.txn.open_table(JOB_RESULTS)?;
        self.txn.open_table(MAP_CACHE)?;
        self.txn.open_table(REMOTE_MAP_CACHE)?;
        self.txn.open_table(REMOTE_SETTINGS)?;
        self.txn.open_table(FETCHED_COMMITS)?;
        Ok(())
    }

    pub fn set_job(&self, job: &ObjectId, description: &[u8]) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(JOBS)?;
        table.insert(job.0.as_slice(), description)?;
        Ok(())
    }

    /// Forgets a map run and its persisted outcomes.
    pub fn delete_job(&self, job: &ObjectId) -> Result<(), StoreError> {
        self.txn.open_table(JOBS)?.remove(job.0.as_slice())?;
        let mut results = self.txn.open_table(JOB_RESULTS)?;
        let low = job.0.to_vec();
        // The smallest key after every key that starts with the job id.
        let mut high = job.0.to_vec();
        while let Some(last) = high.pop() {
            if last < 0xff {
                high.push(last + 1);
                break;
            }
        }
        if high.is_empty() {
            results.retain_in(low.as_slice().., |key, _| !key.starts_with(&job.0))?;
        } else {
            results.retain_in(low.as_slice()..high.as_slice(), |_, _| false)?;
        }
        Ok(())
    }

    pub fn set_job_result(
        &self,
        job: &ObjectId,
        row_key: &[u8],
        outcome: &[u8],
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(JOB_RESULTS)?;
        let mut key = job.0.to_vec();
        key.extend_from_slice(row_key);
        table.insert(key.as_slice(), outcome)?;
        Ok(())
    }

    pub fn set_map_cache(&self, key: &ObjectId, value: &[u8]) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(MAP_CACHE)?;
        table.insert(key.0.as_slice(), value)?;
        Ok(())
    }

    pub fn set_remote_map_cache(
        &self,
        remote: &str,
        key: &ObjectId,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(REMOTE_MAP_CACHE)?;
        table.insert(remote_object_key(remote, key).as_slice(), value)?;
        Ok(())
    }

    pub fn set_remote_settings(&self, remote: &str, settings: &str) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(REMOTE_SETTINGS)?;
        table.insert(remote, settings)?;
        Ok(())
    }

    pub fn set_remote(&self, name: &str, url: &str) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(REMOTES)?;
        table.insert(name, url)?;
        Ok(())
    }

    /// Forgets a remote and everything recorded about it.
    pub fn remove_remote(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self.txn.open_table(REMOTES)?.remove(name)?.is_some();
        let mut objects = self.txn.open_table(REMOTE_OBJECTS)?;
        let mut low = name.as_bytes().to_vec();
        low.push(0);
        let mut high = name.as_bytes().to_vec();
        high.push(1);
        objects.retain_in(low.as_slice()..high.as_slice(), |_, _| false)?;
        let mut cache = self.txn.open_table(REMOTE_MAP_CACHE)?;
        cache.retain_in(low.as_slice()..high.as_slice(), |_, _| false)?;
        self.txn.open_table(REMOTE_SETTINGS)?.remove(name)?;
        let mut refs = self.txn.open_table(REMOTE_REFS)?;
        let low = format!("{name}\n");
        let high = format!("{name}\u{b}");
        refs.retain_in(low.as_str()..high.as_str(), |_, _| false)?;
        self.txn.open_table(REMOTE_INSTANCES)?.remove(name)?;
        Ok(removed)
    }

    /// Records the instance id of a remote's marker. When it is not the one recorded
    /// before (the remote was emptied or replaced), forgets which objects that remote
    /// holds, so the next push checks and uploads them again. Returns whether it forgot.
    pub fn set_remote_instance(&self, remote: &str, instance: &str) -> Result<bool, StoreError> {
        let mut table = self.txn.open_table(REMOTE_INSTANCES)?;
        let same = table
            .get(remote)?
            .is_some_and(|recorded| recorded.value() == instance);
        if same {
            return Ok(false);
        }
        table.insert(remote, instance)?;
        let mut objects = self.txn.open_table(REMOTE_OBJECTS)?;
        let mut low = remote.as_bytes().to_vec();
        low.push(0);
        let mut high = remote.as_bytes().to_vec();
        high.push(1);
        objects.retain_in(low.as_slice()..high.as_slice(), |_, _| false)?;
        Ok(true)
    }

    /// Records that a commit object arrived from the remote at `url`.
    pub fn mark_fetched(&self, id: &ObjectId, url: &str) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(FETCHED_COMMITS)?;
        table.insert(id.0.as_slice(), url)?;
        Ok(())
    }

    pub fn mark_remote_has(&self, remote: &str, id: &ObjectId) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(REMOTE_OBJECTS)?;
        table.insert(remote_object_key(remote, id).as_slice(), ())?;
        Ok(())
    }

    pub fn set_remote_ref(
        &self,
        remote: &str,
        name: &str,
        id: &ObjectId,
        etag: &str,
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(REMOTE_REFS)?;
        let mut value = id.0.to_vec();
        value.extend_from_slice(etag.as_bytes());
        table.insert(format!("{remote}\n{name}").as_str(), value.as_slice())?;
        Ok(())
    }

    /// Records that a version ref was published as this commit.
    pub fn set_published(&self, name: &str, id: &ObjectId) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(PUBLISHED)?;
        table.insert(name, id.0.as_slice())?;
        Ok(())
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(hex_prefix_range("ab"), (vec![0xab], Some(vec![0xac])));
        assert_eq!(
            hex_prefix_range("abc"),
            (vec![0xab, 0xc0], Some(vec![0xab, 0xd0]))
        );
        assert_eq!(hex_prefix_range("ff"), (vec![0xff], None));
        assert_eq!(
            hex_prefix_range("abf"),
            (vec![0xab, 0xf0], Some(vec![0xac, 0x00]))
        );
    }

    #[test]
    fn objects_refs_and_prefix_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let id = ObjectId::compute(Kind::Blob, b"hello");
        {
            let store = Store::open(&path, &WaitPolicy::default()).unwrap();
            let writer = store.write().unwrap();
            writer.create_tables().unwrap();
            assert!(writer.put_object(Kind::Blob, &id, b"hello").unwrap());
            assert!(!writer.put_object(Kind::Blob, &id, b"hello").unwrap());
            writer
                .set_ref("datasets/a/b/c/versions/1.0.0", &id)
                .unwrap();
            writer.commit().unwrap();
        }
        let store = Store::open(&path, &WaitPolicy::default()).unwrap();
        let reader = store.read().unwrap();
        assert_eq!(
            reader.object(&id).unwrap(),
            Some((Kind::Blob, b"hello".to_vec()))
        );
        let hex = id.to_hex();
        assert_eq!(
            reader.objects_with_prefix(&hex[..5]).unwrap(),
            vec![(id, Kind::Blob)]
        );
        assert_eq!(reader.refs("datasets/a/").unwrap().len(), 1);
        assert!(reader.refs("datasets/b/").unwrap().is_empty());
    }

    /// Readers share the file and write nothing; a file a crash left unclean (here: a copy
    /// taken while a writer had it open) is repaired by the read-write open a reader falls
    /// back to, and reads as committed.
    #[test]
    fn readers_share_the_file_and_repair_an_unclean_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let unclean = dir.path().join("unclean.redb");
        let id = ObjectId::compute(Kind::Blob, b"hello");
        {
            let store = Store::open(&path, &WaitPolicy::default()).unwrap();
            let writer = store.write().unwrap();
            writer.create_tables().unwrap();
            writer.put_object(Kind::Blob, &id, b"hello").unwrap();
            writer.commit().unwrap();
            std::fs::copy(&path, &unclean).unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let first = Store::open_read(&path, &WaitPolicy::default()).unwrap();
        let second = Store::open_read(&path, &WaitPolicy::default()).unwrap();
        for store in [&first, &second] {
            let reader = store.read().unwrap();
            assert_eq!(
                reader.object(&id).unwrap(),
                Some((Kind::Blob, b"hello".to_vec()))
            );
        }
        assert!(matches!(first.write().err(), Some(StoreError::ReadOnly)));
        drop((first, second));
        assert_eq!(std::fs::read(&path).unwrap(), before, "a reader wrote");

        assert!(matches!(
            redb::ReadOnlyDatabase::open(&unclean).err(),
            Some(redb::DatabaseError::RepairAborted)
        ));
        let repaired = Store::open_read(&unclean, &WaitPolicy::default()).unwrap();
        let reader = repaired.read().unwrap();
        assert_eq!(
            reader.object(&id).unwrap(),
            Some((Kind::Blob, b"hello".to_vec()))
        );
    }

    /// Reader and Writer share the typed getters, and they agree on what is wrong.
    #[test]
    fn typed_getters_refuse_missing_wrong_kind_and_undecodable_objects() {
        use crate::object::{COMMIT_FORMAT, Commit};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb"), &WaitPolicy::default()).unwrap();
        let schema = Schema::listing();
        let (schema_id, schema_bytes) = schema.encode();
        let commit = Commit {
            format: COMMIT_FORMAT,
            parents: Vec::new(),
            inputs: Vec::new(),
            schema: schema_id,
            rows: ObjectId::compute(Kind::Node, b"n"),
            n_rows: 0,
            n_bytes: 0,
            key: Vec::new(),
            author: String::new(),
            time: 0,
            message: String::new(),
            command: Vec::new(),
            git: None,
            code: Vec::new(),
            summary: None,
        };
        let (commit_id, commit_bytes) = commit.encode();
        let commit_id = CommitId(commit_id);
        let missing = CommitId(ObjectId::compute(Kind::Commit, b"absent"));
        let garbage = CommitId(ObjectId::compute(Kind::Commit, b"garbage"));
        let writer = store.write().unwrap();
        writer.create_tables().unwrap();
        writer
            .put_object(Kind::Schema, &schema_id, &schema_bytes)
            .unwrap();
        writer
            .put_object(Kind::Commit, &commit_id.object(), &commit_bytes)
            .unwrap();
        writer
            .put_object(Kind::Commit, &garbage.object(), b"garbage")
            .unwrap();
        fn check(txn: &Transaction<impl ReadTxn>, ids: [&CommitId; 3], commit: &Commit) {
            let [good, missing, garbage] = ids;
            assert_eq!(&txn.get_commit(good).unwrap(), commit);
            assert_eq!(txn.get_schema(&commit.schema).unwrap(), Schema::listing());
            assert!(matches!(
                txn.get_commit(missing),
                Err(StoreError::Missing { id }) if id == missing.object()
            ));
            assert!(matches!(
                txn.get_commit(&CommitId(commit.schema)),
                Err(StoreError::WrongKind { id, found: Kind::Schema, expected: Kind::Commit })
                    if id == commit.schema
            ));
            let err = txn.get_commit(garbage).unwrap_err();
            assert!(
                matches!(
                    &err,
                    StoreError::Decode { id, kind: Kind::Commit, source: CodecError::Malformed { .. } }
                        if *id == garbage.object()
                ),
                "{err}"
            );
            assert!(err.to_string().starts_with("malformed commit"), "{err}");
            assert_eq!(
                txn.commits_with_prefix(&good.to_hex()[..8]).unwrap(),
                vec![*good]
            );
        }
        check(&writer, [&commit_id, &missing, &garbage], &commit);
        writer.commit().unwrap();
        check(
            &store.read().unwrap(),
            [&commit_id, &missing, &garbage],
            &commit,
        );
    }

    #[test]
    fn a_second_open_waits_then_reports_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let _held = Store::open(&path, &WaitPolicy::default()).unwrap();
        let err = Store::open(
            &path,
            &WaitPolicy {
                timeout: Duration::from_millis(50),
                on_wait: None,
            },
        )
        .err()
        .expect("second open must not succeed while the first is held");
        assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    }
}
