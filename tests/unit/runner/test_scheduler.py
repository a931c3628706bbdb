"""The scheduler's pure parts: which claimed resumes must wait for an earlier one, and the record
a due resume is sent as."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmflow.commands import ResumeCommand
from crmflow_runner.scheduler import overtaken, resume_record

T0 = datetime(2026, 12, 7, 9, 0)


@dataclass
class Row:  # not frozen: DueResume's attributes are plain (settable) ones
    run_id: str
    action_index: int
    due_at: datetime
    command_key: str
    practice_id: str = "p"


def row(run_id: str, key: str, minutes: int, index: int = 1) -> Row:
    return Row(run_id, index, T0 + timedelta(minutes=minutes), key)


def test_a_patient_with_an_earlier_resume_claimed_elsewhere_waits() -> None:
    due = [row("a", "p:ann", 2), row("b", "p:bob", 2)]
    others = [*due, row("x", "p:ann", 1)]  # ann's earlier resume, locked by another scheduler
    assert overtaken(due, others) == {"p:ann"}


def test_later_or_own_resumes_block_nothing() -> None:
    due = [row("a", "p:ann", 1), row("a", "p:ann", 3, index=3)]
    later = row("y", "p:ann", 5)
    assert overtaken(due, [*due, later]) == set()  # ann's own earlier row does not block her later one
    assert overtaken(due, [row("z", "p:cid", 0)]) == set()  # another patient's


def test_an_earlier_resume_blocks_even_a_later_claimed_one_of_the_same_patient() -> None:
    due = [row("a", "p:ann", 1), row("b", "p:ann", 4)]
    assert overtaken(due, [*due, row("x", "p:ann", 2)]) == {"p:ann"}


def test_a_resume_is_sent_with_its_stored_key() -> None:
    record = resume_record("crmflow.commands", row("r1", "p:ann", 0, index=3))
    assert (record.topic, record.key) == ("crmflow.commands", b"p:ann")
    assert record.value is not None
    sent = ResumeCommand.model_validate(json.loads(record.value))
    assert sent == ResumeCommand(runId="r1", actionIndex=3, practiceId="p")
