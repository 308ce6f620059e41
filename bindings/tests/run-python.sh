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

WORK_PREFIX=fieldledger-py
# shellcheck source=build-env.sh
. "$ROOT/bindings/tests/build-env.sh"

# The generated module loads the library from its own directory.
mkdir -p "$WORK/py"
generate python "$WORK/py"
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
