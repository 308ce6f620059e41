# Sourced by run-python.sh and run-kotlin.sh: starts a real relay on a free port with a fresh
# database in $WORK, adds unit WJK with its head zhang and staff li, and exports
#   RELAY_URL, CODE_A (zhang's first device), CODE_B (li's device), CODE_C (zhang, spare)
# Needs: $ROOT (workspace), $WORK (temp dir), and the relay binary: $RELAY_BIN, else
# target/debug/fieldledger.
# Registers stop_relay on EXIT (the caller's trap must call it if it sets its own).

RELAY_BIN=${RELAY_BIN:-"$ROOT/target/debug/fieldledger"}
RELAY_DB="$WORK/relay.db"
RELAY_LOG="$WORK/relay.log"

admin() {
    "$RELAY_BIN" admin --db "$RELAY_DB" "$@" 2>>"$WORK/admin.log"
}

enroll_code() {
    admin device enroll "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])'
}

admin unit add WJK 疾控科 >/dev/null
admin user add zhang --unit WJK --role unit-head --name 张三 >/dev/null
admin user add li --unit WJK --role staff --name 李四 >/dev/null
CODE_A=$(enroll_code zhang)
CODE_B=$(enroll_code li)
CODE_C=$(enroll_code zhang)
export CODE_A CODE_B CODE_C RELAY_BIN RELAY_DB

# Port 0: the relay picks a free port and prints the address it listens on.
"$RELAY_BIN" serve --db "$RELAY_DB" --listen 127.0.0.1:0 >"$WORK/relay.out" 2>"$RELAY_LOG" &
RELAY_PID=$!

stop_relay() {
    if [ -n "${RELAY_PID:-}" ] && kill -0 "$RELAY_PID" 2>/dev/null; then
        kill "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
    fi
}

RELAY_URL=""
for _ in $(seq 1 100); do
    RELAY_URL=$(sed -n 's/^fieldledger relay listening on //p' "$WORK/relay.out" | head -n1)
    [ -n "$RELAY_URL" ] && break
    if ! kill -0 "$RELAY_PID" 2>/dev/null; then
        echo "relay exited early:" >&2
        cat "$RELAY_LOG" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$RELAY_URL" ]; then
    echo "relay did not start within 10 s:" >&2
    cat "$RELAY_LOG" >&2
    exit 1
fi
export RELAY_URL
echo "relay at $RELAY_URL (pid $RELAY_PID, db $RELAY_DB)"
