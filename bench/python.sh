#!/usr/bin/env bash
# bench/python.sh [N] — the Python package's benchmark (issue 16), see bench/README.md.
# Builds the extension in release mode (maturin develop --release, reusing
# CARGO_TARGET_DIR) into a bench venv unless PAIL_BENCH_PY_VENV names one that has it,
# generates N rows (default 1,000,000) with gen.py rows and runs bench/python_bench.py.
set -euo pipefail
N="${1:-1000000}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VENV="${PAIL_BENCH_PY_VENV:-$CACHE/python-bench-venv}"
if [ -z "${PAIL_BENCH_PY_VENV:-}" ]; then
    if [ ! -x "$VENV/bin/maturin" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet maturin==1.16.0 pyarrow==26.0.1 pandas==3.1.1 pydantic==2.14.3 </dev/null
    fi
    log "maturin develop --release"
    VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" "$VENV/bin/maturin" develop --release --locked \
        --manifest-path "$ROOT/python/Cargo.toml" </dev/null >&2
fi
python3 "$ROOT/bench/gen.py" rows "$WORK/rows.jsonl" --n "$N" >&2
PAIL_BIN="$PAIL" "$VENV/bin/python" "$ROOT/bench/python_bench.py" "$WORK/rows.jsonl" "$WORK"

# Side by side with DataChain 0.62: to_pandas() of the same 100,000 rows, in-process, best
# of 3 each (PAIL_BENCH_DATACHAIN=1; DataChain is installed into its own venv).
if [ "${PAIL_BENCH_DATACHAIN:-}" = 1 ]; then
    source "$ROOT/bench/datachain_venv.sh"
    DC_PYTHON="$(datachain_python)"
    python3 "$ROOT/bench/gen.py" rows "$WORK/rows100k.jsonl" --n 100000 >&2
    mkdir -p "$WORK/dc" "$WORK/pd"
    PAIL_S="$("$VENV/bin/python" "$ROOT/bench/python_bench.py" pandas "$WORK/rows100k.jsonl" "$WORK/pd")"
    DC_S="$(cd "$WORK/dc" && "$DC_PYTHON" "$ROOT/bench/datachain_pandas.py" "$WORK/rows100k.jsonl")"
    python3 -c 'import sys; p, d = float(sys.argv[1]), float(sys.argv[2]); print("| `to_pandas()`, 100000 rows | pail %.3f s | DataChain 0.62 %.3f s | %.1f× faster (target ≥ 5×) |" % (p, d, d / p))' "$PAIL_S" "$DC_S"
fi
