//! An external sort of (key, line, payload) records: sorted in memory up to a budget,
//! spilled to temporary runs beyond it and merged, so memory stays bounded.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One record: its sort key, the input line it came from, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub key: Vec<u8>,
    pub line: u64,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not spill sorted rows to {path}: {source}")]
pub struct SortError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

pub struct Sorter {
    dir: PathBuf,
    budget: usize,
    used: usize,
    buffer: Vec<Record>,
    runs: Vec<std::fs::File>,
}

impl Sorter {
    pub fn new(dir: &Path, budget: usize) -> Sorter {
        Sorter {
            dir: dir.to_path_buf(),
            budget,
            used: 0,
            buffer: Vec::new(),
            runs: Vec::new(),
        }
    }

    fn err(&self, source: std::io::Error) -> SortError {
        SortError {
            path: self.dir.clone(),
            source,
        }
    }

    pub fn push(&mut self, record: Record) -> Result<(), SortError> {
        self.used += record.key.len() + record.payload.len() + 64;
        self.buffer.push(record);
        if self.used >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), SortError> {
        self.buffer.sort_unstable();
        std::fs::create_dir_all(&self.dir).map_err(|err| self.err(err))?;
        let file = tempfile::tempfile_in(&self.dir).map_err(|err| self.err(err))?;
        let mut writer = BufWriter::new(file);
        for record in self.buffer.drain(..) {
            write_record(&mut writer, &record).map_err(|source| SortError {
                path: self.dir.clone(),
                source,
            })?;
        }
        let mut file = writer
            .into_inner()
            .map_err(|err| self.err(err.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(|err| self.err(err))?;
        self.runs.push(file);
        self.used = 0;
        Ok(())
    }

    /// Returns the records in ascending (key, line) order.
    pub fn finish(mut self) -> Result<Sorted, SortError> {
        if self.runs.is_empty() {
            self.buffer.sort_unstable();
            return Ok(Sorted::Memory(self.buffer.into_iter()));
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        let mut readers: Vec<BufReader<std::fs::File>> =
            self.runs.into_iter().map(BufReader::new).collect();
        let mut heap = BinaryHeap::new();
        for (idx, reader) in readers.iter_mut().enumerate() {
            if let Some(record) = read_record(reader).map_err(|source| SortError {
                path: self.dir.clone(),
                source,
            })? {
                heap.push(Reverse((record, idx)));
            }
        }
        Ok(Sorted::Merge {
            dir: self.dir,
            readers,
            heap,
        })
    }
}

pub enum Sorted {
    Memory(std::vec::IntoIter<Record>),
    Merge {
        dir: PathBuf,
        readers: Vec<BufReader<std::fs::File>>,
        heap: BinaryHeap<Reverse<(Record, usize)>>,
    },
}

impl Iterator for Sorted {
    type Item = Result<Record, SortError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Sorted::Memory(iter) => iter.next().map(Ok),
            Sorted::Merge { dir, readers, heap } => {
                let Reverse((record, idx)) = heap.pop()?;
                match read_record(&mut readers[idx]) {
                    Ok(Some(next)) => heap.push(Reverse((next, idx))),
                    Ok(None) => {}
                    Err(source) => {
                        return Some(Err(SortError {
                            path: dir.clone(),
                            source,
                        }));
                    }
                }
                Some(Ok(record))
            }
        }
    }
}

fn write_record(writer: &mut impl Write, record: &Record) -> std::io::Result<()> {
    writer.write_all(&(record.key.len() as u64).to_le_bytes())?;
    writer.write_all(&record.key)?;
    writer.write_all(&record.line.to_le_bytes())?;
    writer.write_all(&(record.payload.len() as u64).to_le_bytes())?;
    writer.write_all(&record.payload)
}

fn read_u64(reader: &mut impl Read) -> std::io::Result<Option<u64>> {
    let mut bytes = [0u8; 8];
    match reader.read_exact(&mut bytes) {
        Ok(()) => Ok(Some(u64::from_le_bytes(bytes))),
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(err) => Err(err),
    }
}

fn read_record(reader: &mut impl Read) -> std::io::Result<Option<Record>> {
    let Some(key_len) = read_u64(reader)? else {
        return Ok(None);
    };
    let mut key = vec![0u8; key_len as usize];
    reader.read_exact(&mut key)?;
    let line = read_u64(reader)?.ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let payload_len = read_u64(reader)?.ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let mut payload = vec![0u8; payload_len as usize];
    reader.read_exact(&mut payload)?;
    Ok(Some(Record { key, line, payload }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_runs_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(dir.path(), 500);
        let mut expected = Vec::new();
        for line in 0..1000u64 {
            let key = ((line * 7919) % 1000).to_be_bytes().to_vec();
            expected.push(key.clone());
            sorter
                .push(Record {
                    key,
                    line,
                    payload: vec![line as u8],
                })
                .unwrap();
        }
        expected.sort();
        let got: Vec<Vec<u8>> = sorter.finish().unwrap().map(|r| r.unwrap().key).collect();
        assert_eq!(got, expected);
    }
}
