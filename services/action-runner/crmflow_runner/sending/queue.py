"""The delivery worker: sends queued messages off the partition's path, records each outcome,
and hands the run back to its partition (SPEC section 9).

Each worker thread loops: in one PostgreSQL transaction it claims the earliest due pending
delivery (``FOR UPDATE SKIP LOCKED``: several threads and runner instances never claim the same
row), gives it to its channel's :class:`Sender`, and records the outcome in the same transaction:

- ``Delivered``: the row ``delivered`` (provider id, attempts), the action logged ``succeeded``,
  and the run's rest (parked in ``scheduled_resumes`` when the send was queued) made due now: the
  scheduler sends it through the patient's partition, so the run's later actions execute there, in
  order. A run cancelled (``cancelOn``) while its message waited is not sent at all.
  An approved draft becomes ``sent``.
- ``Transient`` with attempts left: the row stays ``pending``, due again after a backoff (at least
  the provider's ``retry_after``).
- ``Permanent``, or a transient failure on the last attempt: the row ``failed``, the action logged
  ``failed``, the run's later actions ``skipped`` and the run ``failed`` (a draft ``failed`` with
  the reason); after the last attempt the delivery is also dead-lettered (reason
  ``delivery_failed``; the record holds ids, never the message).

Exactly once per (run, action index), with one window: the provider accepted a message but the
process died (or PostgreSQL failed) before the transaction recording it committed. The row is
then still ``pending`` and is sent again with the same idempotency key (e-mail ``Message-ID``,
webhook ``webhook-id``), which is how the provider, or the recipient, can recognise the repeat.
A redelivered or resumed command never queues a second delivery: the key is unique, and the
action's idempotency key (``action_executions``) was written with the queued row.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from confluent_kafka import Producer
from sqlalchemy import Connection, Engine, func, select, text, update

from crmflow import topics
from crmflow.commands import RedeliverCommand
from crmflow.db.tables import automation_action_logs, message_deliveries, message_drafts
from crmflow.deadletter import dead_letter_headers
from crmflow.statuses import ActionStatus, DeliveryStatus, ResumeStatus, RunStatus
from crmflow_runner import metrics
from crmflow_runner.delivery import Record, produce_all
from crmflow_runner.retry import backoff_seconds
from crmflow_runner.sending.outcome import Delivered, OutboundMessage, Outcome, Permanent, Sender, Transient
from crmflow_runner.statements import action_log_row

log = logging.getLogger(__name__)
SERVICE = "action-runner"
DLQ_REASON = "delivery_failed"
DLQ_SEND_TIMEOUT = 15.0

_D = message_deliveries.c
CLAIM = (
    select(message_deliveries)
    .where(_D.status == DeliveryStatus.PENDING.value, _D.next_attempt_at <= func.statement_timestamp())
    .order_by(_D.next_attempt_at)
    .limit(1)
    .with_for_update(skip_locked=True)
)
_NOW = select(func.clock_timestamp())
_RESUME = text(
    f"""
    UPDATE scheduled_resumes SET due_at = clock_timestamp()
    WHERE run_id = :run_id AND action_index = :action_index AND status = '{ResumeStatus.PENDING}'
    """
)
"""The run's rest, parked while its message was delivered (sends.PARKED), made due now."""
_RESUME_NEW = text(
    """
    INSERT INTO scheduled_resumes (run_id, action_index, practice_id, due_at, command, command_key,
                                   status, rule_id, cancel_keys)
    VALUES (:run_id, :action_index, :practice_id, clock_timestamp(), CAST(:command AS jsonb),
            :command_key, 'pending', :rule_id, :cancel_keys)
    ON CONFLICT (run_id, action_index) DO NOTHING
    """
)
"""The same for a delivery queued without a parked rest (none was written): a cancelled rest stays."""
_DROP_REST = text(
    f"""
    UPDATE scheduled_resumes SET status = '{ResumeStatus.CANCELLED}', resumed_at = clock_timestamp()
    WHERE run_id = :run_id AND action_index = :action_index AND status = '{ResumeStatus.PENDING}'
    """
)
_RUN_STATUS = text("SELECT status FROM automation_runs WHERE id = :run_id")
_FAIL_RUN = text(
    f"""
    UPDATE automation_runs SET status = '{RunStatus.FAILED}', error = :error,
           updated_at = clock_timestamp(), finished_at = clock_timestamp()
    WHERE id = :run_id AND status = '{RunStatus.WAITING}'
    """
)


class DeliveryWorker:
    def __init__(
        self,
        engine: Engine,
        senders: Mapping[str, Sender],
        producer: Producer | None,
        stop: threading.Event,
        *,
        threads: int = 4,
        poll_seconds: float = 0.25,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        commands_topic: str = topics.COMMANDS,
    ) -> None:
        self.engine = engine
        self.senders = dict(senders)
        self.producer = producer
        self.stop = stop
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.commands_topic = commands_topic

    def start(self) -> list[threading.Thread]:
        started = []
        for i in range(self.threads):
            thread = threading.Thread(target=self.run, name=f"delivery-{i}", daemon=True)
            thread.start()
            started.append(thread)
        return started

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                worked = self.work_one()
                failures = 0
            except Exception as exc:  # database or broker away: back off, try again
                worked = False
                failures += 1
                metrics.RETRIES.labels("delivery").inc()
                log.warning(
                    "delivery worker failed", extra={"error": type(exc).__name__, "failures": failures}
                )
            if not worked:
                self.stop.wait(self.poll_seconds if failures == 0 else backoff_seconds(failures, cap=5.0))

    def work_one(self) -> bool:
        """Claim, send and record one due delivery; False when none was due."""
        with self.engine.begin() as conn:
            found = conn.execute(CLAIM).mappings().first()
            if found is None:
                return False
            row = dict(found)
            run_status = conn.execute(_RUN_STATUS, {"run_id": row["run_id"]}).scalar()
            if run_status == RunStatus.CANCELLED:
                self._cancelled(conn, row)  # cancelOn while it waited: the message is not sent
                return True
            outcome = self._send(row)
            self._record(conn, row, outcome)
        return True

    def _cancelled(self, conn: Connection, row: Mapping[str, Any]) -> None:
        error = "not sent: the run was cancelled"
        _mark_failed(conn, row, error)
        self._log(conn, row, int(row["attempts"]) + 1, ActionStatus.SKIPPED, error=error)
        metrics.DELIVERIES.labels(row["channel"], "cancelled").inc()

    def _send(self, row: Mapping[str, Any]) -> Outcome:
        sender = self.senders.get(row["channel"])
        if sender is None:
            return Permanent(f"no sender configured for channel {row['channel']}")
        stored = row["message"] or {}
        message = OutboundMessage(
            channel=row["channel"],
            idempotency_key=row["idempotency_key"],
            practice_id=str(row["practice_id"]),
            to=str(stored.get("to") or ""),
            body=str(stored.get("body") or ""),
            subject=stored.get("subject"),
            headers=dict(stored.get("headers") or {}),
        )
        try:
            return sender.send(message)
        except Exception as exc:  # a sender must report, not raise; never lose the row over it
            log.exception("sender raised", extra={"channel": row["channel"]})
            return Transient(f"sender error: {type(exc).__name__}")

    # -- recording an outcome (in the claim's transaction) -------------------------------------
    def _record(self, conn: Connection, row: Mapping[str, Any], outcome: Outcome) -> None:
        attempts = int(row["attempts"]) + 1
        channel = row["channel"]
        if isinstance(outcome, Delivered):
            self._delivered(conn, row, attempts, outcome)
            metrics.DELIVERIES.labels(channel, "delivered").inc()
        elif isinstance(outcome, Transient) and attempts < int(row["max_attempts"]):
            delay = max(
                backoff_seconds(attempts, base=self.backoff_base, cap=self.backoff_cap),
                outcome.retry_after or 0.0,
            )
            conn.execute(
                update(message_deliveries)
                .where(_D.id == row["id"])
                .values(
                    attempts=attempts,
                    error=outcome.error[:500],
                    updated_at=func.clock_timestamp(),
                    next_attempt_at=func.clock_timestamp() + timedelta(seconds=delay),
                )
            )
            metrics.DELIVERIES.labels(channel, "retried").inc()
            log.warning(
                "delivery attempt failed; retrying",
                extra={
                    "delivery": str(row["id"]),
                    "channel": channel,
                    "attempt": attempts,
                    "in_seconds": round(delay, 3),
                },
            )
        else:
            exhausted = isinstance(outcome, Transient)
            error = outcome.error[:500]
            if exhausted:
                error = f"failed after {attempts} attempts, last: {error}"[:500]
            self._failed(conn, row, attempts, error, keep_message=exhausted)
            metrics.DELIVERIES.labels(channel, "failed").inc()
            if exhausted:
                self._dead_letter(row, error)

    def _delivered(self, conn: Connection, row: Mapping[str, Any], attempts: int, outcome: Delivered) -> None:
        conn.execute(
            update(message_deliveries)
            .where(_D.id == row["id"])
            .values(
                status=DeliveryStatus.DELIVERED.value,
                attempts=attempts,
                provider_id=outcome.provider_id,
                detail=(outcome.detail or None) and outcome.detail[:500],
                error=None,
                message=None,
                updated_at=func.clock_timestamp(),
                finished_at=func.clock_timestamp(),
            )
        )
        result = {
            "deliveryId": str(row["id"]),
            "channel": row["channel"],
            "providerId": outcome.provider_id,
            "attempts": attempts,
        }
        if row["channel"] == "webhook" and outcome.detail:  # SPEC 9: the truncated answer is kept
            result["response"] = outcome.detail[:500]
        if row["run_id"] is not None:
            self._log(conn, row, attempts, ActionStatus.SUCCEEDED, result=result)
            command = row["command"] or {}
            rest = {"run_id": row["run_id"], "action_index": int(row["action_index"]) + 1}
            if conn.execute(_RESUME, rest).rowcount == 0:
                conn.execute(
                    _RESUME_NEW,
                    {
                        **rest,
                        "practice_id": row["practice_id"],
                        "command": json.dumps(command),
                        "command_key": row["command_key"],
                        "rule_id": command.get("ruleId"),
                        "cancel_keys": command.get("cancelKeys") or None,
                    },
                )
        if row["draft_id"] is not None:
            conn.execute(
                update(message_drafts)
                .where(message_drafts.c.id == row["draft_id"])
                .values(status="sent", error=None, sent_at=func.clock_timestamp())
            )
        log.info(
            "message delivered",
            extra={"delivery": str(row["id"]), "channel": row["channel"], "attempt": attempts},
        )

    def _failed(
        self, conn: Connection, row: Mapping[str, Any], attempts: int, error: str, *, keep_message: bool
    ) -> None:
        """The delivery failed for good; a dead-lettered one keeps its message for a replay."""
        _mark_failed(conn, row, error, attempts=attempts, message=row["message"] if keep_message else None)
        if row["run_id"] is not None:
            index = int(row["action_index"])
            result = {"deliveryId": str(row["id"]), "channel": row["channel"], "attempts": attempts}
            self._log(conn, row, attempts, ActionStatus.FAILED, result=result, error=error)
            actions = (row["command"] or {}).get("actions") or []
            skipped = [
                action_log_row(
                    str(row["practice_id"]),
                    str(row["run_id"]),
                    1,
                    later,
                    str((actions[later] or {}).get("type")),
                    None,
                    ActionStatus.SKIPPED,
                    error=f"skipped: action {index} failed",
                )
                for later in range(index + 1, len(actions))
            ]
            if skipped:
                conn.execute(automation_action_logs.insert(), skipped)
            conn.execute(_DROP_REST, {"run_id": row["run_id"], "action_index": index + 1})
            conn.execute(
                _FAIL_RUN,
                {"run_id": row["run_id"], "error": f"action {index} ({row['action_type']}): {error}"[:1000]},
            )
        if row["draft_id"] is not None:
            conn.execute(
                update(message_drafts)
                .where(message_drafts.c.id == row["draft_id"])
                .values(status="failed", error=error)
            )
        log.warning(
            "message not delivered",
            extra={"delivery": str(row["id"]), "channel": row["channel"], "attempt": attempts},
        )

    @staticmethod
    def _log(
        conn: Connection,
        row: Mapping[str, Any],
        attempts: int,
        status: ActionStatus,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        conn.execute(
            automation_action_logs.insert(),
            action_log_row(
                str(row["practice_id"]),
                str(row["run_id"]),
                attempts,
                int(row["action_index"]),
                str(row["action_type"]),
                None,
                status,
                result=result,
                error=error,
            ),
        )
        metrics.ACTIONS.labels(str(row["action_type"]), status).inc()

    def _dead_letter(self, row: Mapping[str, Any], error: str) -> None:
        """Park the delivery on the dead-letter topic before its failure commits (a failed produce
        rolls the transaction back: the row stays pending and is tried again). Its value is a
        ``redeliver`` command: ``crmflow dlq replay`` sends it to the commands topic, where the
        runner queues the delivery again, under the same idempotency key."""
        if self.producer is None:
            return
        command = RedeliverCommand(deliveryId=str(row["id"]), practiceId=str(row["practice_id"]))
        key = (row["command_key"] or str(row["practice_id"])).encode()
        headers = dead_letter_headers(
            reason=DLQ_REASON,
            detail=f"delivery {row['id']} ({row['channel']}): {error}",
            service=SERVICE,
            topic=self.commands_topic,
            partition=-1,
            offset=-1,
        )
        produce_all(
            self.producer,
            [Record(topics.DEAD_LETTERS, key, command.model_dump_json().encode(), headers)],
            DLQ_SEND_TIMEOUT,
        )
        metrics.DEAD_LETTERED.labels(DLQ_REASON).inc()


def _mark_failed(
    conn: Connection,
    row: Mapping[str, Any],
    error: str,
    *,
    attempts: int | None = None,
    message: Any = None,
) -> None:
    """Make delivery ``row`` final ``failed`` (its message dropped unless kept for a replay)."""
    values: dict[str, Any] = {
        "status": DeliveryStatus.FAILED.value,
        "error": error,
        "message": message,
        "updated_at": func.clock_timestamp(),
        "finished_at": func.clock_timestamp(),
    }
    if attempts is not None:
        values["attempts"] = attempts
    conn.execute(update(message_deliveries).where(_D.id == row["id"]).values(**values))
