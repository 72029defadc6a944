//! A temporary file of objects, so memory stays bounded while they wait: a build's new
//! objects until the commit transaction (`rows::tree::Staging`), objects read for an upload,
//! or downloads until the pull's write transaction.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::object::{Kind, ObjectId};
use crate::store::{StoreError, Writer};

/// What went wrong in a spool: its file, or the transaction it was written into.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("could not spool objects in {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One object in a spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolEntry {
    pub id: ObjectId,
    pub kind: Kind,
    offset: u64,
    len: u64,
}

/// Objects in a temporary file (deleted when dropped), in the order they were added; an id
/// added twice is kept once.
pub struct Spool {
    file: std::fs::File,
    dir: PathBuf,
    entries: Vec<SpoolEntry>,
    /// Index into `entries` by id: spooled objects can be read back.
    index: HashMap<ObjectId, usize>,
    offset: u64,
}

impl Spool {
    /// A new, empty spool in `dir` (created if missing).
    pub fn new(dir: &Path) -> Result<Spool, SpoolError> {
        let io_err = |source| SpoolError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let file = tempfile::tempfile_in(dir).map_err(io_err)?;
        Ok(Spool {
            file,
            dir: dir.to_path_buf(),
            entries: Vec::new(),
            index: HashMap::new(),
            offset: 0,
        })
    }

    fn io_err(&self) -> impl Fn(std::io::Error) -> SpoolError + use<> {
        let path = self.dir.clone();
        move |source| SpoolError::Io {
            path: path.clone(),
            source,
        }
    }

    /// Adds an object under its id, computed from its bytes; returns the id.
    pub fn put(&mut self, kind: Kind, bytes: &[u8]) -> Result<ObjectId, SpoolError> {
        let id = ObjectId::compute(kind, bytes);
        self.insert(id, kind, bytes)?;
        Ok(id)
    }

    /// Adds bytes under an id the caller vouches for (a verified download, an object read
    /// from the store, or a cache entry's key).
    pub fn insert(&mut self, id: ObjectId, kind: Kind, bytes: &[u8]) -> Result<(), SpoolError> {
        if self.index.contains_key(&id) {
            return Ok(());
        }
        self.file
            .write_all_at(bytes, self.offset)
            .map_err(self.io_err())?;
        self.record(id, kind, bytes.len() as u64);
        Ok(())
    }

    /// Adds `len` bytes from the start of `source` (a download's file), without holding
    /// them in memory.
    pub fn insert_file(
        &mut self,
        id: ObjectId,
        kind: Kind,
        source: &mut std::fs::File,
        len: u64,
    ) -> Result<(), SpoolError> {
        if self.index.contains_key(&id) {
            return Ok(());
        }
        let io_err = self.io_err();
        source.seek(SeekFrom::Start(0)).map_err(&io_err)?;
        self.file
            .seek(SeekFrom::Start(self.offset))
            .map_err(&io_err)?;
        let copied = std::io::copy(&mut std::io::Read::take(source, len), &mut self.file)
            .map_err(&io_err)?;
        if copied != len {
            return Err(io_err(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.record(id, kind, len);
        Ok(())
    }

    fn record(&mut self, id: ObjectId, kind: Kind, len: u64) {
        self.index.insert(id, self.entries.len());
        self.entries.push(SpoolEntry {
            id,
            kind,
            offset: self.offset,
            len,
        });
        self.offset += len;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The objects, in the order they were added.
    pub fn entries(&self) -> &[SpoolEntry] {
        &self.entries
    }

    /// The entry for `id`, if this spool holds it.
    pub fn entry(&self, id: &ObjectId) -> Option<SpoolEntry> {
        self.index.get(id).map(|&idx| self.entries[idx])
    }

    /// An entry's bytes.
    pub fn read(&self, entry: &SpoolEntry) -> Result<Vec<u8>, SpoolError> {
        let mut buffer = vec![0u8; entry.len as usize];
        self.file
            .read_exact_at(&mut buffer, entry.offset)
            .map_err(self.io_err())?;
        Ok(buffer)
    }

    /// Stores every object in the transaction; `on_new` is called for each one it did not
    /// hold yet. Returns how many were new.
    pub fn write_into(
        &self,
        writer: &Writer,
        mut on_new: impl FnMut(&SpoolEntry) -> Result<(), StoreError>,
    ) -> Result<usize, SpoolError> {
        let mut n_new = 0;
        for entry in &self.entries {
            let bytes = self.read(entry)?;
            if writer.put_object(entry.kind, &entry.id, &bytes)? {
                on_new(entry)?;
                n_new += 1;
            }
        }
        Ok(n_new)
    }
}
