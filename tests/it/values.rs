//! Values come back exactly as they went in (issue 11, items 1-5): floats bit for bit,
//! bytes in their declared encoding, ints out of range named, nesting within one limit
//! shared by the writer and every reader, and wide records.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Pail, fixture};
use serde_json::{Value, json};

/// Deterministic f64 bit patterns: the edge cases and xorshift noise over all exponents.
fn float_cases() -> Vec<f64> {
    let mut cases = vec![
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0,
        0.1,
        0.30000000000000004,
        52.046970272007556,
        1e300,
        1e-300,
        123456789012345680.0,
        9007199254740993.0,
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    while cases.len() < 400 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let float = f64::from_bits(state);
        if float.is_finite() {
            cases.push(float);
        }
    }
    cases
}

fn python(script: &str, args: &[&str]) -> String {
    // tests/run's Python venv has pydantic (the MCP client depends on it); by hand, the
    // machine's python3.
    let interpreter =
        std::env::var("PAIL_TEST_MCP_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = Command::new(interpreter)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `{i: hex bits}` of the floats Python's `json` reads from the `x` field of each line.
const PY_READ_FLOATS: &str = r#"
import json, struct, sys
out = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    row = json.loads(line)
    out[str(row["i"])] = struct.pack(">d", float(row["x"])).hex()
print(json.dumps(out))
"#;

fn bits_hex(float: f64) -> String {
    format!("{:016x}", float.to_bits())
}

#[test]
fn every_finite_float_round_trips_bit_exactly_through_commit_and_every_reader() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let cases = float_cases();
    // Written by Python's json (repr: shortest round-trip), as a Python producer would.
    let bits: Vec<String> = cases.iter().map(|float| bits_hex(*float)).collect();
    let records = python(
        r#"
import json, struct, sys
for i, h in enumerate(sys.argv[1:]):
    print(json.dumps({"i": i, "x": struct.unpack(">d", bytes.fromhex(h))[0]}))
"#,
        &bits.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    std::fs::write(pail.work.join("f.jsonl"), &records).unwrap();
    pail.ok(&["commit", "fl", "--from", "f.jsonl", "--key", "i"]);

    let expected: serde_json::Map<String, Value> = bits
        .iter()
        .enumerate()
        .map(|(idx, hex)| (idx.to_string(), Value::from(hex.clone())))
        .collect();
    let expected = Value::Object(expected);
    let python_reads = |path: &Path| -> Value {
        serde_json::from_str(&python(PY_READ_FLOATS, &[path.to_str().unwrap()])).unwrap()
    };

    // rows --json, read by Python's json.
    let rows = pail.ok(&["rows", "fl", "--json"]).stdout;
    std::fs::write(pail.work.join("rows.jsonl"), &rows).unwrap();
    assert_eq!(
        python_reads(&pail.work.join("rows.jsonl")),
        expected,
        "rows --json"
    );

    // export: JSON lines and CSV.
    pail.ok(&["export", "fl", "-o", "out.jsonl"]);
    assert_eq!(
        python_reads(&pail.work.join("out.jsonl")),
        expected,
        "export jsonl"
    );
    pail.ok(&["export", "fl", "-o", "out.csv"]);
    let csv_as_json = python(
        r#"
import csv, json, struct, sys
out = {r["i"]: struct.pack(">d", float(r["x"])).hex() for r in csv.DictReader(open(sys.argv[1]))}
print(json.dumps(out))
"#,
        &[pail.work.join("out.csv").to_str().unwrap()],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&csv_as_json).unwrap(),
        expected,
        "export csv"
    );

    // export: Parquet, read with the parquet crate.
    pail.ok(&["export", "fl", "-o", "out.parquet"]);
    let parquet_bits = read_parquet_floats(&pail.work.join("out.parquet"));
    assert_eq!(parquet_bits, bits, "export parquet");

    // query, JSON lines; and a filter on an exact value finds its row.
    let queried = pail
        .ok(&["query", "SELECT i, x FROM fl ORDER BY i", "--json"])
        .stdout;
    std::fs::write(pail.work.join("query.jsonl"), &queried).unwrap();
    assert_eq!(
        python_reads(&pail.work.join("query.jsonl")),
        expected,
        "query"
    );
    let hit = pail
        .ok(&[
            "query",
            "SELECT i FROM fl WHERE x = 52.046970272007556",
            "--json",
        ])
        .stdout;
    assert_eq!(hit.trim(), r#"{"i":13}"#);

    // The summary's min and max are the extreme values, bit for bit; read by Python's json,
    // which parses decimals exactly (serde_json's parser, as pail builds it, rounds some).
    let summary = pail.ok(&["summary", "fl", "--json"]).stdout;
    std::fs::write(pail.work.join("summary.json"), &summary).unwrap();
    let extremes = python(
        r#"
import json, struct, sys
column = next(c for c in json.load(open(sys.argv[1]))["columns"] if c["column"] == "x")
print(json.dumps([struct.pack(">d", float(column[m])).hex() for m in ("min", "max")]))
"#,
        &[pail.work.join("summary.json").to_str().unwrap()],
    );
    let min = cases.iter().copied().min_by(f64::total_cmp).unwrap();
    let max = cases.iter().copied().max_by(f64::total_cmp).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&extremes).unwrap(),
        serde_json::json!([bits_hex(min), bits_hex(max)])
    );
}

/// NaN and ±inf as Python's `json` and Pydantic's `ser_json_inf_nan='constants'` write
/// them (bare tokens), and as `'strings'` writes them: kept as those floats, read back as
/// the strings by `rows --json` and export JSON lines, as the words by CSV, exactly by
/// Parquet; the summary's min and max are of the finite values.
#[test]
fn nan_and_infinities_are_kept_through_commit_and_every_reader() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let records = python(
        r#"
import json
floats = [float("nan"), float("inf"), -float("inf"), -2.5, 0.25]
for i, x in enumerate(floats):
    print(json.dumps({"i": i, "x": x, "xs": [x, 1.0]}))
print(json.dumps({"i": 5, "x": "Infinity", "xs": ["NaN", "-Infinity"]}))
"#,
        &[],
    );
    assert!(records.contains("NaN") && records.contains("-Infinity"));
    std::fs::write(pail.work.join("f.jsonl"), &records).unwrap();
    // Inferred as floats (the bare tokens), then declared.
    pail.ok(&["commit", "inferred", "--from", "f.jsonl", "--key", "i"]);
    assert_eq!(
        pail.ok(&["schema", "inferred"]).stdout,
        "i: int\nx: float\nxs: list<float>\n"
    );
    let schema = r#"{"type": "object", "required": ["i", "x", "xs"], "properties": {
        "i": {"type": "integer"}, "x": {"type": "number"},
        "xs": {"type": "array", "items": {"type": "number"}}}}"#;
    std::fs::write(pail.work.join("s.json"), schema).unwrap();
    pail.ok(&[
        "commit", "fl", "--from", "f.jsonl", "--schema", "s.json", "--key", "i",
    ]);

    let wanted = ["NaN", "Infinity", "-Infinity", "-2.5", "0.25", "Infinity"];
    let wanted_bits: Vec<String> = wanted
        .iter()
        .map(|text| bits_hex(text.to_lowercase().parse::<f64>().unwrap()))
        .collect();
    let expected = Value::Object(
        wanted_bits
            .iter()
            .enumerate()
            .map(|(idx, hex)| (idx.to_string(), Value::from(hex.clone())))
            .collect(),
    );
    let python_reads = |path: &Path| -> Value {
        serde_json::from_str(&python(PY_READ_FLOATS, &[path.to_str().unwrap()])).unwrap()
    };
    let rows = pail.ok(&["rows", "fl", "--json"]).stdout;
    assert_eq!(
        rows.lines().next().unwrap(),
        r#"{"i":0,"x":"NaN","xs":["NaN",1.0]}"#
    );
    assert!(rows.contains(r#"{"i":5,"x":"Infinity","xs":["NaN","-Infinity"]}"#));
    std::fs::write(pail.work.join("rows.jsonl"), &rows).unwrap();
    assert_eq!(
        python_reads(&pail.work.join("rows.jsonl")),
        expected,
        "rows"
    );
    // The rows commit again to the same version: nothing changed.
    pail.ok(&[
        "commit",
        "fl",
        "--from",
        "rows.jsonl",
        "--schema",
        "s.json",
        "--key",
        "i",
    ]);
    assert_eq!(
        pail.ok(&["log", "fl"])
            .stdout
            .lines()
            .filter(|l| l.contains("fl@"))
            .count(),
        1,
        "{}",
        pail.ok(&["log", "fl"]).stdout
    );

    // A diff sees NaN equal to itself: only the changed infinity is a change.
    std::fs::write(
        pail.work.join("changed.jsonl"),
        rows.replacen(
            r#""x":"Infinity","xs":["Infinity""#,
            r#""x":"-Infinity","xs":["Infinity""#,
            1,
        ),
    )
    .unwrap();
    pail.ok(&[
        "commit",
        "changed",
        "--from",
        "rows.jsonl",
        "--schema",
        "s.json",
        "--key",
        "i",
    ]);
    pail.ok(&[
        "commit",
        "changed",
        "--from",
        "changed.jsonl",
        "--schema",
        "s.json",
        "--key",
        "i",
    ]);
    let diff = pail.json(&["diff", "changed@1.0.0", "changed@1.0.1", "--json"]);
    assert_eq!(
        (diff["modified"].clone(), diff["added"].clone()),
        (json!(1), json!(0)),
        "{diff}"
    );
    assert_eq!(diff["rows"][0]["new"]["x"], "-Infinity", "{diff}");

    pail.ok(&["export", "fl", "-o", "out.jsonl"]);
    assert_eq!(
        python_reads(&pail.work.join("out.jsonl")),
        expected,
        "jsonl"
    );
    pail.ok(&["export", "fl", "-o", "out.csv"]);
    let csv = std::fs::read_to_string(pail.work.join("out.csv")).unwrap();
    assert!(
        csv.contains("\n0,NaN,") && csv.contains("\n2,-Infinity,"),
        "{csv}"
    );
    pail.ok(&["export", "fl", "-o", "out.parquet"]);
    assert_eq!(
        read_parquet_floats(&pail.work.join("out.parquet")),
        wanted_bits,
        "parquet"
    );

    // SQL sees the floats.
    let hit = pail
        .ok(&[
            "query",
            "SELECT count(*) AS n FROM fl WHERE isnan(x) OR x = 'Infinity'::double",
            "--json",
        ])
        .stdout;
    assert_eq!(hit.trim(), r#"{"n":3}"#);
    // Query answers write them as `rows --json` does, not as null.
    let answer = pail
        .ok(&["query", "SELECT i, x FROM fl ORDER BY i", "--json"])
        .stdout;
    assert_eq!(
        answer.lines().collect::<Vec<_>>(),
        [
            r#"{"i":0,"x":"NaN"}"#,
            r#"{"i":1,"x":"Infinity"}"#,
            r#"{"i":2,"x":"-Infinity"}"#,
            r#"{"i":3,"x":-2.5}"#,
            r#"{"i":4,"x":0.25}"#,
            r#"{"i":5,"x":"Infinity"}"#,
        ]
    );

    let summary: Value =
        serde_json::from_str(&pail.ok(&["summary", "fl", "--json"]).stdout).unwrap();
    let column = summary["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|column| column["column"] == "x")
        .unwrap();
    assert_eq!(
        (&column["min"], &column["max"]),
        (&Value::from(-2.5), &Value::from(0.25))
    );
    assert_eq!(column["distinct"], 5);
}

fn read_parquet_floats(path: &Path) -> Vec<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap());
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let x = batch.column_by_name("x").unwrap();
        for float in x.as_primitive::<Float64Type>().values() {
            out.push(bits_hex(*float));
        }
    }
    out
}

/// Pydantic reads the rows back into the model that wrote them, floats included.
#[test]
fn pydantic_reads_rows_json_back_exactly() {
    if python(
        "import importlib.util; print(importlib.util.find_spec('pydantic') is not None)",
        &[],
    )
    .trim()
        != "True"
    {
        panic!("pydantic is not installed: run the suite through tests/run");
    }
    let pail = Pail::new();
    pail.ok(&["init"]);
    let script = r#"
import json, sys
from pydantic import BaseModel, ConfigDict
class Row(BaseModel):
    i: int
    x: float
    text: bytes
class Row64(BaseModel):
    model_config = ConfigDict(ser_json_bytes='base64', val_json_bytes='base64')
    i: int
    raw: bytes
mode = sys.argv[1]
if mode == "write":
    xs = [52.046970272007556, 5e-324, -0.0, 1.7976931348623157e308, 0.1]
    with open("r.jsonl", "w") as f:
        for i, x in enumerate(xs):
            f.write(Row(i=i, x=x, text=f"img{i}".encode()).model_dump_json() + "\n")
    with open("r64.jsonl", "w") as f:
        for i in range(3):
            f.write(Row64(i=i, raw=bytes([251, 255, i])).model_dump_json() + "\n")
    json.dump(Row.model_json_schema(), open("r.schema.json", "w"))
    json.dump(Row64.model_json_schema(), open("r64.schema.json", "w"))
else:
    model = Row if mode == "read" else Row64
    source = "r.jsonl" if mode == "read" else "r64.jsonl"
    want = [model.model_validate_json(l) for l in open(source) if l.strip()]
    got = [model.model_validate_json(l) for l in sys.stdin if l.strip()]
    got.sort(key=lambda r: r.i)
    assert want == got, (want, got)
    if mode == "read":
        import struct
        assert [struct.pack(">d", r.x) for r in want] == [struct.pack(">d", r.x) for r in got]
    print("ok")
"#;
    let run_py = |mode: &str, stdin: &str| {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(mode)
            .current_dir(&pail.work)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run_py("write", "");
    pail.ok(&[
        "commit",
        "r",
        "--from",
        "r.jsonl",
        "--schema",
        "r.schema.json",
        "--key",
        "i",
    ]);
    pail.ok(&[
        "commit",
        "r64",
        "--from",
        "r64.jsonl",
        "--schema",
        "r64.schema.json",
        "--key",
        "i",
    ]);
    let rows = pail.ok(&["rows", "r", "--json"]).stdout;
    assert!(rows.contains(r#""text":"img0""#), "{rows}");
    run_py("read", &rows);
    let exported = pail
        .ok(&["export", "r", "--format", "jsonl", "-o", "-"])
        .stdout;
    run_py("read", &exported);
    let rows64 = pail.ok(&["rows", "r64", "--json"]).stdout;
    assert!(rows64.contains(r#""raw":"-_8A""#), "{rows64}");
    run_py("read64", &rows64);
}

fn schema_file(pail: &Pail, name: &str, properties: Value) -> String {
    let required: Vec<String> = properties.as_object().unwrap().keys().cloned().collect();
    let doc =
        json!({"title": "R", "type": "object", "properties": properties, "required": required});
    std::fs::write(pail.work.join(name), doc.to_string()).unwrap();
    name.to_string()
}

#[test]
fn bytes_follow_the_declared_encoding_in_and_out() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let schema = schema_file(
        &pail,
        "b.schema.json",
        json!({
            "i": {"type": "integer"},
            "text": {"type": "string", "format": "binary"},
            "url": {"type": "string", "format": "base64url"},
            "std": {"type": "string", "contentEncoding": "base64"}
        }),
    );
    std::fs::write(
        pail.work.join("b.jsonl"),
        "{\"i\": 1, \"text\": \"img0\", \"url\": \"-_8A\", \"std\": \"+/8A\"}\n\
         {\"i\": 2, \"text\": \"h\u{e9}llo \\u0000\", \"url\": \"aW1nMA\", \"std\": \"\"}\n",
    )
    .unwrap();
    pail.ok(&[
        "commit", "b", "--from", "b.jsonl", "--schema", &schema, "--key", "i",
    ]);

    // The stored bytes are what the declared encoding says, not a base64 reading of text.
    pail.ok(&["export", "b", "-o", "b.parquet"]);
    let bytes = bytes::Bytes::from(std::fs::read(pail.work.join("b.parquet")).unwrap());
    let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    use arrow_array::cast::AsArray;
    let column = |name: &str| -> Vec<Vec<u8>> {
        batch
            .column_by_name(name)
            .unwrap()
            .as_binary::<i32>()
            .iter()
            .map(|v| v.unwrap().to_vec())
            .collect()
    };
    assert_eq!(
        column("text"),
        [b"img0".to_vec(), "h\u{e9}llo \u{0}".as_bytes().to_vec()]
    );
    assert_eq!(column("url"), [vec![251, 255, 0], b"img0".to_vec()]);
    assert_eq!(column("std"), [vec![251, 255, 0], vec![]]);

    // And they come back in the declared encoding: rows --json and export jsonl.
    let expected = [
        json!({"i": 1, "text": "img0", "url": "-_8A", "std": "+/8A"}),
        json!({"i": 2, "text": "h\u{e9}llo \u{0}", "url": "aW1nMA==", "std": ""}),
    ];
    let parse = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    assert_eq!(parse(&pail.ok(&["rows", "b", "--json"]).stdout), expected);
    assert_eq!(
        parse(
            &pail
                .ok(&["export", "b", "--format", "jsonl", "-o", "-"])
                .stdout
        ),
        expected
    );
    let schema_json: Value =
        serde_json::from_str(&pail.ok(&["schema", "b", "--json"]).stdout).unwrap();
    let encodings: Vec<&Value> = schema_json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|field| field.get("encoding"))
        .collect();
    assert_eq!(
        encodings,
        [&json!("base64"), &json!("utf8"), &json!("base64url")]
    );

    // Text that is not in the declared encoding: a line-numbered error, nothing written.
    std::fs::write(
        pail.work.join("bad.jsonl"),
        "{\"i\": 1, \"text\": \"a\", \"url\": \"-_8A\", \"std\": \"\"}\n\
         {\"i\": 2, \"text\": \"a\", \"url\": \"not base64!\", \"std\": \"\"}\n",
    )
    .unwrap();
    let out = pail.run_in(
        &pail.work,
        &["commit", "bad", "--from", "bad.jsonl", "--schema", &schema],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("line 2") && out.stderr.contains("url"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("URL-safe base64"), "{}", out.stderr);
    assert!(!pail.ok(&["ls"]).stdout.contains("bad"));
}

#[test]
fn an_int_beyond_64_bits_is_out_of_range_not_a_float() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let schema = schema_file(&pail, "n.schema.json", json!({"n": {"type": "integer"}}));
    for (name, extra) in [
        ("declared", vec!["--schema", schema.as_str()]),
        ("inferred", vec![]),
    ] {
        for big in [
            "18446744073709551616",
            "9223372036854775808",
            "-9223372036854775809",
        ] {
            std::fs::write(
                pail.work.join("n.jsonl"),
                format!("{{\"n\": 1}}\n{{\"n\": {big}}}\n"),
            )
            .unwrap();
            let mut args = vec!["commit", name, "--from", "n.jsonl"];
            args.extend(extra.iter().copied());
            let out = pail.run_in(&pail.work, &args, None);
            assert_eq!(out.code, 1, "{name} {big}: {}", out.stderr);
            assert!(
                out.stderr.contains("line 2")
                    && out.stderr.contains("out of the int range")
                    && out.stderr.contains("hint: write it as a string"),
                "{name} {big}: {}",
                out.stderr
            );
            assert!(
                !out.stderr.contains("found float"),
                "{name} {big}: {}",
                out.stderr
            );
        }
    }
    // The extremes of i64 are ints.
    std::fs::write(
        pail.work.join("n.jsonl"),
        "{\"n\": 9223372036854775807}\n{\"n\": -9223372036854775808}\n",
    )
    .unwrap();
    pail.ok(&["commit", "n", "--from", "n.jsonl", "--schema", &schema]);
}

/// A record `levels` deep: the record, then objects l2 … l{levels} with a leaf int.
fn nested_record(levels: usize, value: i64) -> String {
    let mut record = json!({"leaf": value});
    for level in (2..=levels).rev() {
        record = json!({ format!("l{level}"): record });
    }
    record.to_string()
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn nesting_at_the_limit_reads_everywhere_and_one_past_is_refused() {
    let max = pail::MAX_NESTING;
    let pail = Pail::new();
    pail.ok(&["init"]);
    std::fs::write(
        pail.work.join("deep.jsonl"),
        format!("{}\n{}\n", nested_record(max, 1), nested_record(max, 2)),
    )
    .unwrap();
    pail.ok(&["commit", "deep", "--from", "deep.jsonl"]);
    std::fs::write(
        pail.work.join("deep.jsonl"),
        format!("{}\n", nested_record(max, 3)),
    )
    .unwrap();
    pail.ok(&["commit", "deep", "--from", "deep.jsonl"]);
    let rows = pail.ok(&["rows", "deep", "--json"]).stdout;
    assert_eq!(rows.trim(), nested_record(max, 3));
    pail.ok(&["rows", "deep"]);
    pail.ok(&["schema", "deep"]);
    pail.ok(&["schema", "deep", "--json"]);
    pail.ok(&["diff", "deep@1.0.0", "deep@1.0.1"]);
    pail.ok(&["diff", "deep@1.0.0", "deep@1.0.1", "--json"]);
    pail.ok(&["query", "SELECT count(*) AS n FROM deep"]);
    pail.ok(&["export", "deep", "-o", "deep.parquet"]);
    pail.ok(&["export", "deep", "-o", "deep.jsonl"]);
    pail.ok(&["summary", "deep"]);

    let remote = pail.work.parent().unwrap().join("remote");
    pail.ok(&["remote", "add", "origin", &file_url(&remote)]);
    pail.ok(&["push"]);
    let clone = pail.work.parent().unwrap().join("clone");
    pail.ok(&["clone", &file_url(&remote), clone.to_str().unwrap()]);
    let out = pail.run_in(&clone, &["rows", "deep", "--json"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), nested_record(max, 3));

    // One level more: refused at commit, with the line and the field path; nothing written.
    std::fs::write(
        pail.work.join("deeper.jsonl"),
        format!("{}\n{}\n", nested_record(2, 1), nested_record(max + 1, 1)),
    )
    .unwrap();
    let out = pail.run_in(
        &pail.work,
        &["commit", "deeper", "--from", "deeper.jsonl"],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let path: Vec<String> = (2..=max + 1).map(|level| format!("l{level}")).collect();
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    assert!(out.stderr.contains(&path.join(".")), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("limit of {max}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(!pail.ok(&["ls"]).stdout.contains("deeper"));

    // The same depth declared in a JSON Schema (a chain of `$defs`, as Pydantic writes
    // nested models) is refused too, naming the field.
    let mut defs = serde_json::Map::new();
    for level in 2..=max + 1 {
        let next = if level == max + 1 {
            json!({"type": "integer"})
        } else {
            json!({"$ref": format!("#/$defs/M{}", level + 1)})
        };
        defs.insert(
            format!("M{level}"),
            json!({"type": "object", "required": ["x"], "properties": {"x": next}}),
        );
    }
    let doc = json!({"$defs": defs, "type": "object", "required": ["m"],
                     "properties": {"m": {"$ref": "#/$defs/M2"}}});
    std::fs::write(pail.work.join("deep.schema.json"), doc.to_string()).unwrap();
    let out = pail.run_in(
        &pail.work,
        &[
            "commit",
            "deeper",
            "--from",
            "deeper.jsonl",
            "--schema",
            "deep.schema.json",
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("limit of {max}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("field `m.x.x.x"), "{}", out.stderr);
    assert!(!pail.ok(&["ls"]).stdout.contains("deeper"));
}

/// A remote that format 1's pail wrote, holding a record 21 levels deep that format 1 could
/// not read back: the fixed pail clones it and reads every dataset.
#[test]
fn a_remote_written_by_format_1_with_a_deep_record_clones_and_reads() {
    let pail = Pail::new();
    let remote = pail.work.parent().unwrap().join("remote");
    copy_dir(&fixture("format/v1/remote"), &remote);
    let clone = pail.work.parent().unwrap().join("clone");
    pail.ok(&["clone", &file_url(&remote), clone.to_str().unwrap()]);
    let run = |args: &[&str]| {
        let out = pail.run_in(&clone, args, None);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        out.stdout
    };
    let deep = run(&["rows", "deep", "--json"]);
    let mut value: Value = serde_json::from_str(deep.trim()).unwrap();
    for level in 1..=21 {
        value = value[format!("l{level}")].take();
    }
    assert_eq!(value, json!({"leaf": 1}));
    run(&["schema", "deep"]);
    run(&["query", "SELECT count(*) AS n FROM deep"]);
    // Format-1 bytes (declared `format: binary`, read then as base64) print as they did.
    let clips = run(&["rows", "clips", "--json"]);
    assert!(clips.contains(r#""blob":"aW1nMA==""#), "{clips}");
    run(&["rows", "photos", "--json"]);
    run(&["diff", "kv@1.0.0", "kv@1.0.1"]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Not timed: a record with many keys commits and reads back whole. The figures are in
/// bench/ (`wide` case) and docs/BENCHMARKS.md.
#[test]
fn a_wide_record_commits_and_reads_back() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let record: serde_json::Map<String, Value> = (0..5000)
        .map(|idx| (format!("k{idx:05}"), Value::from(idx)))
        .collect();
    let line = Value::Object(record).to_string();
    std::fs::write(pail.work.join("wide.jsonl"), format!("{line}\n")).unwrap();
    pail.ok(&["commit", "wide", "--from", "wide.jsonl"]);
    pail.ok(&["commit", "wide", "--from", "wide.jsonl"]);
    assert_eq!(pail.ok(&["rows", "wide", "--json"]).stdout.trim(), line);
}

/// Keyless rows are keyed by the canonical hash of their exact values: two floats one ULP
/// apart are two rows (format 1 read both as one value and refused a duplicate), and the
/// order keys are written in does not matter.
#[test]
fn keyless_rows_hash_exact_values_whatever_the_key_order() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    std::fs::write(
        pail.work.join("k.jsonl"),
        "{\"x\": 52.046970272007556, \"y\": \"a\"}\n{\"x\": 52.04697027200755, \"y\": \"a\"}\n",
    )
    .unwrap();
    let first = pail.json(&["commit", "k", "--from", "k.jsonl", "--json"]);
    assert_eq!(pail.ok(&["rows", "k", "--json"]).stdout.lines().count(), 2);
    std::fs::write(
        pail.work.join("k.jsonl"),
        "{\"y\": \"a\", \"x\": 52.04697027200755}\n{\"y\": \"a\", \"x\": 52.046970272007556}\n",
    )
    .unwrap();
    // Same rows in another key order: the same row keys, so nothing new to save.
    let second = pail.json(&["commit", "k", "--from", "k.jsonl", "--json"]);
    assert_eq!(second["status"], "unchanged", "{second}");
    assert_eq!(second["id"], first["id"]);
}
