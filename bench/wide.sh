#!/usr/bin/env bash
# bench/wide.sh [K...] — one JSON record with K keys (issue 11, item 5), see bench/README.md.
#
# For each K (default 20000 40000 100000 300000): a file holding one line
# {"k000000": 0, "k000001": 1, ...}, then, each once under GNU time:
#   commit   pail commit wide_K --from FILE
#   rows     pail rows wide_K --json
# and prints seconds, peak MiB and microseconds per key: time and memory must grow
# linearly in K (format 1: 100,000 keys took 23 s and 2.4 GB; 300,000 did not finish
# in 120 s).
set -euo pipefail
if [ "$#" = 0 ]; then
    set -- 20000 40000 100000 300000
fi
for K in "$@"; do
    case "$K" in
        '' | *[!0-9]*) echo "usage: bench/wide.sh [K...]" >&2; exit 2 ;;
    esac
done
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ ! -x /usr/bin/time ]; then
    log "installing GNU time"
    apt-get install -y time >/dev/null 2>&1 || { log "needs /usr/bin/time"; exit 1; }
fi

REPO="$WORK/repo"
mkdir -p "$REPO"
cd "$REPO"
"$PAIL" init >/dev/null

# timed_mem OUT CMD...: one run under GNU time; sets SECS and MIB.
timed_mem() {
    local out="$1"
    shift
    if ! /usr/bin/time -f '%e %M' -o "$out.time" "$@" </dev/null >"$out" 2>"$out.err"; then
        log "'$*' failed; its output:"
        cat "$out" "$out.err" >&2
        exit 1
    fi
    read -r SECS KIB <"$out.time"
    MIB=$((KIB / 1024))
}

per_key() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) * 1e6 / int(sys.argv[2])))' "$1" "$2"; }

echo
echo "| keys | commit s | commit peak MiB | commit µs/key | rows --json s | rows peak MiB |"
echo "|-----:|---------:|----------------:|--------------:|--------------:|--------------:|"
for K in "$@"; do
    python3 -c 'import json, sys
k = int(sys.argv[1])
print(json.dumps({"k%06d" % i: i for i in range(k)}))' "$K" >"$WORK/wide-$K.jsonl"
    log "commit wide_$K"
    timed_mem "$WORK/commit-$K" "$PAIL" commit "wide_$K" --from "$WORK/wide-$K.jsonl"
    C_SECS="$SECS" C_MIB="$MIB"
    log "rows wide_$K --json"
    timed_mem "$WORK/rows-$K" "$PAIL" rows "wide_$K" --json
    if ! python3 -c 'import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
sys.exit(0 if a == b else 1)' "$WORK/wide-$K.jsonl" "$WORK/rows-$K"; then
        log "rows of wide_$K differ from the input"
        exit 1
    fi
    echo "| $K | $C_SECS | $C_MIB | $(per_key "$C_SECS" "$K") | $SECS | $MIB |"
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
