//! Output helpers: buffered stdout, JSON, aligned tables, sizes, and the progress display.
//!
//! Human output escapes control characters as it is written (`crate::escape`), whatever
//! printed it, so text from a pulled commit or a listed path cannot drive the terminal.
//! JSON, JSON lines, CSV, DOT and Parquet are written exactly (`stdout_exact`,
//! `print_json`).

use std::io::{BufWriter, Stdout, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

pub(crate) use crate::escape::{escape_line, escape_text};

/// Buffered standard output, escaping (human output) or exact (machine formats).
pub struct Out {
    inner: BufWriter<Stdout>,
    escape: bool,
    /// The start of a UTF-8 sequence that a write split, until the next write.
    carry: Vec<u8>,
}

/// Standard output for human reading: control characters are escaped.
pub fn stdout() -> Out {
    Out {
        inner: BufWriter::new(std::io::stdout()),
        escape: true,
        carry: Vec::new(),
    }
}

/// Standard output for a machine format, written byte for byte.
pub fn stdout_exact() -> Out {
    Out {
        inner: BufWriter::new(std::io::stdout()),
        escape: false,
        carry: Vec::new(),
    }
}

impl Out {
    /// The exact writer underneath, for a machine format inside human output.
    pub fn exact(&mut self) -> std::io::Result<&mut BufWriter<Stdout>> {
        self.write_carry()?;
        Ok(&mut self.inner)
    }

    /// Bytes left of a split sequence that never completed: not UTF-8, so escaped.
    fn write_carry(&mut self) -> std::io::Result<()> {
        for byte in std::mem::take(&mut self.carry) {
            write!(self.inner, "\\x{byte:02x}")?;
        }
        Ok(())
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.escape {
            return self.inner.write(buf);
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(buf);
        let mut rest = bytes.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.inner.write_all(escape_text(text).as_bytes())?;
                    break;
                }
                Err(err) => {
                    let (valid, after) = rest.split_at(err.valid_up_to());
                    let valid = std::str::from_utf8(valid).expect("valid up to here");
                    self.inner.write_all(escape_text(valid).as_bytes())?;
                    match err.error_len() {
                        Some(len) => {
                            for byte in &after[..len] {
                                write!(self.inner, "\\x{byte:02x}")?;
                            }
                            rest = &after[len..];
                        }
                        None => {
                            self.carry = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_carry()?;
        self.inner.flush()
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        let _ = self.write_carry();
    }
}

/// Pretty JSON, exact even on a human writer.
pub fn print_json(out: &mut Out, value: &Value) -> std::io::Result<()> {
    let exact = out.exact()?;
    serde_json::to_writer_pretty(&mut *exact, value)?;
    writeln!(exact)
}

/// Prints rows as a table with a header, columns padded to their widest cell. Each cell
/// is one line: its control characters, newlines and tabs are escaped.
pub fn print_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| escape_line(cell).into_owned())
                .collect()
        })
        .collect();
    let rows = rows.as_slice();
    let header: Vec<String> = header
        .iter()
        .map(|cell| escape_line(cell).into_owned())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (idx, cell) in row.iter().enumerate() {
            if idx < widths.len() {
                widths[idx] = widths[idx].max(cell.chars().count());
            }
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (idx, cell) in row.iter().enumerate() {
            if idx + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[idx].saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

pub(crate) use crate::summary::human_bytes;

/// `2026-11-23 21:58:00` from the stored µs, UTC.
pub fn short_time(micros: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
        .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| micros.to_string())
}

/// The listing progress: a spinner with counts on a terminal, nothing otherwise.
pub struct ListingProgress {
    bar: ProgressBar,
}

impl ListingProgress {
    pub fn new(visible: bool) -> ListingProgress {
        let bar = if visible {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} listing: {msg} ({elapsed})")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        ListingProgress { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl crate::commit::Progress for ListingProgress {
    fn listed(&self, n_files: u64, n_bytes: u64) {
        self.bar
            .set_message(format!("{n_files} files, {}", human_bytes(n_bytes)));
    }

    fn problem(&self, path: &str, reason: &str) {
        let (path, reason) = (escape_text(path), escape_text(reason));
        self.bar
            .suspend(|| eprintln!("warning: could not list {path}: {reason}"));
    }
}

/// A cell for a table or CSV: strings bare, null empty, anything else as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Looks up a dotted path in a row.
pub fn lookup<'a>(row: &'a Value, path: &str) -> &'a Value {
    let mut current = row;
    for part in path.split('.') {
        current = current.get(part).unwrap_or(&Value::Null);
    }
    current
}

/// RFC 4180 quoting.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
