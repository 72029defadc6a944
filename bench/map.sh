#!/usr/bin/env bash
# bench/map.sh [N] — `pail map` benchmark (issue 6), see bench/README.md.
#
# N rows (default 10,000) from `gen.py rows`, committed with --key id, and a worker
# that sleeps 10 ms per row (standing in for a model call), --jobs 4:
#   cold     first run, nothing cached                       (one run)
#   resumed  a fresh run SIGKILLed at 2/3 (polling `pail jobs --json` "done"),
#            then started again with the same arguments       (one run)
#   warm     the same command again: every row from the cache (best of 3)
#   delta    10% of the rows changed and committed, then --delta (best of 3)
#   overhead a worker that does nothing (Python echo), --no-cache, --jobs 1 and 4,
#            wall seconds / N                                 (best of 3)
# and prints a Markdown table against the targets.
set -euo pipefail
N="${1:-10000}"
case "$N" in
    '' | *[!0-9]*) echo "usage: bench/map.sh [N]" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SLEEP_MS="${PAIL_BENCH_SLEEP_MS:-10}"
JOBS=4
# The worker: one JSON row per line in, one JSON result per line out, flushed.
WORKER="python3 -u -c 'import json, sys, time
for line in sys.stdin:
    row = json.loads(line)
    time.sleep($SLEEP_MS / 1000)
    print(json.dumps({\"y\": len(row[\"text\"]) + row[\"value\"] % 7}), flush=True)'"
# A worker that does nothing: pail's own cost per row. (Not `sed -u`: it reads its
# input one byte per read(2), ~0.1 ms per row by itself.)
NOOP="python3 -c 'import sys
for line in sys.stdin:
    sys.stdout.write(\"{\\\"y\\\": 1}\\n\")
    sys.stdout.flush()'"

REPO="$WORK/repo"
mkdir -p "$REPO"
cd "$REPO"
python3 "$ROOT/bench/gen.py" rows "$WORK/rows.jsonl" --n "$N" >&2
python3 "$ROOT/bench/gen.py" rows "$WORK/rows2.jsonl" --n "$N" --change 0.1 >&2
"$PAIL" init >/dev/null
"$PAIL" commit rows --from "$WORK/rows.jsonl" --key id >/dev/null
cp -a "$REPO/.pail" "$WORK/pail.fresh"   # the repository with only the input committed
restore() { rm -rf "$REPO/.pail"; cp -a "$1" "$REPO/.pail"; }

out_digest() { "$PAIL" rows "$1" --json | python3 -c '
import hashlib, json, sys
rows = sorted(json.dumps(json.loads(l), sort_keys=True) for l in sys.stdin if l.strip())
print(len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])'; }

# ---------------------------------------------------------------- cold
log "cold: pail map rows --jobs $JOBS ($N rows x ${SLEEP_MS} ms)"
run_timed "$WORK/cold.json" "$PAIL" map rows --run "$WORKER" --to out --jobs "$JOBS" --json
COLD="$WALL"
log "cold: $COLD s: $(cat "$WORK/cold.json" | tr -d '\n')"
COLD_DIGEST="$(out_digest out)"
cp -a "$REPO/.pail" "$WORK/pail.cold"

# ---------------------------------------------------------------- warm
log "warm (all cached), best of 3"
walls=()
for k in 1 2 3; do
    run_timed "$WORK/warm.json" "$PAIL" map rows --run "$WORKER" --to out --jobs "$JOBS" --json
    walls+=("$WALL")
done
WARM="$(min_of "${walls[@]}")"
WARM_CACHED="$(json_get "$WORK/warm.json" cached)"
log "warm: ${walls[*]} s: $(tr -d '\n' <"$WORK/warm.json")"

# ---------------------------------------------------------------- delta
log "delta: 10% of the rows changed, --delta, best of 3"
"$PAIL" commit rows --from "$WORK/rows2.jsonl" --key id >/dev/null
cp -a "$REPO/.pail" "$WORK/pail.delta"
walls=()
for k in 1 2 3; do
    restore "$WORK/pail.delta"
    run_timed "$WORK/delta.json" "$PAIL" map rows --run "$WORKER" --to out --jobs "$JOBS" --delta --json
    walls+=("$WALL")
done
DELTA="$(min_of "${walls[@]}")"
DELTA_RAN="$(json_get "$WORK/delta.json" ran)"
DELTA_CARRIED="$(json_get "$WORK/delta.json" carried)"
log "delta: ${walls[*]} s: $(tr -d '\n' <"$WORK/delta.json")"

# ---------------------------------------------------------------- kill at 2/3, resume
log "killed run: SIGKILL at 2/3, then resume"
restore "$WORK/pail.fresh"
KILL_AT=$((N * 2 / 3))
t0="$(now)"
"$PAIL" map rows --run "$WORKER" --to out --jobs "$JOBS" --json </dev/null >"$WORK/killed.out" 2>&1 &
MAP_PID=$!
DONE_AT_KILL=0
while kill -0 "$MAP_PID" 2>/dev/null; do
    d="$("$PAIL" jobs --json 2>/dev/null | python3 -c 'import json, sys
try:
    print(sum(j["done"] for j in json.load(sys.stdin)))
except Exception:
    print(0)')" || d=0
    if [ "$d" -ge "$KILL_AT" ]; then
        kill -KILL "$MAP_PID" 2>/dev/null || true
        DONE_AT_KILL="$d"
        break
    fi
    sleep 0.05
done
wait "$MAP_PID" 2>/dev/null || true
t1="$(now)"
KILLED_AFTER="$(elapsed "$t0" "$t1")"
# Workers of the killed run see EOF on stdin and exit; give them a moment.
sleep 0.5
PERSISTED="$("$PAIL" jobs --json | python3 -c 'import json, sys; print(sum(j["done"] for j in json.load(sys.stdin)))')"
log "killed after $KILLED_AFTER s at done=$DONE_AT_KILL; persisted: $PERSISTED"
run_timed "$WORK/resume.json" "$PAIL" map rows --run "$WORKER" --to out --jobs "$JOBS" --json
RESUMED="$WALL"
RESUMED_ROWS="$(json_get "$WORK/resume.json" resumed)"
RESUMED_RAN="$(json_get "$WORK/resume.json" ran)"
log "resumed: $RESUMED s: $(tr -d '\n' <"$WORK/resume.json")"
RESUME_DIGEST="$(out_digest out)"

# ---------------------------------------------------------------- overhead
overhead() {
    local jobs="$1" walls=() k
    for k in 1 2 3; do
        restore "$WORK/pail.fresh"
        run_timed "$WORK/noop$jobs.json" "$PAIL" map rows --run "$NOOP" --to noop --jobs "$jobs" --no-cache --json
        walls+=("$WALL")
    done
    log "no-op worker, --jobs $jobs: ${walls[*]} s"
    min_of "${walls[@]}"
}
NOOP1="$(overhead 1)"
NOOP4="$(overhead 4)"
# The no-op worker alone over the same lines, no pail.
"$PAIL" rows rows --json >"$WORK/rows.json.lines" 2>/dev/null || cp "$WORK/rows.jsonl" "$WORK/rows.json.lines"
walls=()
for k in 1 2 3; do
    t0="$(now)"
    sh -c "$NOOP" <"$WORK/rows.json.lines" >/dev/null
    walls+=("$(elapsed "$t0" "$(now)")")
done
SED="$(min_of "${walls[@]}")"
# pail's fixed cost: a map over 1 row.
head -n 1 "$WORK/rows.jsonl" >"$WORK/one.jsonl"
restore "$WORK/pail.fresh"
"$PAIL" commit one --from "$WORK/one.jsonl" --key id >/dev/null
walls=()
for k in 1 2 3; do
    run_timed "$WORK/one.json" "$PAIL" map one --run "$NOOP" --to noop1 --jobs 1 --no-cache --json
    walls+=("$WALL")
done
FIXED="$(min_of "${walls[@]}")"

# ---------------------------------------------------------------- report
python3 - "$N" "$SLEEP_MS" "$JOBS" "$COLD" "$WARM" "$WARM_CACHED" "$DELTA" "$DELTA_RAN" \
    "$DELTA_CARRIED" "$KILLED_AFTER" "$DONE_AT_KILL" "$PERSISTED" "$RESUMED" "$RESUMED_ROWS" \
    "$RESUMED_RAN" "$NOOP1" "$NOOP4" "$SED" "$FIXED" "$COLD_DIGEST" "$RESUME_DIGEST" <<'PY'
import sys
a = sys.argv[1:]
n, sleep_ms, jobs = int(a[0]), int(a[1]), int(a[2])
cold, warm = float(a[3]), float(a[4]); warm_cached = int(a[5])
delta, delta_ran, delta_carried = float(a[6]), int(a[7]), int(a[8])
killed_after, done_at_kill, persisted = float(a[9]), int(a[10]), int(a[11])
resumed, resumed_rows, resumed_ran = float(a[12]), int(a[13]), int(a[14])
noop1, noop4, sed, fixed = float(a[15]), float(a[16]), float(a[17]), float(a[18])
cold_digest, resume_digest = a[19], a[20]
ideal = n * sleep_ms / 1000 / jobs
ok = lambda b: "ok" if b else "**MISS**"
rows = []
rows.append(("cold: %d rows, %d ms each, --jobs %d" % (n, sleep_ms, jobs), "%.2f" % cold,
             "ideal %.1f s (%.0f%% efficiency)" % (ideal, 100 * ideal / cold), "–", ""))
rows.append(("warm: all %d rows from the cache" % warm_cached, "%.3f" % warm,
             "%.0f× faster than cold" % (cold / warm), "≥ 100× faster", ok(cold / warm >= 100)))
remaining = n - persisted
rows.append(("resumed after SIGKILL at %d/%d done (%d persisted, %d ran)" % (done_at_kill, n, persisted, resumed_ran),
             "%.2f" % resumed, "%.2f of cold; remaining rows %.2f of all" % (resumed / cold, remaining / n),
             "≈ remaining third (≤ 1.25 × remaining share of cold)",
             ok(resumed <= 1.25 * cold * remaining / n)))
rows.append(("resumed output = uninterrupted output", "–", "%s / %s" % (cold_digest, resume_digest), "identical",
             ok(cold_digest == resume_digest)))
changed = delta_ran / n
rows.append(("--delta after 10%% changed (%d ran, %d carried)" % (delta_ran, delta_carried), "%.2f" % delta,
             "%.2f of cold" % (delta / cold), "≈ changed fraction 0.10 (≤ 0.15 of cold)", ok(delta / cold <= 0.15)))
for j, t in ((1, noop1), (4, noop4)):
    rows.append(("overhead: no-op worker, --jobs %d" % j, "%.3f" % t, "%.3f ms/row (%.3f ms/row above fixed %.2f s)" % (1000 * t / n, 1000 * (t - fixed) / n, fixed),
                 "≤ 0.2 ms/row", ok(1000 * t / n <= 0.2)))
rows.append(("reference: the no-op worker alone over %d lines, no pail" % n, "%.3f" % sed, "%.4f ms/row" % (1000 * sed / n), "–", ""))
rows.append(("reference: map of 1 row (fixed cost)", "%.3f" % fixed, "–", "–", ""))
print()
print("## pail map: %d rows" % n)
print()
print("| measurement | seconds | ratio | target | result |")
print("| --- | ---: | --- | --- | --- |")
for r in rows:
    print("| %s |" % " | ".join(r))
PY
report_footer
