//! Output helpers: buffered stdout, JSON, aligned tables, sizes, and the progress display.

use std::io::{BufWriter, Stdout, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

pub type Out = BufWriter<Stdout>;

pub fn stdout() -> Out {
    BufWriter::new(std::io::stdout())
}

pub fn print_json(out: &mut Out, value: &Value) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Prints rows as a table with a header, columns padded to their widest cell.
pub fn print_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (idx, cell) in row.iter().enumerate() {
            if idx < widths.len() {
                widths[idx] = widths[idx].max(cell.chars().count());
            }
        }
    }
    let header: Vec<String> = header.iter().map(|cell| cell.to_string()).collect();
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

pub use pail::summary::human_bytes;

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

impl pail::repo::Progress for ListingProgress {
    fn listed(&self, n_files: u64, n_bytes: u64) {
        self.bar
            .set_message(format!("{n_files} files, {}", human_bytes(n_bytes)));
    }

    fn problem(&self, path: &str, reason: &str) {
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
