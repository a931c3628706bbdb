"""``crmflow demo`` (what `make up` runs) against the running services: its two rules, the welcome
note and a reminder waiting until a day before the appointment; run twice, it reuses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from crmflow.demo import DEMO_PRACTICE, DEMO_RULES, run_demo
from crmflow.settings import Settings
from tests.support.processes import Service

pytestmark = pytest.mark.e2e


def demo_rules(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (r.name, str(r.id))
            for r in conn.execute(
                text(
                    "SELECT r.name, r.id FROM automation_rules r JOIN practices p ON p.id = r.practice_id "
                    "WHERE p.name = :p AND r.deleted_at IS NULL ORDER BY r.created_at"
                ),
                {"p": DEMO_PRACTICE},
            )
        ]


def test_the_demo_seeds_two_rules_and_schedules_a_reminder_per_appointment(
    services: dict[str, Service], settings: Settings, engine: Engine
) -> None:
    with engine.connect() as conn:
        started = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    assert run_demo(settings, timeout=60) == 0
    assert run_demo(settings, timeout=60) == 0, "the demo is not idempotent"

    rules = demo_rules(engine)
    assert [name for name, _ in rules] == [r["name"] for r in DEMO_RULES]
    reminder_rule = rules[1][1]
    with engine.connect() as conn:
        reminders = conn.execute(
            text(
                "SELECT a.starts_at, s.due_at, s.status, r.status AS run_status FROM scheduled_resumes s "
                "JOIN automation_runs r ON r.id = s.run_id "
                "JOIN outbox_events o ON o.id = r.event_id "
                "JOIN appointments a ON a.id = CAST(o.aggregate_id AS uuid) "
                "WHERE s.rule_id = :rule AND r.started_at >= :started"
            ),
            {"rule": reminder_rule, "started": started},
        ).all()
    assert len(reminders) == 2, "one reminder per demo run's appointment"
    for reminder in reminders:
        assert (reminder.status, reminder.run_status) == ("pending", "waiting")
        assert reminder.due_at == reminder.starts_at - timedelta(days=1)
