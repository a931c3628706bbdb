# shellcheck shell=bash
# crmflow local stack: the ONE place for default ports, credentials and folders.
#
#   . deploy/local/env.sh        # from bash/sh scripts and Makefile recipes
#   eval "$(deploy/local/stack.sh env)"   # same, printed as export lines
#
# Every value can be overridden by setting the variable before sourcing.
# Only plain `${VAR:-default}` expansions, so it is also valid POSIX sh.

# Repository root (this file lives in <repo>/deploy/local).
if [ -z "${CRMFLOW_ROOT:-}" ]; then
    if [ -n "${BASH_SOURCE:-}" ]; then
        CRMFLOW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    else
        CRMFLOW_ROOT=$(pwd)
    fi
fi
export CRMFLOW_ROOT

# Downloaded jars and the Debezium plugin: outside git, shared by all clones.
export CRMFLOW_CACHE_DIR="${CRMFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crmflow}"
# Data, logs and pid files of the running stack (git-ignored).
export CRMFLOW_RUN_DIR="${CRMFLOW_RUN_DIR:-$CRMFLOW_ROOT/.run}"

# PostgreSQL (project-local cluster, own port, 127.0.0.1 only)
export CRMFLOW_PG_HOST="${CRMFLOW_PG_HOST:-127.0.0.1}"
export CRMFLOW_PG_PORT="${CRMFLOW_PG_PORT:-55432}"
export CRMFLOW_PG_USER="${CRMFLOW_PG_USER:-crmflow}"
export CRMFLOW_PG_PASSWORD="${CRMFLOW_PG_PASSWORD:-crmflow}"
export CRMFLOW_PG_DB="${CRMFLOW_PG_DB:-crmflow}"
export CRMFLOW_DATABASE_URL="${CRMFLOW_DATABASE_URL:-postgresql://$CRMFLOW_PG_USER:$CRMFLOW_PG_PASSWORD@$CRMFLOW_PG_HOST:$CRMFLOW_PG_PORT/$CRMFLOW_PG_DB}"

# Kafka (KRaft, single node)
export CRMFLOW_KAFKA_HOST="${CRMFLOW_KAFKA_HOST:-127.0.0.1}"
export CRMFLOW_KAFKA_PORT="${CRMFLOW_KAFKA_PORT:-9092}"
export CRMFLOW_KAFKA_CONTROLLER_PORT="${CRMFLOW_KAFKA_CONTROLLER_PORT:-9093}"
export CRMFLOW_KAFKA_BOOTSTRAP="${CRMFLOW_KAFKA_BOOTSTRAP:-$CRMFLOW_KAFKA_HOST:$CRMFLOW_KAFKA_PORT}"

# Kafka Connect (distributed worker, REST API)
export CRMFLOW_CONNECT_HOST="${CRMFLOW_CONNECT_HOST:-127.0.0.1}"
export CRMFLOW_CONNECT_PORT="${CRMFLOW_CONNECT_PORT:-8083}"
export CRMFLOW_CONNECT_URL="${CRMFLOW_CONNECT_URL:-http://$CRMFLOW_CONNECT_HOST:$CRMFLOW_CONNECT_PORT}"

# crmflow's services (deploy/local/services.sh): rules-api, evaluator, action-runner
export CRMFLOW_API_PORT="${CRMFLOW_API_PORT:-8000}"
export CRMFLOW_EVALUATOR_PORT="${CRMFLOW_EVALUATOR_PORT:-8001}"
export CRMFLOW_RUNNER_PORT="${CRMFLOW_RUNNER_PORT:-8002}"
# connect-supervisor (stack.sh starts it with Connect): /healthz, /status, /metrics
export CRMFLOW_SUPERVISOR_PORT="${CRMFLOW_SUPERVISOR_PORT:-8004}"
export CRMFLOW_SUPERVISOR_URL="${CRMFLOW_SUPERVISOR_URL:-http://127.0.0.1:$CRMFLOW_SUPERVISOR_PORT}"

# JVM heaps (2 shared cores: keep them modest)
export CRMFLOW_KAFKA_HEAP_OPTS="${CRMFLOW_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
export CRMFLOW_CONNECT_HEAP_OPTS="${CRMFLOW_CONNECT_HEAP_OPTS:--Xms128m -Xmx512m}"

# Seconds to wait for a component to come up / to stop before SIGKILL.
export CRMFLOW_START_TIMEOUT="${CRMFLOW_START_TIMEOUT:-90}"
export CRMFLOW_STOP_TIMEOUT="${CRMFLOW_STOP_TIMEOUT:-30}"
