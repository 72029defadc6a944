//! In-process timings for bench/run.sh: the library API, planning included.
//!
//!     query_bench PAIL_DIR DATASET [RUNS]
//!
//! Prints `name best_ms` lines: `filter` (count where file.size > 8192), `group_by`
//! (extension, count, sum of sizes) and `diff` (DATASET@1.0.0 -> DATASET@1.0.1, counts).

use std::time::Instant;

fn best_ms(runs: usize, mut each: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let start = Instant::now();
        each();
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: query_bench PAIL_DIR DATASET [RUNS]");
        std::process::exit(2);
    }
    let repo = pail::Repo::open(std::path::Path::new(&args[1])).expect("a pail repository");
    let dataset = &args[2];
    let runs: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let filter = format!("SELECT count(*) AS n FROM {dataset} WHERE file.size > 8192");
    let group_by = format!(
        "SELECT file_ext(file.path) AS ext, count(*) AS n, sum(file.size) AS bytes \
         FROM {dataset} GROUP BY 1 ORDER BY n DESC"
    );
    for (name, sql) in [("filter", &filter), ("group_by", &group_by)] {
        let ms = best_ms(runs, || {
            runtime.block_on(async {
                let frame = pail::query::sql(&repo, sql).await.expect("the query plans");
                frame.collect().await.expect("the query runs");
            })
        });
        println!("{name} {ms:.2}");
    }
    let old = repo
        .resolve(&repo.parse_ref(&format!("{dataset}@1.0.0")).expect("a ref"))
        .expect("version 1.0.0");
    let new = repo
        .resolve(&repo.parse_ref(&format!("{dataset}@1.0.1")).expect("a ref"))
        .expect("version 1.0.1");
    let ms = best_ms(runs, || {
        let diff = pail::diff::diff(&repo, &old, &new).expect("the diff plans");
        diff.stat(&repo).expect("the diff runs");
    });
    println!("diff {ms:.2}");
}
