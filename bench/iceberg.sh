#!/usr/bin/env bash
# bench/iceberg.sh [N] — the Iceberg publish benchmark (issue 15), see bench/README.md.
#
# `gen.py rows` writes N JSON rows (default 1,000,000); they are committed and pushed to a
# directory remote (remote format 2: the push publishes the dataset's Iceberg table).
# Then, for each shape, a second version changes 1% of the rows, scattered at random
# (`--change 0.01`) or in one run (`--change 0.01 --cluster`), and is pushed. Reported per
# shape: bytes written under iceberg/ by the first push and by the second, split into
# metadata (manifests, manifest lists, metadata JSON, version hint) and position-delete
# files; pail's own objects pushed; and the wall seconds of each push (one run each: a
# push is not repeatable without resetting the remote). Target: Iceberg metadata written
# for the second version ≤ 5% of the first's.
set -euo pipefail
N="${1:-1000000}"
case "$N" in
    '' | *[!0-9]*) echo "usage: bench/iceberg.sh [N]" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROWS="$WORK/rows.jsonl"
log "gen.py rows: $N rows"
python3 "$ROOT/bench/gen.py" rows "$ROWS" --n "$N" >&2

# bytes DIR [SUBDIR-FILTER]: bytes of the files under DIR whose path matches the filter.
bytes_of() { find "$1" -type f -printf '%P %s\n' | awk -v re="$2" '$1 ~ re { s += $2 } END { print s + 0 }'; }
# snapshot REMOTE: "objects metadata deletes" bytes.
snapshot() {
    echo "$(bytes_of "$1" '^objects/') $(bytes_of "$1" '^iceberg/.*/metadata/') $(bytes_of "$1" '^iceberg/.*/data/')"
}

for shape in scatter cluster; do
    REPO="$WORK/repo-$shape"
    REMOTE="$WORK/remote-$shape"
    mkdir -p "$REPO"
    cd "$REPO"
    "$PAIL" init >/dev/null
    "$PAIL" remote add origin "$REMOTE" >/dev/null
    "$PAIL" commit rows --from "$ROWS" --key id >/dev/null </dev/null
    run_timed "$WORK/push1.$shape" "$PAIL" push --json
    PUSH1="$WALL"
    read -r O1 M1 D1 <<<"$(snapshot "$REMOTE")"
    if [ "$shape" = cluster ]; then extra=(--cluster); else extra=(); fi
    python3 "$ROOT/bench/gen.py" rows "$WORK/rows2.jsonl" --n "$N" --change 0.01 "${extra[@]}" >&2
    "$PAIL" commit rows --from "$WORK/rows2.jsonl" --key id >/dev/null </dev/null
    run_timed "$WORK/push2.$shape" "$PAIL" push --json
    PUSH2="$WALL"
    read -r O2 M2 D2 <<<"$(snapshot "$REMOTE")"
    python3 - "$shape" "$N" "$PUSH1" "$PUSH2" "$O1" "$M1" "$D1" "$O2" "$M2" "$D2" <<'PY'
import sys
shape, n = sys.argv[1], int(sys.argv[2])
p1, p2 = float(sys.argv[3]), float(sys.argv[4])
o1, m1, d1, o2, m2, d2 = (int(x) for x in sys.argv[5:])
kib = lambda b: "%.1f KiB" % (b / 1024)
print("| %s, %d rows, 1%% changed | push 1: %.2f s | push 2: %.2f s |" % (shape, n, p1, p2))
print("| Iceberg metadata written | v1: %s | v2: %s (%.1f%% of v1) |" % (kib(m1), kib(m2 - m1), 100 * (m2 - m1) / m1))
print("| position-delete files | v1: %s | v2: %s |" % (kib(d1), kib(d2 - d1)))
print("| pail objects pushed | v1: %s | v2: %s (%.1f%% of v1) |" % (kib(o1), kib(o2 - o1), 100 * (o2 - o1) / o1))
PY
done
