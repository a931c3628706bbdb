# shellcheck shell=bash
# Environment of an isolated test stack: `. deploy/local/test-env.sh [SLOT]` (default 0).
#
# Each slot has its own run folder (.run/test<SLOT>) and ports, so a test stack runs beside the
# `make up` stack, and several engineers (or CI jobs) can run tests on one machine at once.
# `make test` uses slot 0 (TEST_SLOT=<n> picks another).
_slot=${1:-${TEST_SLOT:-0}}
_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRMFLOW_RUN_DIR="$(cd "$_here/../.." && pwd)/.run/test$_slot"
export CRMFLOW_RUN_DIR
export CRMFLOW_PG_PORT=$((55440 + _slot))
export CRMFLOW_KAFKA_PORT=$((19092 + 10 * _slot))
export CRMFLOW_KAFKA_CONTROLLER_PORT=$((19093 + 10 * _slot))
export CRMFLOW_CONNECT_PORT=$((18083 + 10 * _slot))
export CRMFLOW_API_PORT=$((18000 + 10 * _slot))
export CRMFLOW_EVALUATOR_PORT=$((18001 + 10 * _slot))
export CRMFLOW_RUNNER_PORT=$((18002 + 10 * _slot))
export CRMFLOW_SUPERVISOR_PORT=$((18004 + 10 * _slot))
# The tests' webhook receivers listen on this machine's loopback: only the test stack may reach it.
export CRMFLOW_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8
unset CRMFLOW_KAFKA_BOOTSTRAP CRMFLOW_CONNECT_URL CRMFLOW_DATABASE_URL CRMFLOW_SUPERVISOR_URL
# shellcheck source=deploy/local/env.sh
. "$_here/env.sh"
unset _slot _here
