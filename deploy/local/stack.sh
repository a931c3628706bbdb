#!/usr/bin/env bash
# crmflow local stack without Docker: PostgreSQL 15 (project-local cluster), Kafka (KRaft,
# single node, jars from Maven Central), Kafka Connect with the Debezium PostgreSQL plugin, and
# crmflow's connect-supervisor (restarts a FAILED connector or task; python -m crmflow_supervisor).
#
# Usage: deploy/local/stack.sh COMMAND [ARGS]
#   install                    apt-get postgresql if missing; Kafka jars + Debezium plugin into
#                              $CRMFLOW_CACHE_DIR (default ~/.cache/crmflow). Idempotent.
#   start [pg|kafka|connect|supervisor|all]   start (default all); running ones are left alone
#   stop  [pg|kafka|connect|supervisor|all]   stop what this script started (pid files), in
#                              reverse order: supervisor->connect->kafka->pg
#   restart [COMPONENT|all]
#   status                     table: component, pid, port, up/down (+ connectors)
#   register [FILE]            PUT a connector config (default deploy/connect/crmflow-outbox.json)
#                              and wait until connector and task are RUNNING (register_connector.py)
#   unregister NAME            stop a connector, delete its stored offsets, delete it
#                              (its replication slot stays in PostgreSQL; crmflow connector unregister)
#   recover                    after a lost replication slot: re-create connector and slot, re-emit
#                              the outbox rows not streamed (crmflow connector recover)
#   reset                      stop everything and delete the run folder (all data)
#   logs [COMPONENT] [-f]      last lines of a component's log (or follow it)
#   env                        print the stack's environment as export lines
#   psql [ARGS]                psql as the crmflow role
#   topics ARGS                org.apache.kafka.tools.TopicCommand --bootstrap-server ... ARGS
#   consume ARGS               org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server ... ARGS
#   kafka-class CLASS [ARGS]   any class on the Kafka classpath (tools logging)
#
# Settings (ports, folders, credentials, heaps): deploy/local/env.sh.
# Layout: <run>/logs/<name>.log, <run>/pids/<name>.pid, <run>/pg (PGDATA), <run>/kafka, <run>/connect.
# The Connect REST calls are Python's (crmflow.connect, through the crmflow CLI); the rest is shell.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true   # bash 5.2: '&' in ${x//a/b} is literal

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$HERE/env.sh"
PROG=stack
# shellcheck source=lib.sh
. "$HERE/lib.sh"

RUN=$(realpath -m "$CRMFLOW_RUN_DIR")
CACHE=$(realpath -m "$CRMFLOW_CACHE_DIR")
LIB=$CACHE/lib
PLUGINS=$CACHE/plugins
LOGS=$RUN/logs
PIDS=$RUN/pids
KAFKA_DIR=$RUN/kafka
KAFKA_DATA_DIR=$KAFKA_DIR/data
CONNECT_DIR=$RUN/connect
CONNECTOR_FILE=$CRMFLOW_ROOT/deploy/connect/crmflow-outbox.json
# service_load only finds plugins with META-INF/services manifests (Debezium ships them) and
# starts the worker seconds faster than scanning every jar; hybrid_warn is Kafka's default.
# shellcheck disable=SC2034  # used in connect-distributed.properties.in via render
CONNECT_PLUGIN_DISCOVERY=${CRMFLOW_CONNECT_PLUGIN_DISCOVERY:-service_load}
# bump when the cache layout changes, to force a re-install
INSTALL_LAYOUT=1
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
JVM_COMMON=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true)

is_root() { [ "$(id -u)" -eq 0 ]; }
as_root() {
    if is_root; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root for: $* (no sudo found)"; fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: binaries, OS user, folders
# ---------------------------------------------------------------------------------------------
pg_bin_dir() {
    if [ -n "${CRMFLOW_PG_BIN:-}" ]; then printf '%s' "$CRMFLOW_PG_BIN"; return; fi
    if [ -x /usr/lib/postgresql/15/bin/postgres ]; then printf '%s' /usr/lib/postgresql/15/bin; return; fi
    # another Debian/Ubuntu major (>= 14 has what Debezium's pgoutput needs): take the newest
    local d
    d=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && printf '%s' "${d%/postgres}"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the 'postgres' system user.
if is_root; then PG_OS_USER=postgres; else PG_OS_USER=$(id -un); fi
run_pg() {
    if is_root; then (cd / && runuser -u "$PG_OS_USER" -- "$@"); else "$@"; fi
}

# PGDATA is <run>/pg, unless (as root) the postgres user cannot reach the run folder
# (say a clone under /root): then a folder under /var/tmp, recorded in <run>/pg.location.
pg_paths() {
    PG_BASE=$RUN
    if [ -f "$RUN/pg.location" ]; then
        PG_BASE=$(<"$RUN/pg.location")
    elif is_root && [ -d "$RUN" ] && ! runuser -u "$PG_OS_USER" -- test -x "$RUN"; then
        PG_BASE=/var/tmp/crmflow-pg-$(printf '%s' "$RUN" | cksum | cut -d' ' -f1)
        warn "user $PG_OS_USER cannot reach $RUN; PostgreSQL data goes to $PG_BASE"
        printf '%s\n' "$PG_BASE" >"$RUN/pg.location"
    fi
    PG_DATA=$PG_BASE/pg
    PG_SOCKET_DIR=$PG_BASE/pgsock
    # unix socket paths are limited to 107 bytes
    if [ $(( ${#PG_SOCKET_DIR} + 20 )) -gt 100 ]; then
        PG_SOCKET_DIR=/tmp/crmflow-pgsock-$(printf '%s' "$RUN" | cksum | cut -d' ' -f1)
    fi
}

# ---------------------------------------------------------------------------------------------
# helpers: templates, pids, ports, waiting
# ---------------------------------------------------------------------------------------------
# render TEMPLATE: print it with every @NAME@ (outside # comments) replaced by the value of
# shell variable NAME
render() {
    local line name
    while IFS= read -r line || [ -n "$line" ]; do
        if [[ $line != '#'* ]]; then
            while [[ $line =~ @([A-Z][A-Z0-9_]*)@ ]]; do
                name=${BASH_REMATCH[1]}
                [[ -v $name ]] || die "$1: no value for @$name@"
                line=${line//@$name@/${!name}}
            done
        fi
        printf '%s\n' "$line"
    done <"$1"
}

ensure_run_dirs() {
    mkdir -p "$LOGS" "$PIDS"
    [ -f "$RUN/.crmflow-run" ] || printf 'crmflow local stack run folder (stack.sh reset deletes it)\n' >"$RUN/.crmflow-run"
}

port_of() {
    case $1 in
        pg) printf '%s' "$CRMFLOW_PG_PORT" ;;
        kafka) printf '%s' "$CRMFLOW_KAFKA_PORT" ;;
        connect) printf '%s' "$CRMFLOW_CONNECT_PORT" ;;
        supervisor) printf '%s' "$CRMFLOW_SUPERVISOR_PORT" ;;
    esac
}
host_of() {
    case $1 in
        pg) printf '%s' "$CRMFLOW_PG_HOST" ;;
        kafka) printf '%s' "$CRMFLOW_KAFKA_HOST" ;;
        connect) printf '%s' "$CRMFLOW_CONNECT_HOST" ;;
        supervisor) printf '127.0.0.1' ;;
    esac
}
port_var_of() {
    case $1 in
        pg) printf 'CRMFLOW_PG_PORT' ;;
        kafka) printf 'CRMFLOW_KAFKA_PORT' ;;
        connect) printf 'CRMFLOW_CONNECT_PORT' ;;
        supervisor) printf 'CRMFLOW_SUPERVISOR_PORT' ;;
    esac
}
label_of() {
    case $1 in
        pg) printf 'PostgreSQL' ;;
        kafka) printf 'Kafka' ;;
        connect) printf 'Kafka Connect' ;;
        supervisor) printf 'connect-supervisor' ;;
    esac
}

# shellcheck disable=SC2016
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# the marker a process of ours has on its command line
marker_of() {
    case $1 in
        pg) pg_paths; printf '%s' "-D $PG_DATA" ;;
        supervisor) printf '%s' "-m crmflow_supervisor" ;;
        *) printf '%s' "-Dcrmflow.component=$1 -Dcrmflow.run=$RUN" ;;
    esac
}

# print the pid of component $1 if its pid file names a live process of ours
pid_of() { pid_in "$PIDS/$1.pid" "$(marker_of "$1")"; }

rotate_log() {
    local log=$LOGS/$1.log
    if [ -s "$log" ]; then mv -f "$log" "$log.1"; fi
    : >"$log"
}

fail_start() {   # fail_start NAME MESSAGE
    local log=$LOGS/$1.log pid
    printf 'stack: ERROR: %s; last lines of %s:\n' "$2" "$log" >&2
    tail -n 40 "$log" | sed 's/^/    /' >&2 || true
    if pid=$(pid_of "$1"); then
        printf 'stack: it still runs as pid %s, left for a look: %s stop %s\n' "$pid" "$0" "$1" >&2
    fi
    exit 1
}

# wait_up NAME CHECK-COMMAND...: poll until CHECK succeeds, the process dies, or the timeout
# (times count from LAUNCH_T0, set just before the process was launched)
LAUNCH_T0=
wait_up() {
    local name=$1 label t0=${LAUNCH_T0:-$(now)} timeout=$CRMFLOW_START_TIMEOUT
    shift
    label=$(label_of "$name")
    printf 'stack: waiting for %s on %s:%s ...' "$label" "$(host_of "$name")" "$(port_of "$name")"
    while :; do
        if "$@"; then printf ' up after %s s\n' "$(since "$t0")"; return 0; fi
        if ! pid_of "$name" >/dev/null; then
            printf ' exited\n'
            fail_start "$name" "$label exited during start-up"
        fi
        if awk -v a="$t0" -v b="$(now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then
            printf ' timeout\n'
            fail_start "$name" "$label did not start within $timeout s"
        fi
        sleep 0.3
    done
}

# launch NAME COMMAND...: detached (own session), pid file written by the process itself (bash
# execs into COMMAND, so the pid is COMMAND's)
launch() {
    local name=$1 i
    shift
    LAUNCH_T0=$(now)
    rm -f "$PIDS/$name.pid"
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$0"
        for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
        exec "$@"' "$PIDS/$name.pid" "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
    for ((i = 0; i < 50; i++)); do [ -s "$PIDS/$name.pid" ] && return 0; sleep 0.1; done
    fail_start "$name" "$(label_of "$name") did not launch"
}

# launch_java NAME HEAP-OPTS LOG4J2-FILE MAIN-CLASS ARGS...
launch_java() {
    local name=$1 heap=$2 log4j=$3 main=$4
    shift 4
    local -a heap_opts
    read -r -a heap_opts <<<"$heap"
    launch "$name" "$JAVA" "${heap_opts[@]}" "${JVM_COMMON[@]}" \
        "-Dlog4j2.configurationFile=$log4j" "-Dcrmflow.component=$name" "-Dcrmflow.run=$RUN" \
        -cp "$LIB/*" "$main" "$@"
}

kafka_tool() {   # kafka_tool CLASS ARGS...: run a Kafka CLI class in the foreground
    jars_installed || die "Kafka jars not installed: run $0 install"
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        "-Dlog4j2.configurationFile=$HERE/log4j2-tools.properties" -cp "$LIB/*" "$@"
}

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------
apt_install() {
    say "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; } \
        || die "apt-get install $* failed"
}

install_pg() {
    local bin
    if [ -x /usr/lib/postgresql/15/bin/postgres ]; then
        say "PostgreSQL 15: present (/usr/lib/postgresql/15/bin)"
        return
    fi
    if [ -n "${CRMFLOW_PG_BIN:-}" ] && [ -x "$CRMFLOW_PG_BIN/postgres" ]; then
        say "PostgreSQL: using CRMFLOW_PG_BIN=$CRMFLOW_PG_BIN"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL 15 missing and no apt-get: install it and set CRMFLOW_PG_BIN"
    apt_install postgresql
    bin=$(pg_bin_dir) || true
    [ -n "$bin" ] || die "apt-get installed postgresql but no server binary under /usr/lib/postgresql"
    case $bin in
        */15/bin) say "PostgreSQL 15: installed ($bin)" ;;
        *) warn "this distribution's postgresql is not 15: using $bin (set CRMFLOW_PG_BIN to choose)" ;;
    esac
}

install_tools() {
    local -a pkgs=()
    command -v "$JAVA" >/dev/null 2>&1 || pkgs+=(default-jdk-headless)
    command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
    command -v curl >/dev/null 2>&1 || pkgs+=(curl)
    command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
    if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
}

install_key() {
    { cat "$HERE/pom.xml"; printf 'layout=%s\n' "$INSTALL_LAYOUT"; } | sha256sum | cut -c1-16
}
jars_installed() {
    [ -f "$CACHE/.installed" ] && [ "$(<"$CACHE/.installed")" = "$(install_key)" ] \
        && [ -d "$LIB" ] && [ -d "$PLUGINS/debezium-connector-postgres" ]
}

JARS_CHECKED=0
install_jars() {   # serialised between concurrent callers; the lock is not inherited
    [ "$JARS_CHECKED" = 0 ] || return 0
    JARS_CHECKED=1
    mkdir -p "$CACHE"
    (
        if command -v flock >/dev/null 2>&1; then flock 9; fi
        install_jars_locked
    ) 9>"$CACHE/.lock"
}

install_jars_locked() {
    local t0 tmp n
    if jars_installed; then
        say "Kafka + Connect jars and Debezium plugin: up to date ($CACHE, key $(install_key))"
        return
    fi
    t0=$(now)
    say "downloading Kafka + Connect jars and the Debezium plugin with Maven into $CACHE ..."
    tmp=$(mktemp -d "$CACHE/.install.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies@lib dependency:unpack@debezium \
        "-Dcrmflow.lib.dir=$tmp/lib" "-Dcrmflow.plugins.dir=$tmp/plugins" >"$tmp/mvn.log" 2>&1 \
        || { sed 's/\x1b\[[0-9;]*m//g' "$tmp/mvn.log" >&2; die "Maven failed (output above); pom: $HERE/pom.xml"; }
    rm -rf "$tmp/plugins/.markers"
    compgen -G "$tmp/plugins/debezium-connector-postgres/debezium-connector-postgres-*.jar" >/dev/null \
        || die "Debezium plugin tarball did not unpack into $tmp/plugins"
    rm -rf "$LIB" "$PLUGINS"
    mv "$tmp/lib" "$LIB"
    mv "$tmp/plugins" "$PLUGINS"
    install_key >"$CACHE/.installed"
    n=$(find "$LIB" -name '*.jar' | wc -l)
    say "installed $n jars into $LIB and $(find "$PLUGINS" -mindepth 1 -maxdepth 1 -type d | wc -l) plugin(s) into $PLUGINS in $(since "$t0") s"
}

cmd_install() {
    local t0
    t0=$(now)
    install_pg
    install_tools
    install_jars
    say "install done in $(since "$t0") s"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
pg_ready() { "$PG_BIN/pg_isready" -q -h "$CRMFLOW_PG_HOST" -p "$CRMFLOW_PG_PORT" -d postgres; }

pg_admin() {   # psql as the cluster's superuser over the unix socket (peer authentication)
    run_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$CRMFLOW_PG_PORT" \
        -U "$PG_OS_USER" -d postgres "$@"
}

pg_write() {   # pg_write FILE: stdin into FILE, owned by the PostgreSQL OS user
    if is_root; then run_pg tee "$1" >/dev/null; else cat >"$1"; fi
}

start_pg() {
    local pid i
    PG_BIN=$(pg_bin_dir) || true
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/postgres" ]; then
        die "PostgreSQL server not installed: run $0 install"
    fi
    if is_root && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        die "running as root needs the '$PG_OS_USER' system user (created by Debian's postgresql package)"
    fi
    pg_paths
    if [ "$PG_BASE" != "$RUN" ]; then mkdir -p "$PG_BASE"; chmod 755 "$PG_BASE"; fi
    mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
    if is_root; then chown "$PG_OS_USER:" "$PG_DATA" "$PG_SOCKET_DIR"; fi
    chmod 700 "$PG_DATA"
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        say "initdb $PG_DATA (superuser $PG_OS_USER)"
        run_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_OS_USER" --encoding=UTF8 --no-locale \
            --auth-local=peer --auth-host=scram-sha-256 >"$LOGS/pg-initdb.log" 2>&1 \
            || { cat "$LOGS/pg-initdb.log" >&2; die "initdb failed"; }
        printf "\n# crmflow: local settings (rendered from deploy/local/postgresql.conf.in)\ninclude_if_exists = 'crmflow.conf'\n" \
            | run_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
    # re-rendered on every start, so edits to the templates take effect
    render "$HERE/postgresql.conf.in" | pg_write "$PG_DATA/crmflow.conf"
    render "$HERE/pg_hba.conf.in" | pg_write "$PG_DATA/pg_hba.conf"
    rotate_log pg
    rm -f "$PIDS/pg.pid"
    # the log file is opened here (root may own it) and inherited by the server
    LAUNCH_T0=$(now)
    run_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -W start >>"$LOGS/pg.log" 2>&1 \
        || fail_start pg "pg_ctl start failed"
    for ((i = 0; i < 100; i++)); do
        if [ -r "$PG_DATA/postmaster.pid" ] && pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) && [ -n "$pid" ]; then
            printf '%s\n' "$pid" >"$PIDS/pg.pid"
            break
        fi
        sleep 0.1
    done
    [ -s "$PIDS/pg.pid" ] || fail_start pg "PostgreSQL did not write $PG_DATA/postmaster.pid"
    wait_up pg pg_ready
    pg_bootstrap
}

# role + database, idempotent (password re-applied, so env changes take effect)
pg_bootstrap() {
    pg_admin -v user="$CRMFLOW_PG_USER" -v pass="$CRMFLOW_PG_PASSWORD" -v db="$CRMFLOW_PG_DB" <<'SQL' \
        || die "could not create role/database $CRMFLOW_PG_USER/$CRMFLOW_PG_DB"
SELECT format('CREATE ROLE %I', :'user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN REPLICATION CREATEDB PASSWORD %L', :'user', :'pass') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    say "PostgreSQL: role $CRMFLOW_PG_USER (LOGIN REPLICATION CREATEDB) and database $CRMFLOW_PG_DB ready; $CRMFLOW_DATABASE_URL"
}

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------
kafka_ready() {
    port_open "$CRMFLOW_KAFKA_HOST" "$CRMFLOW_KAFKA_PORT" \
        && grep -q 'Kafka Server started' "$LOGS/kafka.log"
}

start_kafka() {
    local cluster_id
    mkdir -p "$KAFKA_DATA_DIR"
    render "$HERE/server.properties.in" >"$KAFKA_DIR/server.properties"
    if [ ! -f "$KAFKA_DATA_DIR/meta.properties" ]; then
        if [ ! -s "$KAFKA_DIR/cluster.id" ]; then
            kafka_tool kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster.id"
        fi
        cluster_id=$(<"$KAFKA_DIR/cluster.id")
        say "formatting Kafka storage $KAFKA_DATA_DIR (cluster id $cluster_id, standalone KRaft quorum)"
        kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
            --standalone >"$LOGS/kafka-format.log" 2>&1 \
            || { cat "$LOGS/kafka-format.log" >&2; die "Kafka storage format failed"; }
    fi
    rotate_log kafka
    launch_java kafka "$CRMFLOW_KAFKA_HEAP_OPTS" "$HERE/log4j2-kafka.properties" kafka.Kafka \
        "$KAFKA_DIR/server.properties"
    wait_up kafka kafka_ready
}

# ---------------------------------------------------------------------------------------------
# Kafka Connect
# ---------------------------------------------------------------------------------------------
connect_ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$CRMFLOW_CONNECT_URL/health")" = 200 ]
}

start_connect() {
    pid_of kafka >/dev/null || port_open "$CRMFLOW_KAFKA_HOST" "$CRMFLOW_KAFKA_PORT" \
        || die "Kafka is not running on $CRMFLOW_KAFKA_BOOTSTRAP: start kafka first"
    mkdir -p "$CONNECT_DIR"
    render "$HERE/connect-distributed.properties.in" >"$CONNECT_DIR/connect-distributed.properties"
    rotate_log connect
    # CRMFLOW_PG_* are exported (env.sh): connector configs read them via ${env:...}
    launch_java connect "$CRMFLOW_CONNECT_HEAP_OPTS" "$HERE/log4j2-connect.properties" \
        org.apache.kafka.connect.cli.ConnectDistributed "$CONNECT_DIR/connect-distributed.properties"
    wait_up connect connect_ready
}

# ---------------------------------------------------------------------------------------------
# connect-supervisor (services/connect-supervisor): needs only Connect's REST API, which it polls
# whether up or not, so it starts without waiting for Connect
# ---------------------------------------------------------------------------------------------
supervisor_ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$CRMFLOW_SUPERVISOR_PORT/healthz")" = 200 ]
}

start_supervisor() {
    need_python
    rotate_log supervisor
    launch supervisor "$PYTHON" -m crmflow_supervisor
    wait_up supervisor supervisor_ready
}

# ---------------------------------------------------------------------------------------------
# start / stop / status
# ---------------------------------------------------------------------------------------------
COMPS=()
components() {   # components ARGS...: COMPS = the named components in start order
    local c want=" "
    if [ $# -eq 0 ]; then set -- all; fi
    for c in "$@"; do
        case $c in
            all) want+="pg kafka connect supervisor " ;;
            pg | postgres | postgresql) want+="pg " ;;
            kafka | connect | supervisor) want+="$c " ;;
            *) die "unknown component '$c' (pg, kafka, connect, supervisor, all)" ;;
        esac
    done
    COMPS=()
    for c in pg kafka connect supervisor; do
        case $want in *" $c "*) COMPS+=("$c") ;; esac
    done
}

cmd_start() {
    local c pid t0
    components "$@"
    t0=$(now)
    ensure_run_dirs
    for c in "${COMPS[@]}"; do
        if pid=$(pid_of "$c"); then
            say "$(label_of "$c"): already running (pid $pid)"
            continue
        fi
        if port_open "$(host_of "$c")" "$(port_of "$c")"; then
            die "$(label_of "$c"): port $(host_of "$c"):$(port_of "$c") is taken by a process this script did not start (stop it, or set $(port_var_of "$c"))"
        fi
        case $c in
            pg) start_pg ;;
            kafka) install_jars; start_kafka ;;
            connect) install_jars; start_connect ;;
            supervisor) start_supervisor ;;
        esac
    done
    say "started in $(since "$t0") s"
}

cmd_stop() {
    local c pid i
    components "$@"
    for ((i = ${#COMPS[@]} - 1; i >= 0; i--)); do   # reverse start order: supervisor, connect, kafka, pg
        c=${COMPS[$i]}
        if pid=$(pid_of "$c"); then
            case $c in
                # fast shutdown; then immediate shutdown, kinder to PostgreSQL than SIGKILL
                pg) stop_pid "$(label_of pg)" "$pid" INT QUIT ;;
                *) stop_pid "$(label_of "$c")" "$pid" TERM ;;
            esac
        else
            say "$(label_of "$c"): not running"
        fi
        rm -f "$PIDS/$c.pid"
    done
}

cmd_status() {
    local c pid state
    printf '%-10s %-8s %-22s %s\n' COMPONENT PID ADDRESS STATE
    for c in pg kafka connect supervisor; do
        if pid=$(pid_of "$c"); then
            if port_open "$(host_of "$c")" "$(port_of "$c")"; then state=up; else state="starting (port closed)"; fi
        else
            pid=-
            if port_open "$(host_of "$c")" "$(port_of "$c")"; then state="down (port taken by another process)"; else state=down; fi
        fi
        printf '%-10s %-8s %-22s %s\n' "$c" "$pid" "$(host_of "$c"):$(port_of "$c")" "$state"
    done
    if connect_ready 2>/dev/null && [ -x "$PYTHON" ]; then
        "$PYTHON" -m crmflow connector list || true
    fi
}

# ---------------------------------------------------------------------------------------------
# connectors
# ---------------------------------------------------------------------------------------------
# One implementation for every deployment: deploy/docker/register_connector.py (the compose
# one-shot and the Helm job run it too), with the project's Python environment.
cmd_register() {
    local file=${1:-$CONNECTOR_FILE}
    [ -f "$file" ] || die "no connector file $file"
    connect_ready || die "Kafka Connect is not up at $CRMFLOW_CONNECT_URL: run $0 start"
    need_python
    "$PYTHON" "$CRMFLOW_ROOT/deploy/docker/register_connector.py" "$file" --timeout 60 \
        || die "connector from $file not RUNNING (above); worker log: $LOGS/connect.log"
}

# Deleting a connector leaves its source offsets in Connect's offsets topic; a connector
# re-created under the same name would resume from them (and fail if that WAL is gone, e.g. its
# slot was dropped). So: stop it, delete its offsets (KIP-875), then delete it.
cmd_unregister() {
    local name=${1:?usage: $0 unregister NAME}
    need_python
    "$PYTHON" -m crmflow connector unregister "$name" || die "could not unregister connector $name"
}

# A lost replication slot (docs/operations.md, section 3): re-create the connector and its slot,
# re-emit the outbox rows written meanwhile; prints what it did as JSON.
cmd_recover() {
    connect_ready || die "Kafka Connect is not up at $CRMFLOW_CONNECT_URL: run $0 start"
    need_python
    "$PYTHON" -m crmflow connector recover "${1:-$CONNECTOR_FILE}" \
        || die "recovery failed (above); worker log: $LOGS/connect.log"
}

# ---------------------------------------------------------------------------------------------
# misc
# ---------------------------------------------------------------------------------------------
cmd_reset() {
    local f pid
    # a run folder nested in this one (the Makefile's test stack: .run/test) must be stopped first
    for f in "$RUN"/*/pids/*.pid; do
        [ -f "$f" ] || continue
        pid=$(<"$f")
        if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            die "$f: pid $pid still runs in a stack nested in $RUN; stop it first (CRMFLOW_RUN_DIR=${f%/pids/*} $0 stop all)"
        fi
    done
    cmd_stop all
    if [ -e "$RUN" ]; then
        [ -f "$RUN/.crmflow-run" ] || die "$RUN has no .crmflow-run marker: not deleting it"
        pg_paths
        if [ "$PG_BASE" != "$RUN" ] && [ -d "$PG_BASE" ]; then rm -rf "$PG_BASE"; fi
        case $PG_SOCKET_DIR in /tmp/crmflow-pgsock-*) rm -rf "$PG_SOCKET_DIR" ;; esac
        rm -rf "$RUN"
        say "deleted $RUN"
    fi
}

cmd_logs() {
    local c=all follow=0 a
    for a in "$@"; do
        case $a in -f) follow=1 ;; *) c=$a ;; esac
    done
    if [ "$c" = all ]; then
        if [ $follow = 1 ]; then exec tail -F "$LOGS"/{pg,kafka,connect,supervisor}.log; fi
        for c in pg kafka connect supervisor; do
            printf '==> %s <==\n' "$LOGS/$c.log"; tail -n 20 "$LOGS/$c.log" 2>/dev/null || true
        done
        return
    fi
    components "$c"
    c=${COMPS[0]}
    if [ $follow = 1 ]; then exec tail -F "$LOGS/$c.log"; fi
    tail -n 50 "$LOGS/$c.log"
}

cmd_env() {
    local v
    for v in $(compgen -e | grep '^CRMFLOW_' | sort); do
        printf "export %s='%s'\n" "$v" "${!v//\'/\'\\\'\'}"
    done
}

usage() { awk 'NR == 1 { next } !/^#/ { exit } !/shellcheck/ { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

main() {
    local cmd=${1:-help}
    [ $# -gt 0 ] && shift
    case $cmd in
        install) cmd_install ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart) cmd_stop "$@"; cmd_start "$@" ;;
        status) cmd_status ;;
        register) cmd_register "$@" ;;
        unregister) cmd_unregister "$@" ;;
        recover) cmd_recover "$@" ;;
        reset) cmd_reset ;;
        logs) cmd_logs "$@" ;;
        env) cmd_env ;;
        psql) PGPASSWORD=$CRMFLOW_PG_PASSWORD exec psql -h "$CRMFLOW_PG_HOST" -p "$CRMFLOW_PG_PORT" \
                  -U "$CRMFLOW_PG_USER" -d "$CRMFLOW_PG_DB" "$@" ;;
        topics) kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$CRMFLOW_KAFKA_BOOTSTRAP" "$@" ;;
        consume) kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$CRMFLOW_KAFKA_BOOTSTRAP" "$@" ;;
        kafka-class) kafka_tool "$@" ;;
        help | -h | --help) usage ;;
        *) usage >&2; die "unknown command '$cmd'" ;;
    esac
}

main "$@"
