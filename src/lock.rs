//! `pail.lock`: datasets pinned by commit id, committed with the code that uses them.
//!
//! TOML, one `[[dataset]]` table per pinned dataset, sorted by name and written with a
//! fixed layout so that a change shows as a small diff in git.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const LOCK_FILE: &str = "pail.lock";
const LOCK_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid pail.lock: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no pail.lock here or in any parent directory of {start}")]
    NotFound { start: PathBuf },
    #[error("{name} is not pinned in {path}")]
    NotPinned { name: String, path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEntry {
    /// Full dataset name.
    pub name: String,
    pub version: String,
    /// Commit id, 64 hex digits.
    pub commit: String,
    /// The remote URL the commit can be fetched from ("" when it was never pushed).
    pub remote: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockFile {
    pub entries: Vec<LockEntry>,
}

#[derive(Deserialize)]
struct RawLock {
    format: Option<u32>,
    #[serde(default)]
    dataset: Vec<LockEntry>,
}

impl LockFile {
    pub fn read(path: &Path) -> Result<LockFile, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let malformed = |detail: String| LockError::Malformed {
            path: path.to_path_buf(),
            detail,
        };
        let raw: RawLock =
            toml::from_str(&text).map_err(|err| malformed(err.message().to_string()))?;
        if raw.format.unwrap_or(LOCK_FORMAT) > LOCK_FORMAT {
            return Err(malformed("written by a newer pail; upgrade pail".into()));
        }
        for entry in &raw.dataset {
            if crate::object::ObjectId::from_hex(&entry.commit).is_err() {
                return Err(malformed(format!(
                    "{}: commit is not a 64-digit hex id",
                    entry.name
                )));
            }
            crate::name::DatasetName::parse_full(&entry.name)
                .map_err(|err| malformed(err.to_string()))?;
        }
        let mut lock = LockFile {
            entries: raw.dataset,
        };
        lock.entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(lock)
    }

    /// Adds or replaces the entry for a dataset.
    pub fn pin(&mut self, entry: LockEntry) {
        self.entries.retain(|existing| existing.name != entry.name);
        self.entries.push(entry);
        self.entries.sort_by(|a, b| a.name.cmp(&b.name));
    }

    pub fn unpin(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|existing| existing.name != name);
        before != self.entries.len()
    }

    pub fn render(&self) -> String {
        let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
        let mut text = format!(
            "# pail.lock: datasets pinned by commit id. Written by `pail lock add`;\n\
             # commit it with the code. `pail checkout --locked --to DIR` fetches exactly these.\n\
             format = {LOCK_FORMAT}\n"
        );
        for entry in &self.entries {
            text.push_str(&format!(
                "\n[[dataset]]\nname = {}\nversion = {}\ncommit = {}\nremote = {}\n",
                quote(&entry.name),
                quote(&entry.version),
                quote(&entry.commit),
                quote(&entry.remote)
            ));
        }
        text
    }

    /// Writes atomically: a temporary file renamed over the old one.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let write_err = |source| LockError::Write {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, self.render()).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(|source| LockError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The nearest `pail.lock` at or above `start`.
pub fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(LOCK_FILE))
        .find(|path| path.is_file())
}

/// Where `pail lock add` writes when there is no lock yet: the root of the git work tree
/// around `start`, else `start`.
pub fn default_location(start: &Path) -> PathBuf {
    if let Some(found) = find(start) {
        return found;
    }
    let root = gix::discover(start)
        .ok()
        .and_then(|repo| repo.workdir().map(Path::to_path_buf))
        .unwrap_or_else(|| start.to_path_buf());
    root.join(LOCK_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let mut lock = LockFile::default();
        for name in ["team.vision.b", "team.vision.a"] {
            lock.pin(LockEntry {
                name: name.into(),
                version: "1.0.0".into(),
                commit: "ab".repeat(32),
                remote: "s3://bucket/pail".into(),
            });
        }
        lock.write(&path).unwrap();
        let read = LockFile::read(&path).unwrap();
        assert_eq!(read, lock);
        assert_eq!(read.entries[0].name, "team.vision.a");
        assert_eq!(read.render(), std::fs::read_to_string(&path).unwrap());
        std::fs::write(
            &path,
            "[[dataset]]\nname = \"a.b.c\"\nversion = \"1.0.0\"\ncommit = \"zz\"\nremote = \"\"\n",
        )
        .unwrap();
        assert!(
            LockFile::read(&path)
                .unwrap_err()
                .to_string()
                .contains("not a 64-digit hex id")
        );
    }
}
