#!/usr/bin/env bash
# Drives the compiled fieldledger-ffi library from Kotlin (JVM, through JNA) with the same
# phone scenario as the Python test: builds the cdylib and the relay, generates the Kotlin
# bindings into a temp dir, compiles them with bindings/tests/kotlin/Scenario.kt, starts a
# real relay and runs the program with java. Exits non-zero on failure.
#
#   bindings/tests/run-kotlin.sh            # debug library
#   PROFILE=release bindings/tests/run-kotlin.sh
#
# Toolchain (found or installed on first use):
#   - Java 17+ (`java` on PATH).
#   - JNA: $JNA_JAR, else /usr/share/java/jna.jar (Debian package libjna-java; installed with
#     apt-get when missing and running as root).
#   - Kotlin compiler: $KOTLINC, else kotlinc 2.4.20 from the npm package `kotlin-compiler`,
#     unpacked once into ${FIELDLEDGER_CACHE:-~/.cache/fieldledger}. (Debian's `kotlin` is 1.3,
#     too old for uniffi's output.)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
KOTLIN_VERSION=2.4.20
CACHE=${FIELDLEDGER_CACHE:-$HOME/.cache/fieldledger}

# ---- toolchain -------------------------------------------------------------------------------
command -v java >/dev/null || { echo "java (17+) is required" >&2; exit 1; }
JNA_JAR=${JNA_JAR:-/usr/share/java/jna.jar}
if [ ! -f "$JNA_JAR" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q libjna-java >/dev/null || {
            apt-get update -q >/dev/null && apt-get install -y -q libjna-java >/dev/null
        }
    fi
    [ -f "$JNA_JAR" ] || { echo "JNA not found: install libjna-java or set JNA_JAR" >&2; exit 1; }
fi
if [ -z "${KOTLINC:-}" ]; then
    KOTLINC="$CACHE/kotlin-compiler-$KOTLIN_VERSION/package/bin/kotlinc"
    if [ ! -x "$KOTLINC" ]; then
        command -v npm >/dev/null || { echo "npm is needed to fetch kotlinc (or set KOTLINC)" >&2; exit 1; }
        mkdir -p "$CACHE/kotlin-compiler-$KOTLIN_VERSION"
        (cd "$CACHE" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
        tar xzf "$CACHE/kotlin-compiler-$KOTLIN_VERSION.tgz" -C "$CACHE/kotlin-compiler-$KOTLIN_VERSION"
        rm -f "$CACHE/kotlin-compiler-$KOTLIN_VERSION.tgz"
    fi
fi

# ---- library, relay, bindings ----------------------------------------------------------------
WORK_PREFIX=fieldledger-kt
# shellcheck source=build-env.sh
. "$ROOT/bindings/tests/build-env.sh"

generate kotlin "$WORK/kt"

t0=$(date +%s%N)
"$KOTLINC" -nowarn -cp "$JNA_JAR" -include-runtime -d "$WORK/scenario.jar" \
    "$(find "$WORK/kt" -name '*.kt')" "$ROOT/bindings/tests/kotlin/Scenario.kt" 2>&1 |
    grep -v '^warning: unable to find kotlin-stdlib.jar' || true
[ -f "$WORK/scenario.jar" ] || { echo "kotlinc failed" >&2; exit 1; }
t1=$(date +%s%N)
echo "kotlinc: $(((t1 - t0) / 1000000)) ms"

# shellcheck source=relay-env.sh
. "$ROOT/bindings/tests/relay-env.sh"

status=0
t1=$(date +%s%N)
java -Djna.library.path="$ROOT/target/$PROFILE" -cp "$JNA_JAR:$WORK/scenario.jar" ScenarioKt ||
    status=$?
t2=$(date +%s%N)
echo "kotlin run (incl. JVM start): $(((t2 - t1) / 1000000)) ms, exit $status"
if [ "$status" != 0 ]; then
    echo "--- relay log ---" >&2
    tail -n 40 "$RELAY_LOG" >&2 || true
fi
exit "$status"
