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
    #[error(
        "pail.lock fetches {name} from {remote}, which is not one of this repository's remotes"
    )]
    UnlistedRemote {
        name: crate::name::DatasetName,
        remote: String,
    },
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
        let base = path.parent().unwrap_or(Path::new("/"));
        LockFile::parse(&text, base).map_err(|detail| LockError::Malformed {
            path: path.to_path_buf(),
            detail,
        })
    }

    /// Decodes a lock file's text: outside input (it arrives with a pull request), so
    /// every field is checked and an error says what is wrong, never a panic. A remote
    /// is normalised as `pail remote add` does (a relative path is taken from `base`,
    /// the lock's directory); one with user info or a query string is refused.
    pub fn parse(text: &str, base: &Path) -> Result<LockFile, String> {
        let raw: RawLock = toml::from_str(text).map_err(|err| err.message().to_string())?;
        if raw.format.unwrap_or(LOCK_FORMAT) > LOCK_FORMAT {
            return Err("written by a newer pail; upgrade pail".into());
        }
        let mut entries = raw.dataset;
        for entry in &mut entries {
            crate::name::DatasetName::parse_full(&entry.name).map_err(|err| err.to_string())?;
            let shown = crate::listing::redact(&entry.name);
            let is_hex = entry.commit.len() == 64
                && entry
                    .commit
                    .bytes()
                    .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
            if !is_hex || crate::object::ObjectId::from_hex(&entry.commit).is_err() {
                return Err(format!("{shown}: commit is not a 64-digit hex id"));
            }
            if !entry.remote.is_empty() {
                entry.remote = crate::remote::normalize_url(&entry.remote, base)
                    .map_err(|err| format!("{shown}: remote: {err}"))?;
            }
        }
        let mut lock = LockFile { entries };
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
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = LockEntry> {
        let part = "[a-z0-9][a-z0-9_-]{0,6}";
        (
            (part, part, part),
            any::<String>(),
            "[0-9a-f]{64}",
            prop_oneof![
                Just(String::new()),
                "s3://[a-z0-9][a-z0-9-]{2,8}(/[a-z0-9._-]{1,6}){0,2}",
                "(gs|az)://[a-z0-9][a-z0-9-]{2,8}",
                "file:///[a-z0-9 é_-]{1,8}(/[a-z0-9]{1,4}){0,2}",
            ],
        )
            .prop_map(|((ns, project, name), version, commit, remote)| LockEntry {
                name: format!("{ns}.{project}.{name}"),
                version,
                commit,
                remote,
            })
    }

    /// Text shaped like a lock, with the characters that upset TOML and byte slicing.
    fn lockish() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("[[dataset]]\n".to_string()),
                Just("format = ".to_string()),
                "(name|version|commit|remote) = ".prop_map(String::from),
                "\"[a-f0-9é.:/?@#\\\"]{0,70}\"\n".prop_map(String::from),
                "[0-9]{1,12}\n".prop_map(String::from),
                any::<String>(),
            ],
            0..16,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A lock file is outside input: any text is a lock or an error, never a panic.
        #[test]
        fn arbitrary_text_is_an_error_not_a_panic(text in any::<String>()) {
            let _ = LockFile::parse(&text, Path::new("/work"));
        }

        #[test]
        fn lock_shaped_text_is_an_error_not_a_panic(text in lockish()) {
            let _ = LockFile::parse(&text, Path::new("/work"));
        }

        /// What pail writes, it reads back exactly.
        #[test]
        fn parse_of_render_is_identity(entries in proptest::collection::vec(entry(), 0..5)) {
            let mut lock = LockFile::default();
            for entry in entries {
                lock.pin(entry);
            }
            let parsed = LockFile::parse(&lock.render(), Path::new("/work"));
            prop_assert_eq!(parsed, Ok(lock));
        }
    }

    #[test]
    fn remotes_are_normalised_and_secrets_refused() {
        let text = |remote: &str| {
            format!(
                "[[dataset]]\nname = \"a.b.c\"\nversion = \"1.0.0\"\ncommit = \"{}\"\nremote = \"{remote}\"\n",
                "ab".repeat(32)
            )
        };
        let base = Path::new("/repo");
        let lock = LockFile::parse(&text("s3://bucket/pail/"), base).unwrap();
        assert_eq!(lock.entries[0].remote, "s3://bucket/pail");
        let lock = LockFile::parse(&text("shared"), base).unwrap();
        assert_eq!(lock.entries[0].remote, "file:///repo/shared");
        for bad in [
            "s3://bucket/p?X-Amz-Signature=sekret",
            "s3://key:sekret@bucket/p",
            "http://x/y",
        ] {
            let err = LockFile::parse(&text(bad), base).unwrap_err();
            assert!(err.contains("remote"), "{err}");
            assert!(!err.contains("sekret"), "{err}");
        }
        // A multibyte character where a 64-digit id is expected: an error, not a panic.
        let bad = text("").replace(&"ab".repeat(32), &("é".repeat(32)));
        assert!(
            LockFile::parse(&bad, base)
                .unwrap_err()
                .contains("64-digit hex")
        );
    }

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
