//! `pail map` end to end: real worker processes, checkpoints that survive SIGKILL, the
//! result cache, delta updates and bad worker output.

use crate::common;

use common::{Pail, write_file};
use serde_json::Value;

const WORKER: &str = r#"
import json, os, sys, time
delay = float(os.environ.get("DELAY", "0"))
for line in sys.stdin:
    row = json.loads(line)
    time.sleep(delay)
    n = row["n"]
    if n == int(os.environ.get("CRASH_AT", "-1")):
        sys.exit(3)
    if n == int(os.environ.get("GARBAGE_AT", "-1")):
        print("not json", flush=True)
        continue
    out = {"square": n * n, "echo": row["name"]}
    if "local_path" in row:
        out["content"] = open(row["local_path"]).read()
    print(json.dumps(out), flush=True)
"#;

fn records(n: usize) -> String {
    (0..n)
        .map(|idx| format!("{{\"n\": {idx}, \"name\": \"row{idx}\"}}\n"))
        .collect()
}

/// `pail map nums --run "python3 work.py" --to TO` followed by `extra`.
fn map_nums<'a>(to: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["map", "nums", "--run", "python3 work.py", "--to", to];
    args.extend_from_slice(extra);
    args
}

fn setup(n: usize) -> Pail {
    let pail = Pail::new();
    pail.ok(&["init"]);
    write_file(&pail.work.join("work.py"), WORKER.as_bytes());
    pail.ok_stdin(
        &["commit", "nums", "--from", "-", "--key", "n"],
        &records(n),
    );
    pail
}

fn output_rows(pail: &Pail, name: &str) -> Vec<Value> {
    let out = pail.ok(&["rows", name, "--json"]).stdout;
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn results_merge_in_order_and_come_from_cache_the_second_time() {
    let pail = setup(200);
    let first = pail.json(&map_nums("squares", &["--jobs", "4", "--json"]));
    assert_eq!(first["ran"], 200);
    assert_eq!(first["cached"], 0);
    let rows = output_rows(&pail, "squares");
    assert_eq!(rows.len(), 200);
    for row in &rows {
        let n = row["n"].as_i64().unwrap();
        assert_eq!(row["square"], n * n, "{row}");
        assert_eq!(
            row["echo"],
            format!("row{n}"),
            "each result belongs to its row"
        );
    }
    let schema = pail.ok(&["schema", "squares"]).stdout;
    assert!(schema.contains("square: int"), "{schema}");
    let shown = pail.json(&["show", "squares", "--json"]);
    let input = pail.json(&["show", "nums", "--json"]);
    assert_eq!(shown["inputs"][0]["commit"], input["id"]);

    let second = pail.json(&map_nums("squares", &["--json"]));
    assert_eq!(second["ran"], 0);
    assert_eq!(second["cached"], 200);
    assert_eq!(second["status"], "unchanged");
    let forced = pail.json(&map_nums("squares", &["--no-cache", "--json"]));
    assert_eq!(forced["ran"], 200);

    // Editing the script the command names invalidates its cached results.
    write_file(
        &pail.work.join("work.py"),
        format!("{WORKER}\n# edited\n").as_bytes(),
    );
    let edited = pail.json(&map_nums("squares", &["--json"]));
    assert_eq!(edited["ran"], 200);
}

#[test]
fn a_killed_run_resumes_and_ends_identical_to_an_uninterrupted_one() {
    let pail = setup(150);
    let mut child = pail
        .command(&map_nums("out", &["--jobs", "2"]))
        .env("DELAY", "0.02")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some results are persisted, then SIGKILL.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let jobs = pail.json(&["jobs", "--json"]);
        if jobs.as_array().is_some_and(|jobs| {
            jobs.iter()
                .any(|job| job["done"].as_u64().unwrap_or(0) >= 40)
        }) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no progress");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let jobs = pail.json(&["jobs", "--json"]);
    assert_eq!(
        jobs.as_array().unwrap().len(),
        1,
        "the unfinished run is listed"
    );
    let done_before = jobs[0]["done"].as_u64().unwrap();
    assert!(done_before < 150);

    let resumed = pail.json(&map_nums("out", &["--jobs", "2", "--no-cache", "--json"]));
    // --no-cache changes nothing about the run's identity: it resumes the same job.
    assert!(
        resumed["resumed"].as_u64().unwrap() >= done_before,
        "{resumed}"
    );
    assert_eq!(
        resumed["ran"].as_u64().unwrap() + resumed["resumed"].as_u64().unwrap(),
        150,
        "{resumed}"
    );
    assert_eq!(
        pail.json(&["jobs", "--json"]),
        serde_json::json!([]),
        "a finished run is gone"
    );

    // The same map, uninterrupted, in another repository with the same input.
    let other = setup(150);
    other.ok(&map_nums("out", &["--jobs", "3"]));
    let ours = pail.json(&["show", "out", "--json"]);
    let theirs = other.json(&["show", "out", "--json"]);
    assert_eq!(ours["rows"], theirs["rows"], "identical rows");
    assert_eq!(ours["schema"], theirs["schema"]);
}

#[test]
fn bad_worker_output_fails_only_its_rows() {
    let pail = setup(50);
    let out = pail.run_env(
        &map_nums("out", &["--jobs", "2"]),
        &[("CRASH_AT", "7"), ("GARBAGE_AT", "20")],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("2 row(s) failed"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let out = pail.run_env(
        &map_nums("out", &["--jobs", "2", "--max-errors", "2", "--json"]),
        &[("CRASH_AT", "7"), ("GARBAGE_AT", "20")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(result["failed"], 2);
    // The 48 good rows were persisted by the first attempt: only the failed two re-ran.
    assert_eq!(result["resumed"], 48, "{result}");
    let rows = output_rows(&pail, "out");
    assert_eq!(rows.len(), 48);
    assert!(!rows.iter().any(|row| row["n"] == 7 || row["n"] == 20));
}

#[test]
fn delta_runs_only_new_and_changed_rows_and_drops_deleted_ones() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    for idx in 0..20 {
        write_file(
            &photos.join(format!("p{idx:02}.txt")),
            format!("photo {idx}").as_bytes(),
        );
    }
    pail.ok(&["commit", "photos", "photos"]);
    let script = "import json,sys\nfor l in sys.stdin:\n    r=json.loads(l)\n    print(json.dumps({'chars': len(open(r['local_path']).read())}), flush=True)\n";
    write_file(&pail.work.join("count.py"), script.as_bytes());
    let first = pail.json(&[
        "map",
        "photos",
        "--run",
        "python3 count.py",
        "--to",
        "counts",
        "--fetch",
        "--json",
    ]);
    assert_eq!(first["ran"], 20);
    let rows = output_rows(&pail, "counts");
    assert_eq!(rows[0]["chars"], "photo 0".len());

    write_file(&photos.join("p99.txt"), b"a new photo");
    write_file(&photos.join("p01.txt"), b"changed photo 1!");
    std::fs::remove_file(photos.join("p02.txt")).unwrap();
    pail.ok(&["commit", "photos", "photos"]);
    let delta = pail.json(&[
        "map",
        "photos",
        "--run",
        "python3 count.py",
        "--to",
        "counts",
        "--fetch",
        "--delta",
        "--no-cache",
        "--json",
    ]);
    assert_eq!(delta["ran"], 2, "{delta}");
    assert_eq!(delta["carried"], 18, "{delta}");
    assert_eq!(delta["removed"], 1, "{delta}");
    let rows = output_rows(&pail, "counts");
    assert_eq!(rows.len(), 20);
    assert!(!rows.iter().any(|row| row["file"]["path"] == "p02.txt"));
    let changed = rows
        .iter()
        .find(|row| row["file"]["path"] == "p01.txt")
        .unwrap();
    assert_eq!(changed["chars"], "changed photo 1!".len());
    let shown = pail.json(&["show", "counts", "--json"]);
    assert_eq!(
        shown["inputs"].as_array().unwrap().len(),
        2,
        "lineage names both input versions"
    );
}

#[test]
fn replace_with_a_schema_and_restart() {
    let pail = setup(10);
    write_file(
        &pail.work.join("result.schema.json"),
        br#"{"type": "object", "properties": {"square": {"type": "integer"}, "echo": {"type": "string"}}, "required": ["square", "echo"]}"#,
    );
    let out = pail.json(&map_nums(
        "only",
        &["--replace", "--schema", "result.schema.json", "--json"],
    ));
    assert_eq!(out["ran"], 10);
    let rows = output_rows(&pail, "only");
    assert!(
        rows.iter()
            .all(|row| row.get("n").is_none() && row.get("square").is_some())
    );
    let out = pail.fails(1, &map_nums("only", &["--replace", "--delta"]));
    assert!(
        out.stderr.contains("--delta needs merged results"),
        "{}",
        out.stderr
    );
    let out = pail.fails(1, &["jobs", "--discard", "ffffffff"]);
    assert!(out.stderr.contains("no unfinished run"), "{}", out.stderr);
}

#[test]
fn a_workers_decimal_numbers_are_stored_exactly() {
    let pail = setup(3);
    // Numbers as a worker may print them, not as Python's json writes floats: 20
    // significant digits, which no f64 holds.
    write_file(
        &pail.work.join("work.py"),
        br#"
import json, sys
for line in sys.stdin:
    n = json.loads(line)["n"]
    print('{"amount": 12345678901234567.89%d, "ratio": 0.1000000000000000055}' % n, flush=True)
"#,
    );
    write_file(
        &pail.work.join("result.schema.json"),
        br#"{"type": "object", "required": ["amount", "ratio"], "properties": {
            "amount": {"anyOf": [{"type": "number"}, {"type": "string"}]},
            "ratio": {"type": "number"}}}"#,
    );
    pail.ok(&map_nums("priced", &["--schema", "result.schema.json"]));
    let rows = output_rows(&pail, "priced");
    let amounts: Vec<&str> = rows
        .iter()
        .map(|row| row["amount"].as_str().unwrap())
        .collect();
    assert_eq!(
        amounts,
        [
            "12345678901234567.890000000",
            "12345678901234567.891000000",
            "12345678901234567.892000000"
        ]
    );
    // A float column takes the f64 nearest to the text, as from a record.
    assert!(
        rows.iter()
            .all(|row| row["ratio"] == serde_json::json!(0.1))
    );
}

#[test]
fn a_teammates_cache_travels_with_push_and_pull() {
    let alice = setup(30);
    alice.ok(&map_nums("squares", &[]));
    let remote = alice.work.join("remote");
    alice.ok(&["remote", "add", "origin", remote.to_str().unwrap()]);
    let pushed = alice.json(&["push", "--json"]);
    assert_eq!(pushed["cache_uploaded"], 30);

    let bob = Pail::new();
    bob.ok(&["clone", remote.to_str().unwrap(), ".", "--trust-cache"]);
    write_file(&bob.work.join("work.py"), WORKER.as_bytes());
    let out = bob.json(&map_nums("squares2", &["--json"]));
    assert_eq!(out["ran"], 0, "{out}");
    assert_eq!(out["cached"], 0, "{out}");
    assert_eq!(
        out["cached_remote"],
        serde_json::json!({"origin": 30}),
        "{out}"
    );
    // The human report says where the results came from.
    let text = bob.ok(&map_nums("squares3", &[])).stdout;
    assert!(text.contains("30 from origin's cache"), "{text}");
}

/// Overwrites every cache entry on a local-directory remote with `payload`, as anyone who
/// can write to the bucket could; adds a stray key and an entry that is not one.
fn plant_cache(remote: &std::path::Path, payload: &[u8]) -> usize {
    let dir = remote.join("cache");
    let mut planted = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), payload).unwrap();
        planted += 1;
    }
    std::fs::write(dir.join("README"), b"not an entry").unwrap();
    std::fs::write(dir.join("ab".repeat(32)), b"R[not an object]").unwrap();
    planted
}

#[test]
fn a_planted_remote_cache_entry_is_used_only_with_opt_in_and_only_for_result_columns() {
    let alice = setup(5);
    alice.ok(&map_nums("squares", &[]));
    let remote = alice.work.join("remote");
    let url = format!("file://{}", remote.display());
    alice.ok(&["remote", "add", "origin", &url]);
    alice.ok(&["push"]);
    // Result columns only, but forged values.
    assert_eq!(
        plant_cache(&remote, br#"R{"square": 999, "echo": "PWNED"}"#),
        5
    );

    // Without opt-in: a remote's cache is neither downloaded nor used.
    let bob = Pail::new();
    bob.ok(&["clone", &url, "."]);
    write_file(&bob.work.join("work.py"), WORKER.as_bytes());
    let out = bob.json(&map_nums("squares", &["--json"]));
    assert_eq!(out["ran"], 5, "{out}");
    assert_eq!(out["cached_remote"], serde_json::json!({}), "{out}");
    for row in output_rows(&bob, "squares") {
        let n = row["n"].as_i64().unwrap();
        assert_eq!(row["square"], n * n, "{row}");
    }

    // Opted in (on an existing remote): the entries are taken, as result columns merged
    // onto the true input rows; the stray key and the non-entry are skipped.
    let dave = Pail::new();
    dave.ok(&["clone", &url, "."]);
    write_file(&dave.work.join("work.py"), WORKER.as_bytes());
    let listed = dave.json(&["remote", "list", "--json"]);
    assert_eq!(listed[0]["trust_cache"], false);
    dave.ok(&["remote", "set", "origin", "--trust-cache", "true"]);
    assert_eq!(
        dave.json(&["remote", "list", "--json"])[0]["trust_cache"],
        true
    );
    dave.ok(&["pull"]);
    let out = dave.json(&map_nums("trusted", &["--json"]));
    assert_eq!(out["ran"], 0, "{out}");
    assert_eq!(out["cached"], 0, "{out}");
    assert_eq!(
        out["cached_remote"],
        serde_json::json!({"origin": 5}),
        "{out}"
    );
    for (idx, row) in output_rows(&dave, "trusted").iter().enumerate() {
        assert_eq!(row["n"], idx as i64, "{row}");
        assert_eq!(row["name"], format!("row{idx}"), "{row}");
        assert_eq!(row["square"], 999, "{row}");
    }
    // Opting out again stops their use at once (they never became local results).
    dave.ok(&["remote", "set", "origin", "--trust-cache", "false"]);
    let out = dave.json(&map_nums("untrusted", &["--json"]));
    assert_eq!(out["ran"], 5, "{out}");
    assert_eq!(out["cached_remote"], serde_json::json!({}), "{out}");

    // An entry that names an input column would change the row it was keyed by: never
    // used, even from a trusted remote; the row is computed.
    plant_cache(&remote, br#"R{"square": 999, "name": "PWNED"}"#);
    let carol = Pail::new();
    carol.ok(&["clone", &url, ".", "--trust-cache"]);
    write_file(&carol.work.join("work.py"), WORKER.as_bytes());
    let out = carol.json(&map_nums("squares", &["--json"]));
    assert_eq!(out["ran"], 5, "{out}");
    for (idx, row) in output_rows(&carol, "squares").iter().enumerate() {
        assert_eq!(row["name"], format!("row{idx}"), "{row}");
        assert_eq!(row["square"], idx * idx, "{row}");
    }
}

#[test]
fn a_changed_non_file_column_misses_the_cache() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    write_file(
        &pail.work.join("upper.py"),
        b"import json, sys\nfor line in sys.stdin:\n    row = json.loads(line)\n    print(json.dumps({\"upper\": row[\"meta\"][\"label\"].upper()}), flush=True)\n",
    );
    // Rows shaped like a File (source, path, etag) with another column beside them.
    let records = |label: &str| {
        [("a", label), ("b", "owl")]
            .iter()
            .map(|(path, label)| {
                format!(
                    "{{\"source\": \"s3://b\", \"path\": \"{path}\", \"etag\": \"e\", \"meta\": {{\"label\": \"{label}\"}}}}\n"
                )
            })
            .collect::<String>()
    };
    pail.ok_stdin(
        &["commit", "pets", "--from", "-", "--key", "path"],
        &records("cat"),
    );
    let run = [
        "map",
        "pets",
        "--run",
        "python3 upper.py",
        "--to",
        "loud",
        "--json",
    ];
    assert_eq!(pail.json(&run)["ran"], 2);
    pail.ok_stdin(
        &["commit", "pets", "--from", "-", "--key", "path"],
        &records("dog"),
    );
    let out = pail.json(&run);
    assert_eq!(out["ran"], 1, "{out}");
    assert_eq!(out["cached"], 1, "{out}");
    let rows = output_rows(&pail, "loud");
    assert_eq!(rows[0]["meta"]["label"], "dog");
    assert_eq!(rows[0]["upper"], "DOG");
    assert_eq!(rows[1]["upper"], "OWL");
}

#[test]
fn a_run_where_every_row_fails_reports_zero_rows() {
    let pail = setup(4);
    write_file(
        &pail.work.join("bad.sh"),
        b"while read line; do echo nope; done\n",
    );
    let run = [
        "map",
        "nums",
        "--run",
        "sh bad.sh",
        "--to",
        "bad",
        "--max-errors",
        "10",
        "--json",
    ];
    // The first run saves an empty version; the second finds it unchanged. Both say so.
    for _ in 0..2 {
        let out = pail.json(&run);
        assert_eq!(out["failed"], 4, "{out}");
        assert_eq!(out["n_rows"], 0, "{out}");
    }
    let out = pail.ok(&run[..run.len() - 1]).stdout;
    assert!(out.contains("4 failed"), "{out}");
}
