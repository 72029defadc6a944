//! The publish phase of a push: after objects and refs, each pushed dataset's Iceberg
//! table (`crate::iceberg`) is rebuilt from the remote's refs and written: its manifests,
//! manifest lists and delete files create-only, then `metadata/v<N>.metadata.json`
//! create-only (the commit lock: a pusher that loses the race reads the new N and tries
//! again), then `metadata/version-hint.text`. The table is a function of the refs, so a
//! push that died before publishing is repaired by the next one.

use std::collections::{BTreeMap, BTreeSet};

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::{
    CONCURRENCY, NoSyncProgress, PullReport, Reached, RefKind, RemoteError, RemoteStore,
    fetch_closure, parse_ref_name, read_wanted_refs,
};
use crate::iceberg::{self, Place, Table, TableRef, TableRefs};
use crate::name::DatasetName;
use crate::object::CommitId;
use crate::object::Kind;
use crate::repo::Repo;
use futures::StreamExt;

/// Attempts at the next `v<N>.metadata.json` before giving up (another pusher took each).
const COMMIT_ATTEMPTS: usize = 20;

/// A dataset's refs on the remote as its table maps them, by dataset.
fn table_refs<'a>(
    found: impl IntoIterator<Item = (&'a str, CommitId)>,
) -> BTreeMap<DatasetName, TableRefs> {
    let mut by_dataset: BTreeMap<DatasetName, TableRefs> = BTreeMap::new();
    for (name, id) in found {
        match parse_ref_name(name) {
            Some((dataset, RefKind::Version(version))) => by_dataset
                .entry(dataset)
                .or_default()
                .versions
                .push((version, id)),
            Some((dataset, RefKind::Tag(tag))) => {
                by_dataset.entry(dataset).or_default().tags.push((tag, id))
            }
            None => {}
        }
    }
    for refs in by_dataset.values_mut() {
        refs.versions.sort_by(|a, b| a.0.cmp(&b.0));
        refs.tags.sort();
    }
    by_dataset
}

/// One dataset's refs as the remote has them now.
fn remote_table_refs(
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    dataset: &DatasetName,
) -> Result<TableRefs, RemoteError> {
    let found = read_wanted_refs(
        remote,
        runtime,
        std::slice::from_ref(dataset),
        &mut PullReport::default(),
    )?;
    Ok(
        table_refs(found.iter().map(|found| (found.name.as_str(), found.id)))
            .remove(dataset)
            .unwrap_or_default(),
    )
}

/// Publishes the tables of `datasets`; returns how many are now up to date (all, or an
/// error). A table whose newest metadata already names the remote's refs is left as it
/// is. Each other table is built from the remote's refs as
/// read just before; after its metadata is written the refs are read again, and a table
/// whose refs moved meanwhile (another pusher) is built and written again, so the last
/// metadata written follows the last refs written, whoever pushed them. Commits another
/// pusher added that this repository lacks are fetched first (objects only: no local
/// ref is set, as for an unnamed pinned commit).
pub(super) fn publish_tables(
    repo: &Repo,
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    datasets: &BTreeSet<DatasetName>,
) -> Result<usize, RemoteError> {
    for dataset in datasets {
        let mut refs = remote_table_refs(remote, runtime, dataset)?;
        let dir = format!("{}/metadata", iceberg::table_dir(dataset));
        let mut attempts = 0;
        loop {
            // A table whose newest metadata names these refs is up to date (it is a
            // function of them): one listing and one read, not a rebuild.
            if let Some((n, bytes)) = runtime.block_on(remote.latest_metadata(&dir))?
                && iceberg::refs_in_metadata(&bytes) == Some(iceberg::ref_map(&refs))
            {
                runtime.block_on(remote.write_hint(&dir, n))?;
                break;
            }
            fetch_missing_commits(repo, remote, runtime, &refs)?;
            let table = {
                let store = repo.read_store()?;
                let reader = store.read()?;
                let base = remote.base_uri();
                let place = Place {
                    base: &base,
                    dataset,
                };
                iceberg::build(&reader, &place, &refs).map_err(|source| RemoteError::Iceberg {
                    url: remote.url.clone(),
                    source: Box::new(source),
                })?
            };
            runtime.block_on(write_table(remote, dataset, table))?;
            let now = remote_table_refs(remote, runtime, dataset)?;
            if now == refs {
                break;
            }
            attempts += 1;
            if attempts == COMMIT_ATTEMPTS {
                return Err(RemoteError::Corrupt {
                    url: remote.url.clone(),
                    key: iceberg::table_dir(dataset),
                    detail: format!(
                        "its refs moved under each of {COMMIT_ATTEMPTS} publishes; push again"
                    ),
                });
            }
            refs = now;
        }
    }
    Ok(datasets.len())
}

/// Fetches, verified, the commits `refs` names that this repository lacks, with what
/// they need (another pusher's versions), without setting any local ref.
fn fetch_missing_commits(
    repo: &Repo,
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    refs: &TableRefs,
) -> Result<(), RemoteError> {
    let missing: Vec<Reached> = {
        let store = repo.read_store()?;
        let reader = store.read()?;
        let mut missing = Vec::new();
        for (version, id) in &refs.versions {
            if !matches!(reader.object(&id.object())?, Some((Kind::Commit, _))) {
                missing.push(Reached {
                    id: id.object(),
                    kind: Kind::Commit,
                    via: format!("version {version}"),
                });
            }
        }
        missing
    };
    if missing.is_empty() {
        return Ok(());
    }
    let mut report = PullReport::default();
    let fetched = fetch_closure(repo, remote, runtime, missing, &NoSyncProgress, &mut report)?;
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    fetched.write_into(&writer, &remote.url)?;
    writer.commit()?;
    Ok(())
}

/// A dataset's Iceberg table on a remote, as `pail iceberg` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub dataset: DatasetName,
    /// The remote's URL.
    pub url: String,
    /// The table's location (its directory), as engines name it.
    pub location: String,
    /// The newest metadata file, as engines name it.
    pub metadata: String,
    /// The table's refs (`main`, one tag per version, the pail tags), by name.
    pub refs: BTreeMap<String, TableRef>,
}

/// Reads the newest metadata of `dataset`'s table on `remote`.
pub fn table_info(remote: &RemoteStore, dataset: &DatasetName) -> Result<TableInfo, RemoteError> {
    let runtime = crate::io_runtime();
    if !runtime.block_on(remote.check_marker())? {
        return Err(RemoteError::NotARemote {
            url: remote.url.clone(),
        });
    }
    let no_table = |hint: String| RemoteError::NoTable {
        url: remote.url.clone(),
        dataset: Box::new(dataset.clone()),
        hint,
    };
    if remote.format() < 2 {
        return Err(no_table(format!(
            "the remote has format {}, whose leaves engines cannot read; `pail remote upgrade` moves it to format 2, then `pail push` publishes the table",
            remote.format()
        )));
    }
    let dir = format!("{}/metadata", iceberg::table_dir(dataset));
    let Some((n, bytes)) = runtime.block_on(remote.latest_metadata(&dir))? else {
        return Err(no_table(format!(
            "nothing has published it; `pail push REMOTE {dataset}` does"
        )));
    };
    let key = format!("{dir}/v{n}.metadata.json");
    let refs = iceberg::refs_in_metadata(&bytes).ok_or_else(|| RemoteError::Corrupt {
        url: remote.url.clone(),
        key: key.clone(),
        detail: "it is not Iceberg table metadata with refs".into(),
    })?;
    let base = remote.base_uri();
    Ok(TableInfo {
        dataset: dataset.clone(),
        url: remote.url.clone(),
        location: format!("{base}/{}", iceberg::table_dir(dataset)),
        metadata: format!("{base}/{key}"),
        refs,
    })
}

/// `fsck --remote`'s table check: for each dataset with refs on a format-2 remote, the
/// newest table metadata names exactly the refs the remote's refs map to. Problems, one
/// line each.
pub(super) fn check_tables(
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    found: &[(String, CommitId)],
) -> Result<Vec<String>, RemoteError> {
    let mut problems = Vec::new();
    if remote.format() < 2 {
        return Ok(problems);
    }
    for (dataset, refs) in table_refs(found.iter().map(|(name, id)| (name.as_str(), *id))) {
        let expected = iceberg::ref_map(&refs);
        let dir = format!("{}/metadata", iceberg::table_dir(&dataset));
        let repair = format!("`pail push REMOTE {dataset}` publishes it again");
        match runtime.block_on(remote.latest_metadata(&dir))? {
            None => problems.push(format!("{dataset}: no Iceberg table; {repair}")),
            Some((n, bytes)) => match iceberg::refs_in_metadata(&bytes) {
                None => problems.push(format!(
                    "{dir}/v{n}.metadata.json: not Iceberg table metadata pail can read; {repair}"
                )),
                Some(table) if table != expected => {
                    let differ: Vec<&str> = expected
                        .keys()
                        .chain(table.keys())
                        .filter(|name| expected.get(*name) != table.get(*name))
                        .map(String::as_str)
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    problems.push(format!(
                        "{dataset}: the Iceberg table (v{n}) disagrees with the remote's refs on {}; {repair}",
                        differ.join(", ")
                    ));
                }
                Some(_) => {}
            },
        }
    }
    Ok(problems)
}

async fn write_table(
    remote: &RemoteStore,
    dataset: &DatasetName,
    table: Table,
) -> Result<(), RemoteError> {
    let results: Vec<Result<(), RemoteError>> = futures::stream::iter(
        table
            .files
            .into_iter()
            .map(|file| async move { remote.put_if_absent(&file.key, file.bytes).await }),
    )
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let dir = format!("{}/metadata", iceberg::table_dir(dataset));
    for _ in 0..COMMIT_ATTEMPTS {
        let current = remote.latest_metadata(&dir).await?;
        let next = match &current {
            Some((n, bytes)) if bytes == table.metadata.as_bytes() => {
                // Up to date (a crash may have left the hint behind: write it).
                return remote.write_hint(&dir, *n).await;
            }
            Some((n, _)) => n + 1,
            None => 1,
        };
        let key = format!("{dir}/v{next}.metadata.json");
        let created = remote
            .store
            .put_opts(
                &remote.path(&key),
                PutPayload::from(table.metadata.clone().into_bytes()),
                PutOptions::from(PutMode::Create),
            )
            .await;
        match created {
            Ok(_) => return remote.write_hint(&dir, next).await,
            Err(object_store::Error::AlreadyExists { .. }) => continue,
            Err(source) => return Err(remote.store_err("write", &key)(source)),
        }
    }
    Err(RemoteError::Corrupt {
        url: remote.url.clone(),
        key: dir,
        detail: format!("{COMMIT_ATTEMPTS} other pushers committed table metadata first"),
    })
}

impl RemoteStore {
    /// The remote's prefix as engines name it: the URL, or a local remote's directory.
    pub(crate) fn base_uri(&self) -> String {
        match self.url.strip_prefix("file://") {
            Some(path) => path.to_string(),
            None => self.url.clone(),
        }
    }

    /// Writes `bytes` at `key` unless something is there (content-addressed files).
    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), RemoteError> {
        let path = self.path(key);
        match self.store.head(&path).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => return Err(self.store_err("check", key)(source)),
        }
        match self
            .store
            .put_opts(
                &path,
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(source) => Err(self.store_err("write", key)(source)),
        }
    }

    /// The newest `v<N>.metadata.json` in a table's metadata directory and its bytes.
    async fn latest_metadata(&self, dir: &str) -> Result<Option<(u64, Vec<u8>)>, RemoteError> {
        let listed: Vec<object_store::ObjectMeta> =
            futures::TryStreamExt::try_collect(self.store.list(Some(&self.path(dir))))
                .await
                .map_err(self.store_err("list", dir))?;
        let newest = listed
            .iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?;
                name.strip_prefix('v')?
                    .strip_suffix(".metadata.json")?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        let Some(n) = newest else {
            return Ok(None);
        };
        let key = format!("{dir}/v{n}.metadata.json");
        let bytes = self
            .get_capped(&key, crate::object::MAX_MANIFEST_BYTES as u64)
            .await?
            .map(|(bytes, _)| bytes)
            .unwrap_or_default();
        Ok(Some((n, bytes)))
    }

    async fn write_hint(&self, dir: &str, n: u64) -> Result<(), RemoteError> {
        let key = format!("{dir}/version-hint.text");
        self.store
            .put_opts(
                &self.path(&key),
                PutPayload::from(n.to_string().into_bytes()),
                PutOptions::from(PutMode::Overwrite),
            )
            .await
            .map(|_| ())
            .map_err(self.store_err("write", &key))
    }
}
