# Sourced by run-python.sh and run-kotlin.sh after `set -euo pipefail`: builds what a bindings
# scenario runs and makes its temp dir. Needs $ROOT (workspace, the current directory) and
# $WORK_PREFIX (temp dir name prefix). Sets:
#   PROFILE (debug | release, from the environment), LIB (the cdylib's file name),
#   RELAY_BIN (the relay, unless given), WORK (temp dir, removed on exit unless KEEP_WORK=1),
# and defines `generate LANGUAGE OUT_DIR`, which runs uniffi-bindgen on the built library.

PROFILE=${PROFILE:-debug}
case "$PROFILE" in
    debug | release) ;;
    *) echo "PROFILE must be debug or release" >&2; exit 2 ;;
esac
case "$(uname -s)" in
    Darwin) LIB=libfieldledger_ffi.dylib ;;
    *) LIB=libfieldledger_ffi.so ;;
esac

# The library, the relay and uniffi-bindgen. In debug, the build of the whole workspace with all
# its targets, the one `cargo nextest run --workspace` and `.ci/test` make, so nothing is built
# twice (a no-op when it is done).
if [ "$PROFILE" = debug ]; then
    cargo build -q --workspace --all-targets
else
    cargo build -q --release --workspace --lib --bins
fi
RELAY_BIN=${RELAY_BIN:-"$ROOT/target/$PROFILE/fieldledger"}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$WORK_PREFIX.XXXXXX")
cleanup() {
    stop_relay 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
export WORK

generate() {
    "$ROOT/target/$PROFILE/uniffi-bindgen" generate --library "target/$PROFILE/$LIB" \
        --language "$1" --out-dir "$2" --no-format >/dev/null
}
