#!/usr/bin/env bash
# bench/checkout.sh [N] — `pail checkout` benchmark (issue 5), see bench/README.md.
#
# A cached gen.py tree of N files (default 10,000) of 1 KiB – 28 KiB (log-uniform,
# mean ~8.1 KiB: about 80 MB for 10,000 files):
#   floor      cp -r TREE OUT                                     (best of 3)
#   local      pail commit ck TREE; pail checkout ck --to OUT     (best of 3)
#   s3         the tree uploaded to moto, pail commit ck_s3 s3://BUCKET/tree,
#              pail checkout ck_s3 --to OUT                       (one run: moto is slow)
#   s3 ref     a plain 16-thread Python GET client over the same objects (one run)
#   glob       pail checkout --include '*a*a…*b' (15 `*a`) over one file named a×60,
#              which backtracking took over a minute for (issue 11 item 12)  (best of 3)
# Every run writes into a NEW directory (out.NAME.K) and nothing is deleted until
# the end: on ext4, creating thousands of files right after deleting thousands
# (`rm -rf OUT`) is several times slower (ext4_create -> recently_deleted scans
# the inode table), which made `cp -r` vary from 0.7 s to 7 s. `sync` before each
# run so writeback of the previous run does not land in the next.
set -euo pipefail
N="${1:-10000}"
case "$N" in
    '' | *[!0-9]*) echo "usage: bench/checkout.sh [N]" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MIN_SIZE=1024
MAX_SIZE=28672
TREE_CACHE="$(tree_cache "tree-$N-${MIN_SIZE}-${MAX_SIZE}" "$N" --min-size "$MIN_SIZE" --max-size "$MAX_SIZE")"
DIR="$WORK/tree"
cp -a "$TREE_CACHE" "$DIR"
sync
FILES="$(find "$DIR" -type f | wc -l)"
BYTES="$(find "$DIR" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')"
log "tree: $FILES files, $BYTES bytes"

# bestk K NAME CMD...: best of K runs; each run's CMD gets OUT as its last
# argument, a new directory $WORK/out.NAME.k; sets WALL and OUT (the last one).
bestk() {
    local runs="$1" name="$2" walls=() k
    shift 2
    for k in $(seq 1 "$runs"); do
        OUT="$WORK/out.$name.$k"
        sync
        run_timed "$WORK/$name.out" "$@" "$OUT"
        walls+=("$WALL")
    done
    log "$name: ${walls[*]} s"
    WALL="$(min_of "${walls[@]}")"
}
# check_out WHAT [SUBDIR]: OUT[/SUBDIR] must equal the source tree.
check_out() {
    local got
    OUT="$OUT${2:+/$2}"
    got="$(find "$OUT" -type f ! -name .pail-checkout | wc -l)"
    if [ "$got" != "$FILES" ]; then
        log "$1 wrote $got files, expected $FILES"
        exit 1
    fi
    if ! diff -r -q -x .pail-checkout "$DIR" "$OUT" >/dev/null; then
        log "$1: the checked-out tree differs from the source"
        exit 1
    fi
}

log "floor: cp -r"
bestk 3 cp cp -r "$DIR"
CP_S="$WALL"
check_out "cp -r"

REPO="$WORK/repo"
mkdir -p "$REPO"
cd "$REPO"
"$PAIL" init >/dev/null
"$PAIL" commit ck "$DIR" >/dev/null
log "pail checkout ck (local)"
bestk 3 local "$PAIL" checkout ck --json --to
LOCAL_S="$WALL"
check_out "pail checkout (local)"
# Re-run into the complete OUT: everything is skipped.
run_timed "$WORK/local-again.out" "$PAIL" checkout ck --to "$OUT" --json
AGAIN_S="$WALL"
AGAIN_SKIPPED="$(json_get "$WORK/local-again.out" files_skipped)"

# A pathological --include glob: 15 `*a` and a final `*b`, over a name of 60 `a`s
# (matches nothing). Backtracking is exponential in the stars; globset's automaton is
# linear in the name.
GLOB_DIR="$WORK/globtree"
mkdir -p "$GLOB_DIR"
printf x > "$GLOB_DIR/$(printf 'a%.0s' $(seq 1 60))"
"$PAIL" commit globs "$GLOB_DIR" >/dev/null
GLOB="$(printf '*a%.0s' $(seq 1 15))*b"
log "pail checkout globs --include '$GLOB'"
bestk 3 glob "$PAIL" checkout globs --json --include "$GLOB" --to
GLOB_S="$WALL"

start_moto
make_bucket pail-bench
log "uploading the tree to moto"
read -r UP_FILES UP_BYTES UP_S < <(python3 "$ROOT/bench/s3util.py" upload "$S3_ENDPOINT" pail-bench tree "$DIR")
log "uploaded $UP_FILES files, $UP_BYTES bytes in $UP_S s"
"$PAIL" commit ck_s3 s3://pail-bench/tree >/dev/null
log "pail checkout ck_s3 (moto)"
bestk 1 s3 "$PAIL" checkout ck_s3 --json --to
S3_S="$WALL"
# pail writes an s3:// dataset's files at their full object key (tree/...), not
# relative to the committed prefix as for a local directory (reported as a finding).
check_out "pail checkout (moto)" tree
log "reference: python GET client (16 threads)"
bestk 1 s3ref python3 "$ROOT/bench/s3util.py" download "$S3_ENDPOINT" pail-bench tree
S3REF_S="$WALL"
check_out "python GET client"

python3 - "$FILES" "$BYTES" "$CP_S" "$LOCAL_S" "$S3_S" "$S3REF_S" "$AGAIN_S" "$AGAIN_SKIPPED" "$GLOB_S" <<'PY'
import sys
files, nbytes = int(sys.argv[1]), int(sys.argv[2])
cp, local, s3, s3ref, again = map(float, sys.argv[3:8])
skipped = int(sys.argv[8])
glob_s = float(sys.argv[9])
mb = nbytes / 1e6
ok = lambda b: "ok" if b else "**MISS**"
rows = [
    ("floor: `cp -r` (local)", cp, "1.00", "–", ""),
    ("`pail checkout` from a local directory", local, "%.2f" % (cp / local), "≥ 0.50 of floor", ok(cp / local >= 0.5)),
    ("`pail checkout` again, all in place (%d skipped)" % skipped, again, "–", "–", ""),
    ("`pail checkout` from moto (S3)", s3, "%.2f" % (cp / s3), "–", ""),
    ("reference: Python 16-thread GET from moto", s3ref, "%.2f" % (cp / s3ref), "–", ""),
]
print()
print("## pail checkout: %d files, %.1f MB" % (files, mb))
print()
print("| measurement | seconds | files/s | MB/s | throughput vs floor | target | result |")
print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
for name, s, r, target, res in rows:
    print("| %s | %.3f | %.0f | %.1f | %s | %s | %s |" % (name, s, files / s, mb / s, r, target, res))
print()
print("| `--include` glob | seconds | target | result |")
print("| --- | ---: | --- | --- |")
print("| 15 `*a` stars + `*b` over one 60-`a` name (no match) | %.3f | < 1 s (linear) | %s |" % (glob_s, ok(glob_s < 1.0)))
PY
report_footer
