//! Maintenance of the local repository: `fsck` checks every object and every ref's closure,
//! `gc` deletes what no ref reaches, and stale temporaries of killed processes are removed.

use crate::object::{CommitId, Kind, ObjectId};
use crate::repo::{OWNED_TEMP_PREFIX, Repo, RepoError, io_err};
use crate::walk::Visit;

/// What `fsck` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Objects checked.
    pub objects: u64,
    /// Problems found, one sentence each; empty when the repository is healthy.
    pub problems: Vec<String>,
}

/// What `gc` or `remove_stale_temporaries` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Objects (or files) removed.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Removes the temporaries under `.pail/tmp/` that no live process owns: those made by
/// `repo::owned_temp_file` whose lock nobody holds (their owner was killed). Returns how
/// many files and bytes were removed.
pub fn remove_stale_temporaries(repo: &Repo) -> Result<Removed, RepoError> {
    let dir = repo.tmp_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Removed::default()),
        Err(err) => return Err(io_err(&dir)(err)),
    };
    let (mut n_files, mut n_bytes) = (0u64, 0u64);
    for entry in entries {
        let entry = entry.map_err(io_err(&dir))?;
        let path = entry.path();
        let owned = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(OWNED_TEMP_PREFIX));
        if !owned {
            continue;
        }
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(io_err(&path)(err)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(err)) => return Err(io_err(&path)(err)),
        }
        // Locked by us: no owner is alive, and a new owner cannot take this name.
        let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                n_files += 1;
                n_bytes += len;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_err(&path)(err)),
        }
    }
    Ok(Removed {
        count: n_files,
        bytes: n_bytes,
    })
}

/// Checks the repository: every object's bytes hash to its id, and every object every
/// ref needs (of every kind, through `walk`) is present and decodes as its readers
/// decode it. Returns the problems found (empty when healthy).
pub fn fsck(repo: &Repo) -> Result<FsckReport, RepoError> {
    let store = repo.store()?;
    let reader = store.read()?;
    let mut problems = Vec::new();
    let mut n_objects = 0u64;
    reader.for_each_object(|key, stored| {
        n_objects += 1;
        let id = ObjectId::from_slice(key);
        let kind = stored.first().and_then(|code| Kind::from_code(*code));
        match (id, kind) {
            (Some(id), Some(kind)) => {
                let actual = ObjectId::compute(kind, &stored[1..]);
                if actual != id {
                    problems.push(format!(
                        "object {id} is corrupt: its bytes hash to {actual}"
                    ));
                }
            }
            _ => problems.push(format!("a record with key {key:02x?} is not an object")),
        }
    })?;
    // Everything every ref needs, each object decoded as its readers decode it.
    let refs = reader.refs("datasets/")?;
    crate::walk::walk(
        refs.iter().map(|(_, id)| (*id, Kind::Commit)),
        |root, id, kind| -> Result<Visit, RepoError> {
            let via = &refs[root].0;
            let bytes = match reader.object(&id)? {
                None => {
                    problems.push(format!("{via}: {kind} {id} is missing"));
                    return Ok(Visit::Stop);
                }
                Some((found, _)) if found != kind => {
                    problems.push(format!(
                        "{via}: object {id} is a {found}, expected a {kind}"
                    ));
                    return Ok(Visit::Stop);
                }
                Some((_, bytes)) => bytes,
            };
            let decoded = crate::walk::check_decodes(kind, &id, &bytes)
                .and_then(|()| crate::walk::children(kind, &id, &bytes));
            match decoded {
                Ok(children) => Ok(Visit::Follow(children)),
                Err(err) => {
                    problems.push(format!("{via}: {kind} {id} cannot be read: {err}"));
                    Ok(Visit::Stop)
                }
            }
        },
    )?;
    Ok(FsckReport {
        objects: n_objects,
        problems,
    })
}

/// Deletes objects no ref reaches. Returns how many objects and bytes were removed.
pub fn gc(repo: &Repo) -> Result<Removed, RepoError> {
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    let roots: Vec<CommitId> = writer
        .refs("datasets/")?
        .into_iter()
        .map(|(_, id)| CommitId(id))
        .collect();
    let reachable: std::collections::HashSet<ObjectId> = {
        // The closure reads through a Reader; a write transaction sees the same data.
        drop(writer);
        let reader = store.read()?;
        let skip = |_: &ObjectId| -> Result<bool, RepoError> { Ok(false) };
        crate::remote::closure(&reader, &roots, &skip)?
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    };
    let writer = store.write()?;
    // Refs may have moved between the two transactions: only delete if they did not.
    let now: Vec<CommitId> = writer
        .refs("datasets/")?
        .into_iter()
        .map(|(_, id)| CommitId(id))
        .collect();
    if now != roots {
        return Ok(Removed::default());
    }
    let mut garbage = Vec::new();
    writer.for_each_object(|key, stored| {
        if let Some(id) = ObjectId::from_slice(key)
            && !reachable.contains(&id)
        {
            garbage.push((id, stored.len() as u64));
        }
    })?;
    let bytes = garbage.iter().map(|(_, len)| len).sum();
    for (id, _) in &garbage {
        writer.delete_object(id)?;
    }
    writer.commit()?;
    Ok(Removed {
        count: garbage.len() as u64,
        bytes,
    })
}
