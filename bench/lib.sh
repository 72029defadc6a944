# bench/lib.sh — shared helpers for bench/remote.sh, bench/checkout.sh and bench/map.sh
# (sourced, not run). Sets ROOT, CACHE, PAIL, WORK; provides timing helpers, a
# moto S3 server for the script's lifetime, and cleanup of everything it started.
#
# Environment:
#   PAIL_BENCH_CACHE   cached trees (default ~/.cache/pail-bench)
#   PAIL_TEST_CACHE    where tests/run installs moto (default ~/.cache/pail-test)
#   PAIL_BENCH_BIN     use this pail binary instead of building one (e.g. a
#                      release build of a clean `git archive HEAD` export while
#                      the work tree is mid-edit)
#   PAIL_BENCH_KEEP    1: keep the temp dir
#   CARGO_TARGET_DIR   respected for the release build

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${PAIL_BENCH_CACHE:-$HOME/.cache/pail-bench}"
mkdir -p "$CACHE"
export PAIL_AUTHOR='bench <bench@example.com>'

log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- build
if [ -n "${PAIL_BENCH_BIN:-}" ]; then
    PAIL="$PAIL_BENCH_BIN"
else
    log "cargo build --release"
    cargo build --release --locked --bin pail </dev/null >&2
    TARGET_DIR="$(cargo metadata --format-version 1 --no-deps </dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    PAIL="$TARGET_DIR/release/pail"
fi
if [ ! -x "$PAIL" ]; then
    log "no binary at $PAIL"
    exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pail-bench.XXXXXX")"
MOTO_PID=""
bench_cleanup() {
    if [ -n "$MOTO_PID" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    if [ "${PAIL_BENCH_KEEP:-}" = 1 ]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- timing
now() { date +%s.%N; }
elapsed() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }
min_of() { python3 -c 'import sys; print("%.3f" % min(float(x) for x in sys.argv[1:]))' "$@"; }

# run_timed OUT CMD...: runs CMD once (stdin /dev/null, stdout to OUT, stderr to
# OUT.err); sets WALL. Prints the output and exits if CMD fails.
run_timed() {
    local out="$1" t0 t1 rc
    shift
    t0="$(now)"
    set +e
    "$@" </dev/null >"$out" 2>"$out.err"
    rc=$?
    set -e
    t1="$(now)"
    if [ "$rc" != 0 ]; then
        log "'$*' failed with exit $rc; its output:"
        cat "$out" "$out.err" >&2
        exit 1
    fi
    WALL="$(elapsed "$t0" "$t1")"
}

# json_get FILE KEY: a top-level field of the JSON object in FILE.
json_get() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# ---------------------------------------------------------------- moto
# start_moto: a moto S3 server on a free loopback port for this script's
# lifetime (installed by `tests/run` if missing); exports the AWS_* settings
# pail reads and sets S3_ENDPOINT.
start_moto() {
    local venv="${PAIL_TEST_CACHE:-$HOME/.cache/pail-test}/moto-venv" port deadline
    if [ ! -x "$venv/bin/moto_server" ]; then
        log "installing moto (PAIL_TEST_INSTALL_ONLY=1 tests/run)"
        PAIL_TEST_INSTALL_ONLY=1 bash "$ROOT/tests/run" >&2
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" </dev/null >"$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    deadline=$((SECONDS + 30))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$MOTO_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            log "moto did not start; its log:"
            cat "$WORK/moto.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    S3_ENDPOINT="http://127.0.0.1:$port"
    export AWS_ENDPOINT_URL="$S3_ENDPOINT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
    unset AWS_SESSION_TOKEN AWS_PROFILE 2>/dev/null || true
    log "moto S3 server at $S3_ENDPOINT (pid $MOTO_PID)"
}

# make_bucket NAME
make_bucket() {
    curl -sf -X PUT "$S3_ENDPOINT/$1" >/dev/null || {
        log "could not create bucket $1"
        exit 1
    }
}

# moto_bytes BUCKET [PREFIX]: "objects bytes" stored under PREFIX (ListObjectsV2).
moto_bytes() {
    python3 "$ROOT/bench/s3util.py" usage "$S3_ENDPOINT" "$1" "${2:-}"
}

# tree_cache NAME N [gen.py tree options...]: path of a cached gen.py tree.
tree_cache() {
    local name="$1" n="$2"
    shift 2
    local dir="$CACHE/$name"
    if [ ! -d "$dir" ]; then
        log "generating $n files into $dir (cached for later runs)"
        rm -rf "$dir.tmp"
        python3 "$ROOT/bench/gen.py" tree "$dir.tmp" --n "$n" "$@" >&2
        mv "$dir.tmp" "$dir"
    fi
    echo "$dir"
}

report_footer() {
    local version rev
    version="$("$PAIL" --version 2>/dev/null || echo pail)"
    rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if ! git -C "$ROOT" diff --quiet HEAD 2>/dev/null; then rev="$rev+dirty"; fi
    echo
    echo "$version ($PAIL), work tree at git $rev, $(nproc) cores. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
}
