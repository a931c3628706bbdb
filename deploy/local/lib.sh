# shellcheck shell=bash
# Helpers shared by stack.sh and services.sh: messages, clock, pid files, stopping a process.
# The sourcing script sets PROG (its message prefix) first and sources env.sh (CRMFLOW_STOP_TIMEOUT).

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: WARNING: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

# The project's Python environment (make venv): the crmflow CLI, the services, register_connector.py
PYTHON=${CRMFLOW_PYTHON:-$CRMFLOW_ROOT/.venv/bin/python}
need_python() { [ -x "$PYTHON" ] || die "no Python environment at $PYTHON: run 'make install'"; }

now() { local t=${EPOCHREALTIME:-$(date +%s.%N)}; printf '%s' "${t/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pid_in FILE MARKER: print the pid FILE names if that process runs with MARKER on its command
# line (a stale pid file whose pid was reused by another process does not count)
pid_in() {
    local pid cmd
    [ -f "$1" ] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    case " $cmd " in *" $2 "*) printf '%s' "$pid" ;; *) return 1 ;; esac
}

# stop_pid LABEL PID SIGNAL [LAST-SIGNAL]: SIGNAL, wait up to CRMFLOW_STOP_TIMEOUT, then
# LAST-SIGNAL (if given, 5 s more), then SIGKILL
stop_pid() {
    local label=$1 pid=$2 sig=$3 last=${4:-} t0 i
    t0=$(now)
    printf '%s: stopping %s (pid %s) ...' "$PROG" "$label" "$pid"
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < CRMFLOW_STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { printf ' stopped after %s s\n' "$(since "$t0")"; return 0; }
        sleep 0.1
    done
    if [ -n "$last" ]; then
        printf ' still running after %s s, SIG%s ...' "$CRMFLOW_STOP_TIMEOUT" "$last"
        kill "-$last" "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || { printf ' stopped\n'; return 0; }
            sleep 0.1
        done
    fi
    printf ' still running after %s s, SIGKILL\n' "$CRMFLOW_STOP_TIMEOUT"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    die "$label (pid $pid) survived SIGKILL"
}
