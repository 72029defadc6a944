//! The publish phase of a push: after objects and refs, each pushed dataset's Iceberg
//! table (`crate::iceberg`) is rebuilt from the remote's refs and written: its manifests,
//! manifest lists and delete files create-only, then `metadata/v<N>.metadata.json`
//! create-only (the commit lock: a pusher that loses the race reads the new N and tries
//! again), then `metadata/version-hint.text`. The table is a function of the refs, so a
//! push that died before publishing is repaired by the next one.

use std::collections::BTreeSet;

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::{
    CONCURRENCY, PullReport, RefKind, RemoteError, RemoteStore, parse_ref_name, read_wanted_refs,
};
use crate::iceberg::{self, Place, Table, TableRefs};
use crate::name::DatasetName;
use crate::object::Kind;
use crate::repo::Repo;
use futures::StreamExt;

/// Attempts at the next `v<N>.metadata.json` before giving up (another pusher took each).
const COMMIT_ATTEMPTS: usize = 20;

/// Publishes the tables of `datasets`; returns the datasets skipped because this
/// repository lacks a commit the remote's refs name (a later push from one that has them
/// publishes them).
pub(super) fn publish_tables(
    repo: &Repo,
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    datasets: &BTreeSet<DatasetName>,
) -> Result<Vec<DatasetName>, RemoteError> {
    let mut skipped = Vec::new();
    for dataset in datasets {
        let refs = read_wanted_refs(
            remote,
            runtime,
            std::slice::from_ref(dataset),
            &mut PullReport::default(),
        )?;
        let mut table_refs = TableRefs {
            versions: Vec::new(),
            tags: Vec::new(),
        };
        for found in refs {
            match parse_ref_name(&found.name) {
                Some((_, RefKind::Version(version))) => {
                    table_refs.versions.push((version, found.id))
                }
                Some((_, RefKind::Tag(tag))) => table_refs.tags.push((tag, found.id)),
                None => {}
            }
        }
        table_refs.versions.sort_by(|a, b| a.0.cmp(&b.0));
        table_refs.tags.sort();
        let table = {
            let store = repo.read_store()?;
            let reader = store.read()?;
            let complete = table_refs
                .versions
                .iter()
                .all(|(_, id)| matches!(reader.object(&id.object()), Ok(Some((Kind::Commit, _)))));
            if !complete {
                skipped.push(dataset.clone());
                continue;
            }
            let base = remote.base_uri();
            let place = Place {
                base: &base,
                dataset,
            };
            iceberg::build(&reader, &place, &table_refs).map_err(|source| RemoteError::Iceberg {
                url: remote.url.clone(),
                source,
            })?
        };
        runtime.block_on(write_table(remote, dataset, table))?;
    }
    Ok(skipped)
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
