#!/usr/bin/env bash
# bench/remote.sh [N] — push / clone / pull benchmark against moto (issue 4), see
# bench/README.md.
#
# On the cached gen.py tree of N files (default 100,000; the same tree as run.sh):
#   push 1   commit the tree, `pail remote add origin s3://BUCKET/pail`, `pail push`
#   push 2   gen.py delta, commit, push: objects and bytes vs push 1 (target < 5%)
#   clone    `pail clone s3://BUCKET/pail DIR`: seconds, objects, commit ids identical
#   pull     a second delta (seed 43) committed and pushed, then `pail pull` in the clone
# Each step runs once (a push is not repeatable without resetting the bucket); the
# object counts and bytes are exact, the seconds are dominated by moto (Python).
# PAIL_BENCH_DELTA=scatter applies both deltas with `gen.py delta --scatter` (the same
# counts spread at random over the tree; target < 25% instead of < 5%).
set -euo pipefail
N="${1:-100000}"
case "$N" in
    '' | *[!0-9]*) echo "usage: bench/remote.sh [N]" >&2; exit 2 ;;
esac
DELTA_SHAPE="${PAIL_BENCH_DELTA:-cluster}"
case "$DELTA_SHAPE" in
    cluster) DELTA_ARGS=() ;;
    scatter) DELTA_ARGS=(--scatter) ;;
    *) echo "bench/remote.sh: PAIL_BENCH_DELTA must be cluster or scatter" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TREE_CACHE="$(tree_cache "tree-$N" "$N" --progress)"
DIR="$WORK/tree"
REPO="$WORK/repo"
log "copying the cached tree to $DIR"
cp -a "$TREE_CACHE" "$DIR"
sync
start_moto
BUCKET=pail-bench
make_bucket "$BUCKET"
URL="s3://$BUCKET/pail"

mkdir -p "$REPO"
cd "$REPO"
"$PAIL" init >/dev/null
run_timed "$WORK/commit1.out" "$PAIL" commit bench "$DIR"
log "commit 1: $WALL s"
"$PAIL" remote add origin "$URL" >/dev/null

log "push 1"
run_timed "$WORK/push1.json" "$PAIL" push --json
PUSH1_S="$WALL"
PUSH1_O="$(json_get "$WORK/push1.json" objects_uploaded)"
PUSH1_B="$(json_get "$WORK/push1.json" bytes_uploaded)"
read -r REMOTE1_O REMOTE1_B < <(moto_bytes "$BUCKET" pail/)
log "push 1: $PUSH1_S s: $(tr -d '\n' <"$WORK/push1.json"); bucket holds $REMOTE1_O objects, $REMOTE1_B bytes"

log "re-push with nothing new"
run_timed "$WORK/push0.json" "$PAIL" push --json
PUSH0_S="$WALL"
PUSH0_O="$(json_get "$WORK/push0.json" objects_uploaded)"

log "gen.py delta, commit 2, push 2"
python3 "$ROOT/bench/gen.py" delta "$DIR" ${DELTA_ARGS[@]+"${DELTA_ARGS[@]}"} >&2
sync
run_timed "$WORK/commit2.out" "$PAIL" commit bench "$DIR"
run_timed "$WORK/push2.json" "$PAIL" push --json
PUSH2_S="$WALL"
PUSH2_O="$(json_get "$WORK/push2.json" objects_uploaded)"
PUSH2_B="$(json_get "$WORK/push2.json" bytes_uploaded)"
read -r REMOTE2_O REMOTE2_B < <(moto_bytes "$BUCKET" pail/)
log "push 2: $PUSH2_S s: $(tr -d '\n' <"$WORK/push2.json"); bucket holds $REMOTE2_O objects, $REMOTE2_B bytes"

log "clone"
cd "$WORK"
run_timed "$WORK/clone.json" "$PAIL" clone "$URL" "$WORK/clone" --json
CLONE_S="$WALL"
CLONE_O="$(json_get "$WORK/clone.json" objects_downloaded)"
CLONE_DU="$(du -sb "$WORK/clone/.pail" | cut -f1)"
ids() { (cd "$1" && "$PAIL" log bench --json | python3 -c 'import json, sys
d = json.load(sys.stdin)
items = d if isinstance(d, list) else d.get("versions", d.get("log", []))
print(" ".join(sorted(str(i.get("id") or i.get("commit")) for i in items)))'); }
IDS_SRC="$(ids "$REPO")"
IDS_CLONE="$(ids "$WORK/clone")"
if [ "$IDS_SRC" = "$IDS_CLONE" ] && [ -n "$IDS_SRC" ]; then SAME_IDS=yes; else SAME_IDS=no; fi
log "clone: $CLONE_S s: $(tr -d '\n' <"$WORK/clone.json"); .pail is $CLONE_DU bytes; same commit ids: $SAME_IDS"

log "second delta (seed 43), commit 3, push 3, pull in the clone"
python3 "$ROOT/bench/gen.py" delta "$DIR" --seed 43 ${DELTA_ARGS[@]+"${DELTA_ARGS[@]}"} >&2
sync
cd "$REPO"
run_timed "$WORK/commit3.out" "$PAIL" commit bench "$DIR"
run_timed "$WORK/push3.json" "$PAIL" push --json
PUSH3_O="$(json_get "$WORK/push3.json" objects_uploaded)"
PUSH3_B="$(json_get "$WORK/push3.json" bytes_uploaded)"
cd "$WORK/clone"
run_timed "$WORK/pull.json" "$PAIL" pull --json
PULL_S="$WALL"
PULL_O="$(json_get "$WORK/pull.json" objects_downloaded)"
PULL_B="$(json_get "$WORK/pull.json" bytes_downloaded)"
log "pull: $PULL_S s: $(tr -d '\n' <"$WORK/pull.json")"
IDS_SRC="$(ids "$REPO")"
IDS_CLONE="$(ids "$WORK/clone")"
if [ "$IDS_SRC" = "$IDS_CLONE" ]; then SAME_IDS2=yes; else SAME_IDS2=no; fi
run_timed "$WORK/pull0.json" "$PAIL" pull --json
PULL0_S="$WALL"
PULL0_O="$(json_get "$WORK/pull0.json" objects_downloaded)"

python3 - "$N" "$PUSH1_S" "$PUSH1_O" "$PUSH1_B" "$PUSH0_S" "$PUSH0_O" "$PUSH2_S" "$PUSH2_O" "$PUSH2_B" \
    "$CLONE_S" "$CLONE_O" "$CLONE_DU" "$SAME_IDS" "$PUSH3_O" "$PUSH3_B" "$PULL_S" "$PULL_O" "$PULL_B" \
    "$SAME_IDS2" "$PULL0_S" "$PULL0_O" "$REMOTE1_O" "$REMOTE1_B" "$DELTA_SHAPE" <<'PY'
import sys
a = sys.argv[1:]
n = int(a[0])
p1s, p1o, p1b = float(a[1]), int(a[2]), int(a[3])
p0s, p0o = float(a[4]), int(a[5])
p2s, p2o, p2b = float(a[6]), int(a[7]), int(a[8])
cs, co, cdu, same = float(a[9]), int(a[10]), int(a[11]), a[12]
p3o, p3b = int(a[13]), int(a[14])
ps, po, pb, same2 = float(a[15]), int(a[16]), int(a[17]), a[18]
p0ls, p0lo = float(a[19]), int(a[20])
r1o, r1b = int(a[21]), int(a[22])
scatter = a[23] == "scatter"
limit = 0.25 if scatter else 0.05
lim = "< %d%%" % round(100 * limit)
delta = "gen.py delta --scatter" if scatter else "gen.py delta"
ok = lambda b: "ok" if b else "**MISS**"
mib = lambda b: "%.2f MiB" % (b / 2**20) if b >= 2**20 else "%.1f KiB" % (b / 1024)
ratio = p2b / p1b if p1b else float("inf")
rows = [
    ("push 1: %d-row dataset, empty bucket" % n, "%.2f" % p1s, "%d" % p1o, mib(p1b), "–", "", ""),
    ("re-push, nothing new", "%.2f" % p0s, "%d" % p0o, "–", "–", "0 objects", ok(p0o == 0)),
    ("push 2: after %s" % delta, "%.2f" % p2s, "%d" % p2o, mib(p2b), "%.2f%% of push 1 bytes" % (100 * ratio), lim, ok(ratio < limit)),
    ("clone (2 versions)", "%.2f" % cs, "%d" % co, "%s on disk (.pail)" % mib(cdu), "–", "same commit ids", ok(same == "yes")),
    ("push 3: after a second delta", "–", "%d" % p3o, mib(p3b), "%.2f%% of push 1 bytes" % (100 * p3b / p1b), lim, ok(p3b / p1b < limit)),
    ("pull of version 3 into the clone", "%.2f" % ps, "%d" % po, mib(pb), "%.2f%% of push 1 bytes" % (100 * pb / p1b), lim + ", same ids", ok(pb / p1b < limit and same2 == "yes")),
    ("pull, nothing new", "%.2f" % p0ls, "%d" % p0lo, "–", "–", "0 objects", ok(p0lo == 0)),
]
print()
print("## pail push / clone / pull against moto: %d files, %s delta" % (n, "scattered" if scatter else "clustered"))
print()
print("Bucket after push 1: %d objects, %s." % (r1o, mib(r1b)))
print()
print("| step | seconds | objects | bytes | ratio | target | result |")
print("| --- | ---: | ---: | ---: | --- | --- | --- |")
for r in rows:
    print("| %s |" % " | ".join(r))
PY
report_footer
