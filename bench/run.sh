#!/usr/bin/env bash
# bench/run.sh [N] — pail's benchmark (release build), see bench/README.md.
#
# Measures, in one run on one warm tree of N files (default 100,000):
#   floor      find DIR -type f -printf '%s %T@ %p\n'      (best of 3)
#   commit     pail commit bench DIR                       (fresh repo, best of 3)
#   re-commit  pail commit bench DIR   after gen.py delta  (best of 3)
#   storage    bytes of the objects v1 needs, and of the new objects v2 adds, as a
#              share of v1's: a copy of the repository is pushed to a directory
#              remote after v1 and again after the re-commit, and the directory's
#              bytes are summed (the .pail/pail.redb file grows in coarse steps)
#   --hash     pail commit bench_hash DIR --hash           (best of 3)
#   b3sum      find DIR -type f -print0 | xargs -0 b3sum   (best of 3)
#   diff       pail diff bench@1.0.0 bench@1.0.1 --stat, and with every row listed
#   filter     pail query "SELECT count(*) ... WHERE file.size > 8192"
#   group-by   pail query "SELECT file_ext(file.path) AS ext, count(*), sum(file.size) ..."
#   library    the same filter, group-by and diff in process (bench/query_bench.rs)
# and prints a Markdown table against the targets.
#
# Environment:
#   PAIL_BENCH_CACHE   cached trees and tools (default ~/.cache/pail-bench)
#   CARGO_TARGET_DIR   respected for the release build
#   PAIL_BENCH_BIN     use this pail binary instead of building one; the in-process
#                      rows then use PAIL_BENCH_QUERY_BENCH, else examples/query_bench
#                      next to the binary, else they are skipped
#   PAIL_BENCH_DELTA   "cluster" (default: gen.py delta) or "scatter" (gen.py delta
#                      --scatter: the same counts spread at random over the tree)
#   PAIL_BENCH_SOURCE  "path" (default: pass DIR as an absolute path) or
#                      "url" (pass file:///abs/DIR)
#   PAIL_BENCH_STRICT  1: exit 1 when a target is missed
#   PAIL_BENCH_KEEP    1: keep the temp dir (tree copy and repo)
#   PAIL_BENCH_DATACHAIN 1: also install DataChain 0.62 into a throwaway virtualenv
#                      (under the cache) and time its diff, filter and group-by on the
#                      same tree, side by side (bench/datachain_bench.py)
set -euo pipefail

N="${1:-100000}"
case "$N" in
    '' | *[!0-9]*) echo "usage: bench/run.sh [N]" >&2; exit 2 ;;
esac
DELTA_SHAPE="${PAIL_BENCH_DELTA:-cluster}"
case "$DELTA_SHAPE" in
    cluster) DELTA_ARGS=() ;;
    scatter) DELTA_ARGS=(--scatter) ;;
    *) echo "bench/run.sh: PAIL_BENCH_DELTA must be cluster or scatter" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${PAIL_BENCH_CACHE:-$HOME/.cache/pail-bench}"
mkdir -p "$CACHE"
export PAIL_AUTHOR='bench <bench@example.com>'

log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- tools
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
    # apt-get install, running `apt-get update` first if the package is unknown.
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" </dev/null >&2; then
        if [ -z "$APT_UPDATED" ]; then
            APT_UPDATED=1
            $SUDO apt-get update -q </dev/null >&2 || return 1
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" </dev/null >&2
        else
            return 1
        fi
    fi
}

if [ ! -x /usr/bin/time ]; then
    log "installing GNU time (Debian package 'time')"
    apt_install time
fi
TIME=/usr/bin/time

B3SUM=""
if command -v b3sum >/dev/null 2>&1; then
    B3SUM="$(command -v b3sum)"
elif [ -x "$CACHE/b3sum/bin/b3sum" ]; then
    B3SUM="$CACHE/b3sum/bin/b3sum"
else
    log "installing b3sum (Debian package, else cargo install)"
    if apt_install b3sum && command -v b3sum >/dev/null 2>&1; then
        B3SUM="$(command -v b3sum)"
    else
        cargo install b3sum --locked --root "$CACHE/b3sum" </dev/null >&2
        B3SUM="$CACHE/b3sum/bin/b3sum"
    fi
fi

# ---------------------------------------------------------------- build
if [ -n "${PAIL_BENCH_BIN:-}" ]; then
    PAIL="$PAIL_BENCH_BIN"
    QUERY_BENCH="${PAIL_BENCH_QUERY_BENCH:-$(dirname "$PAIL")/examples/query_bench}"
else
    log "cargo build --release"
    cargo build --release --locked --bin pail --example query_bench </dev/null >&2
    TARGET_DIR="$(cargo metadata --format-version 1 --no-deps </dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    PAIL="$TARGET_DIR/release/pail"
    QUERY_BENCH="$TARGET_DIR/release/examples/query_bench"
fi
if [ ! -x "$QUERY_BENCH" ]; then
    log "no query_bench at $QUERY_BENCH: the in-process rows are skipped"
    QUERY_BENCH=""
fi
if [ ! -x "$PAIL" ]; then
    log "no binary at $PAIL"
    exit 1
fi

# ---------------------------------------------------------------- fixture
TREE_CACHE="$CACHE/tree-$N"
if [ ! -d "$TREE_CACHE" ]; then
    log "generating $N files into $TREE_CACHE (cached for later runs)"
    rm -rf "$TREE_CACHE.tmp"
    python3 bench/gen.py tree "$TREE_CACHE.tmp" --n "$N" --progress >&2
    mv "$TREE_CACHE.tmp" "$TREE_CACHE"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pail-bench.XXXXXX")"
cleanup() {
    if [ "${PAIL_BENCH_KEEP:-}" = 1 ]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

DIR="$WORK/tree"
REPO="$WORK/repo"
log "copying the cached tree to $DIR"
cp -a "$TREE_CACHE" "$DIR"
# Flush the copy's dirty pages now, so that background writeback does not land
# inside a measurement.
sync
mkdir -p "$REPO"
case "${PAIL_BENCH_SOURCE:-path}" in
    url) SOURCE="file://$DIR" ;;
    *) SOURCE="$DIR" ;;
esac

# ---------------------------------------------------------------- timing helpers
now() { date +%s.%N; }
elapsed() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }
min_of() { python3 -c 'import sys; print("%.3f" % min(float(x) for x in sys.argv[1:]))' "$@"; }

# best_of3 CMD...: best wall seconds of three runs (stdout discarded).
best_of3() {
    local runs=() t0 t1
    for _ in 1 2 3; do
        t0="$(now)"
        "$@" >/dev/null
        t1="$(now)"
        runs+=("$(elapsed "$t0" "$t1")")
    done
    min_of "${runs[@]}"
}

# timed NAME CMD...: one run under GNU time in $REPO; sets WALL and RSS_MIB.
# Output goes to $WORK/NAME.log and is printed if the command fails.
timed1() {
    local name="$1"
    shift
    local t0 t1 rc
    t0="$(now)"
    set +e
    (cd "$REPO" && "$TIME" -f '%e %M' -o "$WORK/$name.time" "$@" </dev/null >"$WORK/$name.log" 2>&1)
    rc=$?
    set -e
    t1="$(now)"
    if [ "$rc" != 0 ]; then
        log "'$*' failed with exit $rc; its output:"
        cat "$WORK/$name.log" >&2
        exit 1
    fi
    WALL="$(elapsed "$t0" "$t1")"
    RSS_MIB="$(awk 'END { printf "%.1f", $2 / 1024 }' "$WORK/$name.time")"
}

# timed NAME CMD...: best wall seconds of three runs of CMD in $REPO, each one
# starting from the same repository state (restored from a snapshot), so that
# pail gets best-of-3 like the floor and b3sum; RSS_MIB is the largest of the
# three peaks. The repository is left as the last run made it.
timed() {
    local name="$1" walls=() rss=() k
    shift
    rm -rf "$WORK/repo.snapshot"
    cp -a "$REPO" "$WORK/repo.snapshot"
    for k in 1 2 3; do
        if [ "$k" != 1 ]; then
            rm -rf "$REPO"
            cp -a "$WORK/repo.snapshot" "$REPO"
        fi
        sync
        timed1 "$name.$k" "$@"
        walls+=("$WALL")
        rss+=("$RSS_MIB")
    done
    rm -rf "$WORK/repo.snapshot"
    WALL="$(min_of "${walls[@]}")"
    RSS_MIB="$(python3 -c 'import sys; print("%.1f" % max(float(x) for x in sys.argv[1:]))' "${rss[@]}")"
    log "$name: wall ${walls[*]} s, peak ${rss[*]} MiB"
}

find_floor() { find "$DIR" -type f -printf '%s %T@ %p\n'; }
b3sum_all() { find "$DIR" -type f -print0 | xargs -0 "$B3SUM"; }

# ---------------------------------------------------------------- measurements
log "floor: find (best of 3)"
FLOOR="$(best_of3 find_floor)"

log "pail init"
timed1 init "$PAIL" init
# store_probe: push a copy of the repository to the directory remote $WORK/store
# (outside every timing) and print the bytes of the files the directory holds.
store_probe() {
    rm -rf "$WORK/probe"
    cp -a "$REPO" "$WORK/probe"
    (cd "$WORK/probe" && "$PAIL" remote add probe "$WORK/store" >/dev/null &&
        "$PAIL" push probe --json </dev/null >&2)
    rm -rf "$WORK/probe"
    # pail's own files, then the Iceberg tables' (iceberg/, measured against issue 15's
    # target by bench/iceberg.sh).
    find "$WORK/store" -type f -printf '%P %s\n' |
        awk '{ if ($1 ~ /^iceberg\//) i += $2; else p += $2 } END { print p + 0, i + 0 }'
}

log "pail commit bench ($N files)"
timed commit "$PAIL" commit bench "$SOURCE"
COMMIT_S="$WALL" COMMIT_M="$RSS_MIB"
STORE1="$(store_probe)"

DATACHAIN=""
if [ "${PAIL_BENCH_DATACHAIN:-}" = 1 ]; then
    source "$ROOT/bench/datachain_venv.sh"
    DATACHAIN="$(datachain_python) $ROOT/bench/datachain_bench.py"
    log "DataChain: index the tree before the delta"
    (cd "$REPO" && $DATACHAIN index "$DIR" bench >/dev/null)
fi

log "gen.py delta ${DELTA_ARGS[*]:-} ($DELTA_SHAPE)"
DELTA_OUT="$(python3 bench/gen.py delta "$DIR" ${DELTA_ARGS[@]+"${DELTA_ARGS[@]}"})"
echo "$DELTA_OUT" >&2
sync

log "floor after delta: find (best of 3)"
FLOOR2="$(best_of3 find_floor)"

log "pail commit bench (re-commit after delta)"
timed recommit "$PAIL" commit bench "$SOURCE"
RECOMMIT_S="$WALL" RECOMMIT_M="$RSS_MIB"
STORE2="$(store_probe)"
log "objects, Iceberg: $STORE1 bytes for v1, $STORE2 for v1 and v2"

# ---------------------------------------------------------------- diff and query
in_repo() { (cd "$REPO" && "$@"); }
FILTER_SQL='SELECT count(*) AS n FROM bench WHERE file.size > 8192'
GROUP_SQL='SELECT file_ext(file.path) AS ext, count(*) AS n, sum(file.size) AS bytes FROM bench GROUP BY 1 ORDER BY n DESC'

log "pail diff --stat: $(in_repo "$PAIL" diff bench@1.0.0 bench@1.0.1 --stat | tail -1)"
DIFF_S="$(best_of3 in_repo "$PAIL" diff bench@1.0.0 bench@1.0.1 --stat)"
timed diff "$PAIL" diff bench@1.0.0 bench@1.0.1 --stat
DIFF_M="$RSS_MIB"
DIFFROWS_S="$(best_of3 in_repo "$PAIL" diff bench@1.0.0 bench@1.0.1)"
timed diffrows "$PAIL" diff bench@1.0.0 bench@1.0.1
DIFFROWS_M="$RSS_MIB"

log "pail query filter: $(in_repo "$PAIL" query "$FILTER_SQL" --format csv | tail -1) rows"
FILTER_S="$(best_of3 in_repo "$PAIL" query "$FILTER_SQL")"
timed filter "$PAIL" query "$FILTER_SQL"
FILTER_M="$RSS_MIB"
GROUP_S="$(best_of3 in_repo "$PAIL" query "$GROUP_SQL")"
timed group "$PAIL" query "$GROUP_SQL"
GROUP_M="$RSS_MIB"

INPROC=""
if [ -n "$QUERY_BENCH" ]; then
    log "library API in process (best of 5)"
    INPROC="$("$QUERY_BENCH" "$REPO/.pail" bench 5)"
fi
LIB_FILTER_MS="$(echo "$INPROC" | awk '$1 == "filter" { print $2 }')"
LIB_GROUP_MS="$(echo "$INPROC" | awk '$1 == "group_by" { print $2 }')"
LIB_DIFF_MS="$(echo "$INPROC" | awk '$1 == "diff" { print $2 }')"

DC_DIFF_S="" DC_FILTER_S="" DC_GROUP_S=""
if [ -n "$DATACHAIN" ]; then
    log "DataChain: index the tree after the delta"
    (cd "$REPO" && $DATACHAIN index "$DIR" bench >/dev/null)
    log "DataChain: diff, filter, group-by (best of 3 each)"
    DC_DIFF_S="$(best_of3 in_repo $DATACHAIN diff bench)"
    DC_FILTER_S="$(best_of3 in_repo $DATACHAIN filter bench)"
    DC_GROUP_S="$(best_of3 in_repo $DATACHAIN group_by bench)"
fi
export DIFF_S DIFF_M DIFFROWS_S DIFFROWS_M FILTER_S FILTER_M GROUP_S GROUP_M \
    LIB_FILTER_MS LIB_GROUP_MS LIB_DIFF_MS STORE1 STORE2 DELTA_SHAPE DC_DIFF_S DC_FILTER_S DC_GROUP_S

log "b3sum over the same files (best of 3)"
B3="$(best_of3 b3sum_all)"

log "pail commit bench_hash --hash"
timed hash "$PAIL" commit bench_hash "$SOURCE" --hash
HASH_S="$WALL" HASH_M="$RSS_MIB"

# ---------------------------------------------------------------- report
FILES_AFTER="$(find "$DIR" -type f | wc -l)"
PAIL_VERSION="$("$PAIL" --version 2>/dev/null || echo "pail (no --version)")"
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD 2>/dev/null; then GIT_REV="$GIT_REV+dirty"; fi

status=0
python3 - "$N" "$FILES_AFTER" "$FLOOR" "$FLOOR2" "$COMMIT_S" "$COMMIT_M" \
    "$RECOMMIT_S" "$RECOMMIT_M" "$HASH_S" "$HASH_M" "$B3" \
    "$PAIL_VERSION" "$GIT_REV" "$(nproc)" "$("$B3SUM" --version)" <<'PY' || status=$?
import os
import sys
(n, files_after, floor, floor2, c_s, c_m, r_s, r_m, h_s, h_m, b3,
 version, rev, cores, b3v) = sys.argv[1:]
n, files_after = int(n), int(files_after)
floor, floor2, c_s, c_m, r_s, r_m, h_s, h_m, b3 = map(
    float, (floor, floor2, c_s, c_m, r_s, r_m, h_s, h_m, b3))

def ratio(a, b):
    return a / b if b > 0 else float("inf")

RSS_LIMIT = 100.0
rows = []
missed = []

def check(name, ok):
    if not ok:
        missed.append(name)
    return "ok" if ok else "**MISS**"

rows.append(("find floor (%d files)" % n, "%.3f" % floor, "–", "1.00× floor", "–", ""))
rows.append(("find floor after delta (%d files)" % files_after, "%.3f" % floor2, "–", "1.00× floor (after delta)", "–", ""))
cr = ratio(c_s, floor)
rows.append(("`pail commit` (first)", "%.3f" % c_s, "%.1f" % c_m, "%.2f× floor" % cr,
             "≤ 2× floor, ≤ 100 MiB",
             check("commit", cr <= 2 and c_m <= RSS_LIMIT)))
env = os.environ
rr = ratio(r_s, floor2)
rows.append(("`pail commit` (re-commit after delta)", "%.3f" % r_s, "%.1f" % r_m, "%.2f× floor" % rr,
             "≤ 2× floor, ≤ 100 MiB",
             check("re-commit", rr <= 2 and r_m <= RSS_LIMIT)))
(store1, ice1), (store2, ice2) = (map(int, env[k].split()) for k in ("STORE1", "STORE2"))
v1_bytes, v2_new = store1, store2 - store1
rows.append(("bytes of v1 (pail objects pushed to a directory remote)", "–", "–", "%.2f MiB" % (v1_bytes / 2**20), "–", ""))
rows.append(("new bytes stored for v2 / bytes of v1 (after the re-commit)", "–", "–",
             "%.1f%% (%.2f MiB)" % (100 * ratio(v2_new, v1_bytes), v2_new / 2**20),
             "≤ 5%" if env["DELTA_SHAPE"] == "cluster" else "≤ 25%", ""))
rows.append(("Iceberg files the remote gained for v2 / for v1", "–", "–",
             "%.1f%% (%.2f of %.2f MiB)" % (100 * ratio(ice2 - ice1, ice1), (ice2 - ice1) / 2**20, ice1 / 2**20),
             "– (issue 15: bench/iceberg.sh)", ""))
rows.append(("b3sum over the same files", "%.3f" % b3, "–", "%.2f× floor" % ratio(b3, floor2), "–", ""))
hr = ratio(h_s, b3)
rows.append(("`pail commit --hash`", "%.3f" % h_s, "%.1f" % h_m,
             "%.2f× floor, %.2f× b3sum" % (ratio(h_s, floor2), hr),
             "≤ 1.5× b3sum, ≤ 100 MiB",
             check("--hash", hr <= 1.5 and h_m <= RSS_LIMIT)))

big = n > 100000
diff_s, diff_m = float(env["DIFF_S"]), float(env["DIFF_M"])
diffrows_s, diffrows_m = float(env["DIFFROWS_S"]), float(env["DIFFROWS_M"])
filter_s, filter_m = float(env["FILTER_S"]), float(env["FILTER_M"])
group_s, group_m = float(env["GROUP_S"]), float(env["GROUP_M"])
QUERY_RSS = 300.0
diff_target = 0.150 if big else 0.050
query_target = 0.600 if big else 0.150
rows.append(("`pail diff --stat` v1→v2", "%.3f" % diff_s, "%.1f" % diff_m, "–",
             "≤ %d ms, ≤ 300 MiB" % (diff_target * 1000),
             check("diff", diff_s <= diff_target and diff_m <= QUERY_RSS)))
rows.append(("`pail diff` v1→v2, every row listed", "%.3f" % diffrows_s, "%.1f" % diffrows_m, "–", "–", ""))
rows.append(("`pail query` count where size > 8192", "%.3f" % filter_s, "%.1f" % filter_m, "–",
             "≤ %d ms, ≤ 300 MiB" % (query_target * 1000),
             check("filter", filter_s <= query_target and filter_m <= QUERY_RSS)))
rows.append(("`pail query` group by extension", "%.3f" % group_s, "%.1f" % group_m, "–",
             "≤ %d ms, ≤ 300 MiB" % (query_target * 1000),
             check("group-by", group_s <= query_target and group_m <= QUERY_RSS)))
if env["LIB_FILTER_MS"]:
    lib_filter, lib_group, lib_diff = (float(env[k]) / 1000 for k in ("LIB_FILTER_MS", "LIB_GROUP_MS", "LIB_DIFF_MS"))
    rows.append(("library: filter (in process)", "%.4f" % lib_filter, "–", "–",
                 "≤ 15 ms at 100k" if not big else "–",
                 check("library filter", lib_filter <= 0.015) if not big else ""))
    rows.append(("library: group-by (in process)", "%.4f" % lib_group, "–", "–",
                 "≤ 50 ms at 100k" if not big else "–",
                 check("library group-by", lib_group <= 0.050) if not big else ""))
    rows.append(("library: diff counts (in process)", "%.4f" % lib_diff, "–", "–", "–", ""))
for label, key, ours in (("diff", "DC_DIFF_S", diff_s), ("filter", "DC_FILTER_S", filter_s),
                         ("group-by", "DC_GROUP_S", group_s)):
    if env.get(key):
        theirs = float(env[key])
        rows.append(("DataChain 0.62 %s (whole process)" % label, "%.3f" % theirs, "–",
                     "pail %.1f× faster" % ratio(theirs, ours), "–", ""))

print()
print("## pail benchmark: %d files, %s delta" % (n, "clustered" if env["DELTA_SHAPE"] == "cluster" else "scattered"))
print()
print("%s, git %s, %s cores, %s; warm page cache, wall seconds." % (version, rev, cores, b3v))
print()
print("| measurement | seconds | peak MiB | ratio | target | result |")
print("| --- | ---: | ---: | ---: | --- | --- |")
for r in rows:
    print("| %s |" % " | ".join(r))
print()
if missed:
    print("Missed targets: %s" % ", ".join(missed))
else:
    print("All targets met.")
sys.exit(3 if missed else 0)
PY
# Other work on the machine skews every number here; say how busy it was.
echo
echo "Load average at the end of the run: $(cut -d' ' -f1-3 /proc/loadavg) (on $(nproc) cores)."
if [ "$status" = 3 ]; then
    # A missed target fails the run only in strict mode.
    if [ "${PAIL_BENCH_STRICT:-}" = 1 ]; then status=1; else status=0; fi
fi
exit "$status"
