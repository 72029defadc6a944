#!/usr/bin/env python3
"""The Python package's benchmark (issue 16), run by bench/python.sh in a venv where
`pail` is built in release mode.

    python_bench.py ROWS_JSONL WORKDIR
    python_bench.py pandas ROWS_JSONL WORKDIR   `ds.to_pandas()` best of 3 (vs DataChain)

On the N rows of ROWS_JSONL (gen.py rows): pyarrow reads them from one local Parquet file
(the floor) vs `ds.to_arrow()`; `repo.commit` of the pyarrow Table vs the CLI's
`pail commit --from ROWS_JSONL`; peak RSS of streaming `ds.to_batches()` vs the
`to_arrow()` table's size. Best of 3 for reads, one run each for commits (each commits
to a fresh repository). Prints a Markdown table.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

import pail


def best_of(n, fn):
    best = None
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best


def peak_rss_of(code, *args):
    """Peak RSS in MiB of a child Python running `code` (the streaming check): its own
    VmHWM, since `ru_maxrss` carries the parent's peak across fork and exec."""
    out = subprocess.run([sys.executable, "-c", code, *args], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


HWM = """
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

STREAM = HWM + """
import sys, pail
repo = pail.Repo(sys.argv[1])
n = 0
for batch in repo.dataset("rows").to_batches():
    n += batch.num_rows
assert n == int(sys.argv[2]), n
print(hwm())
"""

WHOLE = HWM + """
import sys, pail
repo = pail.Repo(sys.argv[1])
t = repo.dataset("rows").to_arrow()
assert t.num_rows == int(sys.argv[2])
print(hwm())
"""


def pandas_side(rows_path, work):
    """Commits the rows, prints the best of 3 seconds of `to_pandas()`."""
    repo = pail.Repo.init(os.path.join(work, "pandas"))
    repo.commit("rows", pj.read_json(rows_path), key=["id"])
    print("%.4f" % best_of(3, lambda: repo.dataset("rows").to_pandas()))


def main():
    if sys.argv[1] == "pandas":
        return pandas_side(sys.argv[2], sys.argv[3])
    rows_path, work = sys.argv[1], sys.argv[2]
    pail_bin = os.environ.get("PAIL_BIN", "pail")
    table = pj.read_json(rows_path)
    n = table.num_rows
    parquet = os.path.join(work, "rows.parquet")
    pq.write_table(table, parquet)
    floor = best_of(3, lambda: pq.read_table(parquet))

    cli_repo = os.path.join(work, "cli")
    os.makedirs(cli_repo)
    subprocess.run([pail_bin, "init"], cwd=cli_repo, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([pail_bin, "commit", "rows", "--from", rows_path, "--key", "id"],
                   cwd=cli_repo, check=True, capture_output=True)
    cli_commit = time.perf_counter() - t0

    py_repo_dir = os.path.join(work, "py")
    repo = pail.Repo.init(py_repo_dir)
    t0 = time.perf_counter()
    ds = repo.commit("rows", table, key=["id"])
    py_commit = time.perf_counter() - t0
    # The same rows give the same row tree (commit ids differ: time and command line).
    def rows_root(repo_dir):
        out = subprocess.run([pail_bin, "show", "rows", "--json"], cwd=repo_dir, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)["rows"]
    same = rows_root(cli_repo) == rows_root(py_repo_dir)

    to_arrow = best_of(3, lambda: repo.dataset("rows").to_arrow())
    got = repo.dataset("rows").to_arrow()
    assert got.num_rows == n
    stream_mib = peak_rss_of(STREAM, py_repo_dir, str(n))
    whole_mib = peak_rss_of(WHOLE, py_repo_dir, str(n))
    table_mib = got.nbytes / 2**20

    print("| measure, %d rows | seconds | vs | target |" % n)
    print("|---|---|---|---|")
    print("| pyarrow `pq.read_table` of one local Parquet file (floor) | %.3f | 1.00× | – |" % floor)
    print("| `ds.to_arrow()` | %.3f | %.2f× floor | ≤ 1.5× |" % (to_arrow, to_arrow / floor))
    print("| CLI `pail commit --from rows.jsonl --key id` | %.3f | 1.00× | – |" % cli_commit)
    print("| `repo.commit(name, pyarrow_table, key=[\"id\"])` | %.3f | %.2f× CLI | ≤ 1× |"
          % (py_commit, py_commit / cli_commit))
    print("| same row tree (keys, digests, leaves) from Python and the CLI | %s | | |" % ("yes" if same else "**no**"))
    print("| peak RSS, streaming `to_batches()` | %.0f MiB | table %.0f MiB | bounded |" % (stream_mib, table_mib))
    print("| peak RSS, `to_arrow()` | %.0f MiB | | – |" % whole_mib)


if __name__ == "__main__":
    main()
