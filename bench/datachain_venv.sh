# bench/datachain_venv.sh — sourced by bench/run.sh and bench/python.sh: prints the Python
# of a venv with DataChain 0.62 under $CACHE, installing it the first time.
datachain_python() {
    local venv="$CACHE/datachain-venv"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import datachain' 2>/dev/null; then
        echo "bench: installing DataChain 0.62 into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'datachain==0.62.*' </dev/null >&2
    fi
    echo "$venv/bin/python"
}
