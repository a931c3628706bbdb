#!/usr/bin/env bash
# End-to-end check of deploy/connect/crmflow-outbox.json on the running local stack: a throwaway
# database migrated by the project's migrations (its outbox table and publication), a copy of the
# connector config pointed at it (own name, slot, topic prefix and topics), then
#   - an insert with a JSON payload  -> key = aggregate_id, headers id/practiceId/.../rulesSeq,
#                                       value = the payload's JSON text, on <prefix>patient
#   - an insert with payload NULL    -> a tombstone (value null) on <prefix>rule
#   - an UPDATE and a DELETE         -> nothing (the publication publishes inserts only)
#   - writes to another table only   -> the slot's confirmed_flush_lsn still advances (heartbeat
#                                       action query + logical decoding message)
# and removes everything again (connector, slot, database, topics) unless SMOKE_KEEP=1.
#
# Usage: deploy/local/stack.sh start all && deploy/local/outbox-smoke.sh
# Env: SMOKE_DB (crmflow_infra_test), SMOKE_TOPIC_PREFIX (crmtest.; crm. routes like production,
#      into the real topics), SMOKE_KEEP=1 keeps it all for a look.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$HERE/env.sh"
PROG=smoke
# shellcheck source=lib.sh
. "$HERE/lib.sh"
STACK=$HERE/stack.sh
DB=${SMOKE_DB:-crmflow_infra_test}
PREFIX=${SMOKE_TOPIC_PREFIX:-crmtest.}
NAME=crmflow-infra-test
SLOT=crmflow_infra_test
LOGICAL=crmflow_infra_test
export PGPASSWORD=$CRMFLOW_PG_PASSWORD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

psql_db() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$CRMFLOW_PG_HOST" -p "$CRMFLOW_PG_PORT" -U "$CRMFLOW_PG_USER" -d "$1" "${@:2}"; }
slot_active() { psql_db "$CRMFLOW_PG_DB" -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT' AND active"; }

cleanup() {
    "$STACK" unregister "$NAME" >/dev/null 2>&1 || true
    for _ in $(seq 50); do [ "$(slot_active)" = 0 ] && break; sleep 0.2; done
    psql_db "$CRMFLOW_PG_DB" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
    psql_db "$CRMFLOW_PG_DB" -c "DROP DATABASE IF EXISTS $DB" 2>/dev/null
    "$STACK" topics --delete --if-exists --topic "${PREFIX}patient" 2>/dev/null || true
    "$STACK" topics --delete --if-exists --topic "${PREFIX}rule" 2>/dev/null || true
    "$STACK" topics --delete --if-exists --topic "__debezium-heartbeat.$LOGICAL" 2>/dev/null || true
}

say "throwaway database $DB, migrated (outbox_events and publication crmflow_outbox)"
need_python
cleanup
psql_db "$CRMFLOW_PG_DB" -c "CREATE DATABASE $DB"
CRMFLOW_PG_DB=$DB "$PYTHON" -m crmflow migrate >"$WORK/migrate.log" 2>&1 \
    || { cat "$WORK/migrate.log" >&2; die "crmflow migrate of $DB failed"; }
psql_db "$DB" -c "CREATE TABLE public.not_published (id bigserial PRIMARY KEY, v text)"

say "topics ${PREFIX}patient (3 partitions) and ${PREFIX}rule (compacted)"
"$STACK" topics --create --if-not-exists --topic "${PREFIX}patient" --partitions 3 --replication-factor 1 2>/dev/null
"$STACK" topics --create --if-not-exists --topic "${PREFIX}rule" --partitions 1 --replication-factor 1 \
    --config cleanup.policy=compact 2>/dev/null

say "connector $NAME: deploy/connect/crmflow-outbox.json with its own database, slot and topics"
python3 - "$CRMFLOW_ROOT/deploy/connect/crmflow-outbox.json" "$WORK/connector.json" "$NAME" "$DB" "$SLOT" "$LOGICAL" "$PREFIX" <<'PY'
import json, sys
src, dst, name, db, slot, logical, prefix = sys.argv[1:]
d = json.load(open(src))
d["name"] = name
c = d["config"]
c["database.dbname"] = db
c["slot.name"] = slot
c["topic.prefix"] = logical
c["transforms.outbox.route.topic.replacement"] = prefix + "${routedByValue}"
json.dump(d, open(dst, "w"), indent=2)
PY
"$STACK" register "$WORK/connector.json"

say "insert: a patient event, a rule event and a rule tombstone (payload NULL); then UPDATE + DELETE"
psql_db "$DB" <<'SQL'
INSERT INTO outbox_events (id, practice_id, aggregate_type, aggregate_id, event_name, payload, correlation_id, causation_id, depth) VALUES
  ('8a0e6f5e-3c1d-4a7e-9d55-0b2b3f1c9a01', '11111111-2222-3333-4444-555555555555', 'patient', 'pat-42', 'patient.created',
   '{"patientId":"pat-42","name":"Ada Lovelace","tags":["vip","new"],"balance":12.50,"note":"caf\u00e9 \"q\"","n":1e3}',
   'corr-1', NULL, 0);
INSERT INTO outbox_events (id, practice_id, aggregate_type, aggregate_id, event_name, payload, correlation_id, causation_id, depth) VALUES
  ('8a0e6f5e-3c1d-4a7e-9d55-0b2b3f1c9a02', '11111111-2222-3333-4444-555555555555', 'rule', 'rule-7', 'rule.upserted',
   '{"ruleId": "rule-7", "enabled": true}', 'corr-2', 'cause-2', 1);
INSERT INTO outbox_events (id, practice_id, aggregate_type, aggregate_id, event_name, payload, correlation_id, causation_id, depth) VALUES
  ('8a0e6f5e-3c1d-4a7e-9d55-0b2b3f1c9a03', '11111111-2222-3333-4444-555555555555', 'rule', 'rule-7', 'rule.deleted',
   NULL, 'corr-3', 'cause-3', 1);
UPDATE outbox_events SET status = 'sent';
DELETE FROM outbox_events WHERE aggregate_type = 'rule';
SQL
psql_db "$DB" -c "SELECT aggregate_type, id, aggregate_id, event_name, coalesce(payload::text, '<NULL>') FROM outbox_events ORDER BY id" \
    -F $'\t' >"$WORK/expected.tsv"

consume() {   # consume TOPIC N
    "$STACK" consume --topic "$1" --from-beginning --max-messages "$2" --timeout-ms 20000 \
        --formatter-property print.key=true --formatter-property print.headers=true \
        --formatter-property 'null.literal=<NULL>' 2>/dev/null
}
say "console consumer, ${PREFIX}patient and ${PREFIX}rule (headers<TAB>key<TAB>value):"
{ consume "${PREFIX}patient" 1; consume "${PREFIX}rule" 2; } | tee "$WORK/got.tsv" | sed 's/^/    /'

python3 - "$WORK/got.tsv" <<'PY' || exit 1
import sys
rows = [line.rstrip("\n").split("\t", 2) for line in open(sys.argv[1]) if line.strip()]
want = [
    # key, headers (subset), value
    ("pat-42", {"id": "8a0e6f5e-3c1d-4a7e-9d55-0b2b3f1c9a01", "practiceId": "11111111-2222-3333-4444-555555555555",
                "eventName": "patient.created", "correlationId": "corr-1", "causationId": "<NULL>",
                "rulesSeq": "0"},
     # jsonb's own text form: keys re-ordered, ", " and ": " spacing, 1e3 -> 1000
     '{"n": 1000, "name": "Ada Lovelace", "note": "caf\u00e9 \\"q\\"", "tags": ["vip", "new"], "balance": 12.50, "patientId": "pat-42"}'),
    ("rule-7", {"id": "8a0e6f5e-3c1d-4a7e-9d55-0b2b3f1c9a02", "eventName": "rule.upserted", "causationId": "cause-2"},
     '{"ruleId": "rule-7", "enabled": true}'),
    ("rule-7", {"id": "8a0e6f5e-3c1d-4a7e-9d55-0b2b3f1c9a03", "eventName": "rule.deleted"}, "<NULL>"),
]
passed = failed = 0
if len(rows) != len(want):
    print(f"smoke: FAIL expected {len(want)} records, got {len(rows)}")
    failed += 1
for (headers, key, value), (wkey, wheaders, wvalue) in zip(rows, want):
    got_headers = dict(h.split(":", 1) for h in headers.split(","))
    checks = [("key", key, wkey), ("value", value, wvalue)]
    checks += [(f"header {k}", got_headers.get(k), v) for k, v in wheaders.items()]
    checks += [("no extra __debezium headers", [h for h in got_headers if h.startswith("__")], [])]
    for what, got, expected in checks:
        if got == expected:
            passed += 1
        else:
            failed += 1
            print(f"smoke: FAIL {wkey} {what}: got {got!r}, expected {expected!r}")
print(f"smoke: records: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

say "slot advance with writes to an unpublished table only (heartbeat every 10 s) ..."
start_lsn=$(psql_db "$DB" -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT'")
psql_db "$DB" -c "INSERT INTO not_published (v) SELECT md5(g::text) FROM generate_series(1, 50000) g"
target=$(psql_db "$DB" -c "SELECT pg_current_wal_lsn()")
t0=$SECONDS
while :; do
    lsn=$(psql_db "$DB" -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT'")
    if [ "$(psql_db "$DB" -c "SELECT '$lsn'::pg_lsn >= '$target'::pg_lsn")" = t ]; then
        say "confirmed_flush_lsn $start_lsn -> $lsn (past $target) after $((SECONDS - t0)) s"
        break
    fi
    if [ $((SECONDS - t0)) -gt 40 ]; then
        say "FAIL: confirmed_flush_lsn stuck at $lsn (WAL at $target) for 40 s"
        exit 1
    fi
    sleep 1
done

if [ "${SMOKE_KEEP:-0}" = 1 ]; then
    say "kept: connector $NAME, slot $SLOT, database $DB, topics ${PREFIX}patient ${PREFIX}rule"
else
    cleanup
    say "cleaned up: connector, slot, database, topics"
fi
say "outbox smoke test passed"
