#!/usr/bin/env bash
# Drives the compiled fieldledger-ffi library from Python through uniffi's generated bindings:
# builds the cdylib and the relay, generates the Python module into a temp dir, starts a real
# relay (fresh database, unit WJK, users zhang and li, enrollment codes from the admin CLI) and
# runs bindings/tests/python/test_scenario.py. Exits non-zero on failure.
#
#   bindings/tests/run-python.sh            # debug library
#   PROFILE=release bindings/tests/run-python.sh
#
# Needs python3 (3.8+); no pip packages.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PROFILE=${PROFILE:-debug}
case "$PROFILE" in
    debug) CARGO_PROFILE=() ;;
    release) CARGO_PROFILE=(--release) ;;
    *) echo "PROFILE must be debug or release" >&2; exit 2 ;;
esac

case "$(uname -s)" in
    Darwin) LIB=libfieldledger_ffi.dylib ;;
    *) LIB=libfieldledger_ffi.so ;;
esac

cargo build -q -p fieldledger-ffi --lib "${CARGO_PROFILE[@]}"
# The relay binary: $RELAY_BIN if given (e.g. already built by CI), else built here.
if [ -z "${RELAY_BIN:-}" ]; then
    cargo build -q -p fieldledger-server --bin fieldledger
fi
cargo build -q -p fieldledger-ffi --bin uniffi-bindgen

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldledger-py.XXXXXX")
cleanup() {
    stop_relay 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
export WORK

# The generated module loads the library from its own directory.
mkdir -p "$WORK/py"
"$ROOT/target/debug/uniffi-bindgen" generate --library "target/$PROFILE/$LIB" \
    --language python --out-dir "$WORK/py" --no-format >/dev/null
cp "target/$PROFILE/$LIB" "$WORK/py/"

# shellcheck source=relay-env.sh
. "$ROOT/bindings/tests/relay-env.sh"

start=$(date +%s%N)
status=0
PYTHONPATH="$WORK/py" python3 "$ROOT/bindings/tests/python/test_scenario.py" || status=$?
end=$(date +%s%N)
echo "python run (incl. interpreter start): $(((end - start) / 1000000)) ms, exit $status"
if [ "$status" != 0 ]; then
    echo "--- relay log ---" >&2
    tail -n 40 "$RELAY_LOG" >&2 || true
fi
exit "$status"
