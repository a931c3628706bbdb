#!/usr/bin/env bash
# crmflow's three services on the local stack: rules-api, evaluator (Faust), action-runner.
#
# Usage: deploy/local/services.sh COMMAND [api|evaluator|runner|all]
#   start    start (default all); running services are left alone; waits for /readyz
#   stop     stop what this script started (pid files): SIGTERM, then SIGKILL after a timeout
#   restart  stop + start
#   status   table: service, pid, port, ready or not
# Logs: <run>/logs/<service>.log (JSON lines). Settings: deploy/local/env.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/local/env.sh
. "$HERE/env.sh"

RUN=$(realpath -m "$CRMFLOW_RUN_DIR")
LOGS=$RUN/logs
PIDS=$RUN/pids
PYTHON=${CRMFLOW_PYTHON:-$CRMFLOW_ROOT/.venv/bin/python}
ALL=(api evaluator runner)

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

module() { case $1 in api) echo crmflow_api ;; evaluator) echo crmflow_evaluator ;; runner) echo crmflow_runner ;; esac; }
port() { case $1 in api) echo "$CRMFLOW_API_PORT" ;; evaluator) echo "$CRMFLOW_EVALUATOR_PORT" ;; runner) echo "$CRMFLOW_RUNNER_PORT" ;; esac; }

pid_of() {
    local f=$PIDS/$1.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    kill -0 "$pid" 2>/dev/null || return 1
    printf '%s' "$pid"
}

ready() { curl -fsS -m 2 "http://127.0.0.1:$(port "$1")/readyz" >/dev/null 2>&1; }

start_one() {
    local name=$1 pid started deadline
    if pid=$(pid_of "$name"); then say "$name already running (pid $pid)"; return; fi
    mkdir -p "$LOGS" "$PIDS"
    [ -x "$PYTHON" ] || die "no Python environment at $PYTHON: run 'make install'"
    started=$(date +%s.%N)
    (cd "$RUN" && exec "$PYTHON" -m "$(module "$name")") >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name.pid"
    deadline=$(( $(date +%s) + ${CRMFLOW_START_TIMEOUT:-90} ))
    until ready "$name"; do
        if ! kill -0 "$(cat "$PIDS/$name.pid")" 2>/dev/null; then
            tail -n 20 "$LOGS/$name.log" >&2 || true
            die "$name exited during start; log: $LOGS/$name.log"
        fi
        [ "$(date +%s)" -lt "$deadline" ] || { tail -n 20 "$LOGS/$name.log" >&2; die "$name not ready within ${CRMFLOW_START_TIMEOUT:-90} s; log: $LOGS/$name.log"; }
        sleep 0.2
    done
    say "$name ready on 127.0.0.1:$(port "$name") after $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (pid $(cat "$PIDS/$name.pid"))"
}

stop_one() {
    local name=$1 pid i
    if ! pid=$(pid_of "$name"); then rm -f "$PIDS/$name.pid"; return; fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${CRMFLOW_STOP_TIMEOUT:-30} * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then say "$name did not stop; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$PIDS/$name.pid"
    say "$name stopped"
}

status() {
    printf '%-10s %-8s %-6s %s\n' SERVICE PID PORT STATE
    local name pid state
    for name in "${ALL[@]}"; do
        if pid=$(pid_of "$name"); then
            if ready "$name"; then state=ready; else state="running, not ready"; fi
        else pid=-; state=down; fi
        printf '%-10s %-8s %-6s %s\n' "$name" "$pid" "$(port "$name")" "$state"
    done
}

targets() { if [ "${1:-all}" = all ]; then echo "${ALL[@]}"; else echo "$1"; fi; }

cmd=${1:-status}; shift || true
case $cmd in
    start) for s in $(targets "${1:-all}"); do start_one "$s"; done ;;
    stop) for s in $(targets "${1:-all}" | tr ' ' '\n' | tac); do stop_one "$s"; done ;;
    restart) for s in $(targets "${1:-all}"); do stop_one "$s"; start_one "$s"; done ;;
    status) status ;;
    *) die "unknown command $cmd (start|stop|restart|status)" ;;
esac
