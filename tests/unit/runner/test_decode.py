"""How the runner reads a command record: poison is refused with a reason and the problems found."""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from crmflow_runner.consumer import Poison, decode


def test_a_valid_command_is_returned_as_read():
    raw = b'{"kind":"resume","runId":"r","actionIndex":1,"practiceId":"p"}'
    assert decode(Message(value=raw)) == {"kind": "resume", "runId": "r", "actionIndex": 1, "practiceId": "p"}


@pytest.mark.parametrize("raw", [b"{not json", b"\xff", None])
def test_what_is_not_json_is_poison(raw):
    with pytest.raises(Poison) as info:
        decode(Message(value=raw))
    assert info.value.reason == "not_json"


def test_an_invalid_command_names_its_first_five_problems():
    with pytest.raises(Poison) as info:
        decode(Message(value=b'{"kind":"run"}'))  # a RunCommand missing all its many fields
    assert info.value.reason == "invalid_command"
    problems = str(info.value).split("; ")
    assert problems[:2] == ["run.runId: Field required", "run.eventId: Field required"]
    assert len(problems) == 5


def test_an_ill_typed_field_is_named_with_its_path():
    with pytest.raises(Poison) as info:
        decode(Message(value=b'{"kind":"resume","runId":"r","actionIndex":"a","practiceId":"p"}'))
    assert str(info.value).startswith("resume.actionIndex: Input should be a valid integer")
