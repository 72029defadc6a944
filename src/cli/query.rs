//! `pail query` (SQL through DataFusion) and `pail export` (a version to one file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::query::{self, QueryError};

use super::output;
use super::read::{RowsFormat, print_rows};
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Table names are dataset refs: photos (latest), \"photos@1.0.1\", \"team.vision.clips@golden\" \
or team.vision.clips (catalog = namespace, schema = project). Struct fields read as file.path; an \
output column without an alias is named as written (file.path, or c.file.path where two would share \
a name).
Functions besides DataFusion's: file_ext(path), file_name(path), file_dir(path) (each also takes a File), \
file_uri(file) or file_uri(source, path).
Types in SQL: date, datetime (UTC) and decimal compare with literals (DATE '2024-03-01', \
TIMESTAMP '2024-05-01T12:00:00Z', 0.5); a time column with a string ('05:00:00': the TIME literal \
is in nanoseconds, which DataFusion 55 does not compare with pail's microseconds); a duration is \
an int of microseconds; a uuid or enum is a string; a map reads as m['key'], a tuple as t['_0'], \
a union as u['tag'] and u['<variant>'].

SQL (Apache DataFusion 55), one statement per call:
  Supported: SELECT with WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, DISTINCT, UNION, WITH, VALUES;
    joins of any datasets and versions, on any expression (c.file.size + 0 = d.file.size);
    window functions; subqueries, correlated ones when correlated by equality;
    unnest(list) in SELECT, and in FROM as a lateral join: FROM clips c, unnest(c.tags) AS t(tag)
    (a row per element, none for an empty or null list; the column is `unnest` without an alias);
    table functions generate_series(a, b[, step]) and range(a, b[, step]);
    EXPLAIN, DESCRIBE NAME, SHOW TABLES, SHOW COLUMNS FROM NAME, and
    information_schema.tables / .columns (every dataset, by namespace, project and name).
  Refused: statements that write (CREATE TABLE / VIEW, INSERT, UPDATE, DELETE, DROP, COPY, SET):
    queries are read-only, datasets change by commits; a subquery correlated other than by
    equality, and LEFT JOIN unnest(...) (the engine cannot plan them).
  Exit code 1 for SQL or data the query cannot run on (syntax, unknown column, a failed cast,
  a leaf that does not match its commit's schema), 2 for a bug in pail or the engine.

Examples:
  pail query \"SELECT file_ext(file.path) AS ext, count(*) AS n, sum(file.size) AS bytes FROM photos GROUP BY 1 ORDER BY n DESC\"
  pail query \"SELECT file.path AS path FROM \\\"photos@1.0.0\\\" WHERE file.size > 8192\" --format jsonl
  pail query \"SELECT * FROM photos\" --format parquet -o photos.parquet"
)]
pub struct QueryArgs {
    /// One SQL statement
    pub sql: String,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: QueryFormat,
    /// Same as --format jsonl: one JSON object per row
    #[arg(long)]
    pub json: bool,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Jsonl,
    Csv,
    Parquet,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail export photos@1.0.1 -o photos.parquet
  pail export team.vision.clips --format jsonl -o -")]
pub struct ExportArgs {
    /// NAME[@V]
    pub target: String,
    /// Output format (default: from the extension of FILE)
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// File to write, or - for standard output (jsonl and csv only)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Parquet,
    Jsonl,
    Csv,
}

/// Where output goes: standard output, or a temporary file renamed over FILE at the end,
/// so a failed command never leaves half a file behind.
enum Sink {
    Stdout(output::Out),
    File {
        path: PathBuf,
        file: std::io::BufWriter<tempfile::NamedTempFile>,
    },
}

impl Sink {
    /// `human`: a table for reading, escaped on standard output; else a machine format,
    /// written exactly.
    fn open(ctx: &Context, output: Option<&Path>, human: bool) -> Result<Sink, CliError> {
        let Some(path) = output.filter(|path| *path != Path::new("-")) else {
            return Ok(Sink::Stdout(if human {
                output::stdout()
            } else {
                output::stdout_exact()
            }));
        };
        let path = ctx.cwd.join(path);
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ctx.cwd.clone());
        let temp = tempfile::NamedTempFile::new_in(&dir).map_err(|source| CliError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(Sink::File {
            path,
            file: std::io::BufWriter::new(temp),
        })
    }

    fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout(_))
    }

    fn finish(self) -> Result<(), CliError> {
        match self {
            Sink::Stdout(mut out) => Ok(out.flush()?),
            Sink::File { path, file } => {
                let write_err = |source| CliError::Write {
                    path: path.clone(),
                    source,
                };
                let temp = file
                    .into_inner()
                    .map_err(|err| write_err(err.into_error()))?;
                temp.persist(&path).map_err(|err| write_err(err.error))?;
                Ok(())
            }
        }
    }

    /// Maps a write error: on stdout it is an output error (a closed pipe is quiet).
    fn error(&self, source: std::io::Error) -> CliError {
        match self {
            Sink::Stdout(_) => CliError::Output(source),
            Sink::File { path, .. } => CliError::Write {
                path: path.clone(),
                source,
            },
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::File { file, .. } => file.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::File { file, .. } => file.flush(),
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            what: "a thread pool for the query".into(),
            source,
        })
}

pub fn cmd_query(ctx: &Context, args: QueryArgs) -> Result<(), CliError> {
    let format = if args.json {
        QueryFormat::Jsonl
    } else {
        args.format
    };
    if format == QueryFormat::Parquet
        && args.output.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return Err(CliError::Usage {
            message: "Parquet output is binary; refusing to write it to a terminal".into(),
            hint: Some("pass -o FILE, or pipe the output".into()),
        });
    }
    let repo = ctx.repo()?;
    let runtime = runtime()?;
    let mut sink = Sink::open(ctx, args.output.as_deref(), format == QueryFormat::Table)?;
    runtime.block_on(async {
        let frame = query::sql(&repo, &args.sql).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let mut stream = frame.execute_stream().await.map_err(QueryError::from)?;
        let mut writer = BatchWriter::new(format, schema, &sink)?;
        while let Some(batch) = stream.next().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    // The plan's other partitions may share the error: drop them first,
                    // so it comes out whole (a missing leaf keeps its own hint).
                    drop(stream);
                    return Err(QueryError::from(err).into());
                }
            };
            writer
                .write(&batch, &mut sink)
                .map_err(|err| sink.error(err))?;
        }
        writer.finish(&mut sink).map_err(|err| sink.error(err))?;
        Ok::<(), CliError>(())
    })?;
    sink.finish()
}

/// Writes query results in one format, streaming except for the table (whose column
/// widths need every row).
enum BatchWriter {
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Jsonl,
    /// The header line, until the first write.
    Csv(Option<Vec<u8>>),
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

const FORMAT: FormatOptions<'static> = FormatOptions::new().with_null("");

fn cells(batch: &RecordBatch) -> std::io::Result<Vec<Vec<String>>> {
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &FORMAT))
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|formatter| formatter.value(row).to_string())
                .collect()
        })
        .collect())
}

impl BatchWriter {
    fn new(format: QueryFormat, schema: SchemaRef, sink: &Sink) -> Result<BatchWriter, CliError> {
        let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        Ok(match format {
            QueryFormat::Table => BatchWriter::Table {
                header,
                rows: Vec::new(),
            },
            QueryFormat::Jsonl => BatchWriter::Jsonl,
            QueryFormat::Csv => {
                let line: Vec<String> = header.iter().map(|name| output::csv_field(name)).collect();
                let mut first = Vec::new();
                writeln!(first, "{}", line.join(",")).expect("writing to memory");
                BatchWriter::Csv(Some(first))
            }
            QueryFormat::Parquet => {
                let properties = parquet_properties(&schema);
                let writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties))
                    .map_err(|err| sink.error(std::io::Error::other(err)))?;
                BatchWriter::Parquet(Box::new(writer))
            }
        })
    }

    fn write(&mut self, batch: &RecordBatch, out: &mut Sink) -> std::io::Result<()> {
        match self {
            BatchWriter::Table { rows, .. } => rows.extend(cells(batch)?),
            BatchWriter::Jsonl => {
                let mut writer =
                    crate::query::json_writer()
                        .build::<_, datafusion::arrow::json::writer::LineDelimited>(&mut *out);
                writer.write(batch).map_err(std::io::Error::other)?;
                writer.finish().map_err(std::io::Error::other)?;
            }
            BatchWriter::Csv(header) => {
                if let Some(header) = header.take() {
                    out.write_all(&header)?;
                }
                for row in cells(batch)? {
                    let line: Vec<String> =
                        row.iter().map(|cell| output::csv_field(cell)).collect();
                    writeln!(out, "{}", line.join(","))?;
                }
            }
            BatchWriter::Parquet(writer) => {
                writer.write(batch).map_err(std::io::Error::other)?;
                // Move finished bytes out so memory stays at about one row group.
                let buffered = std::mem::take(writer.inner_mut());
                out.write_all(&buffered)?;
            }
        }
        Ok(())
    }

    fn finish(self, out: &mut Sink) -> std::io::Result<()> {
        match self {
            BatchWriter::Table { header, rows } => {
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                output::print_table(out, &header, &rows)
            }
            BatchWriter::Jsonl => Ok(()),
            BatchWriter::Csv(header) => match header {
                Some(header) => out.write_all(&header),
                None => Ok(()),
            },
            BatchWriter::Parquet(writer) => {
                let bytes = writer.into_inner().map_err(std::io::Error::other)?;
                out.write_all(&bytes)
            }
        }
    }
}

fn parquet_properties(schema: &datafusion::arrow::datatypes::Schema) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("3 is a valid zstd level"),
        ))
        .set_created_by("pail".to_string())
        // Memory linear in a wide schema's columns, as for leaves.
        .set_dictionary_enabled(crate::rows::leaf::dictionary_for(schema))
        .build()
}

pub fn cmd_export(ctx: &Context, args: ExportArgs) -> Result<(), CliError> {
    let format = match args.format {
        Some(format) => format,
        None => {
            let extension = args
                .output
                .extension()
                .and_then(|ext| ext.to_str())
                .unwrap_or_default()
                .to_ascii_lowercase();
            match extension.as_str() {
                "parquet" | "pq" => ExportFormat::Parquet,
                "jsonl" | "ndjson" => ExportFormat::Jsonl,
                "csv" => ExportFormat::Csv,
                _ => {
                    return Err(CliError::Usage {
                        message: format!(
                            "cannot tell the format of {} from its extension",
                            args.output.display()
                        ),
                        hint: Some("pass --format parquet, jsonl or csv".into()),
                    });
                }
            }
        }
    };
    let repo = ctx.repo()?;
    let found = repo.resolve(&repo.parse_ref(&args.target)?)?;
    let schema = repo.schema(&found.commit.schema)?;
    let mut sink = Sink::open(ctx, Some(&args.output), false)?;
    match format {
        ExportFormat::Parquet => {
            if sink.is_stdout() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                return Err(CliError::Usage {
                    message: "Parquet output is binary; refusing to write it to a terminal".into(),
                    hint: Some("pass -o FILE, or pipe the output".into()),
                });
            }
            let arrow = schema.to_arrow();
            let properties = parquet_properties(&arrow);
            let mut writer = ArrowWriter::try_new(Vec::new(), Arc::new(arrow), Some(properties))
                .map_err(|err| sink.error(std::io::Error::other(err)))?;
            let mut write_error = None;
            repo.for_each_batch(&found.commit, |batch| {
                let result = writer
                    .write(&batch)
                    .map_err(std::io::Error::other)
                    .and_then(|()| {
                        let buffered = std::mem::take(writer.inner_mut());
                        sink.write_all(&buffered)
                    });
                match result {
                    Ok(()) => Ok(true),
                    Err(err) => {
                        write_error = Some(err);
                        Ok(false)
                    }
                }
            })?;
            if let Some(err) = write_error {
                return Err(sink.error(err));
            }
            let bytes = writer
                .into_inner()
                .map_err(|err| sink.error(std::io::Error::other(err)))?;
            sink.write_all(&bytes).map_err(|err| sink.error(err))?;
        }
        ExportFormat::Jsonl | ExportFormat::Csv => {
            let rows_format = if format == ExportFormat::Jsonl {
                RowsFormat::Jsonl
            } else {
                RowsFormat::Csv
            };
            print_rows(&repo, &found.commit, &schema, rows_format, None, &mut sink).map_err(
                |err| match err {
                    CliError::Output(io) => sink.error(io),
                    other => other,
                },
            )?;
        }
    }
    sink.finish()
}
