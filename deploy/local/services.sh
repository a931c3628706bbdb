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
PROG=services
# shellcheck source=deploy/local/lib.sh
. "$HERE/lib.sh"

RUN=$(realpath -m "$CRMFLOW_RUN_DIR")
LOGS=$RUN/logs
PIDS=$RUN/pids
ALL=(api evaluator runner)

module() { case $1 in api) echo crmflow_api ;; evaluator) echo crmflow_evaluator ;; runner) echo crmflow_runner ;; esac; }
port() { case $1 in api) echo "$CRMFLOW_API_PORT" ;; evaluator) echo "$CRMFLOW_EVALUATOR_PORT" ;; runner) echo "$CRMFLOW_RUNNER_PORT" ;; esac; }

pid_of() { pid_in "$PIDS/$1.pid" "-m $(module "$1")"; }

ready() { curl -fsS -m 2 "http://127.0.0.1:$(port "$1")/readyz" >/dev/null 2>&1; }

start_one() {
    local name=$1 pid started deadline
    if pid=$(pid_of "$name"); then say "$name already running (pid $pid)"; return; fi
    mkdir -p "$LOGS" "$PIDS"
    need_python
    started=$(now)
    (cd "$RUN" && exec "$PYTHON" -m "$(module "$name")") >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name.pid"
    deadline=$(( $(date +%s) + CRMFLOW_START_TIMEOUT ))
    until ready "$name"; do
        if ! kill -0 "$(cat "$PIDS/$name.pid")" 2>/dev/null; then
            tail -n 20 "$LOGS/$name.log" >&2 || true
            die "$name exited during start; log: $LOGS/$name.log"
        fi
        [ "$(date +%s)" -lt "$deadline" ] || { tail -n 20 "$LOGS/$name.log" >&2; die "$name not ready within $CRMFLOW_START_TIMEOUT s; log: $LOGS/$name.log"; }
        sleep 0.2
    done
    say "$name ready on 127.0.0.1:$(port "$name") after $(since "$started") s (pid $(cat "$PIDS/$name.pid"))"
}

stop_one() {
    local name=$1 pid
    if pid=$(pid_of "$name"); then stop_pid "$name" "$pid" TERM; fi
    rm -f "$PIDS/$name.pid"
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
