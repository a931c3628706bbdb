from typing import Any, get_args, get_type_hints

import pytest
from pydantic import BaseModel, TypeAdapter

from crmflow.commands import (
    ActionCommand,
    ActionCommandDict,
    CancelCommand,
    CancelCommandDict,
    EventEvaluated,
    EventEvaluatedDict,
    RedeliverCommand,
    RedeliverCommandDict,
    ReplanCommand,
    ReplanCommandDict,
    ResumeCommand,
    ResumeCommandDict,
    RunCommand,
    RunCommandDict,
    SignalCommand,
    SignalCommandDict,
    SourceRecord,
    SourceRecordDict,
    command_key,
    run_command_key,
    run_id_for,
)
from crmflow.statuses import Evaluation


def test_run_ids_are_deterministic_per_event_and_rule() -> None:
    assert run_id_for("e1", "r1") == run_id_for("e1", "r1")
    assert run_id_for("e1", "r1") != run_id_for("e1", "r2")
    assert run_id_for("e1", "r1") != run_id_for("e2", "r1")


def test_commands_are_keyed_by_practice_and_patient() -> None:
    assert command_key("p", "pat", "ent") == b"p:pat"
    assert command_key("p", None, "ent") == b"p:ent"


# The TypedDicts the hot path uses are the models' messages: same keys, same types, and a key
# may be omitted exactly where the model has a default (``kind`` aside: it picks the model).
PAIRS: list[tuple[type[BaseModel], type]] = [
    (SourceRecord, SourceRecordDict),
    (EventEvaluated, EventEvaluatedDict),
    (RunCommand, RunCommandDict),
    (ResumeCommand, ResumeCommandDict),
    (ReplanCommand, ReplanCommandDict),
    (CancelCommand, CancelCommandDict),
    (SignalCommand, SignalCommandDict),
    (RedeliverCommand, RedeliverCommandDict),
]
AS_DICT: dict[Any, Any] = {model: typed for model, typed in PAIRS}


@pytest.mark.parametrize(("model", "typed"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_each_typed_dict_is_its_model(model: type[BaseModel], typed: type) -> None:
    hints = get_type_hints(typed)
    fields = model.model_fields
    assert hints.keys() == fields.keys()
    for name, field in fields.items():
        assert hints[name] == AS_DICT.get(field.annotation, field.annotation), name
    optional = {name for name, field in fields.items() if not field.is_required()} - {"kind"}
    assert typed.__optional_keys__ == optional  # type: ignore[attr-defined]


def test_the_union_of_typed_dicts_is_the_commands_union() -> None:
    models = get_args(get_args(ActionCommand)[0])
    assert get_args(ActionCommandDict) == tuple(AS_DICT[m] for m in models)


def test_a_typed_command_validates_as_is() -> None:
    run: RunCommandDict = {
        "kind": "run",
        "runId": run_id_for("e1", "r1"),
        "eventId": "e1",
        "practiceId": "p",
        "ruleId": "r1",
        "ruleVersion": 1,
        "ruleName": "rule",
        "eventName": "crm/patient.created",
        "patientId": None,
        "status": Evaluation.SKIPPED,
        "correlationId": "e1",
        "causationId": "e1",
        "depth": 0,
    }
    assert TypeAdapter(ActionCommand).validate_python(run).model_dump(exclude_unset=True) == run
    assert run_command_key(run) == command_key("p", None, "None")
    with_event: RunCommandDict = {**run, "patientId": "pat", "event": {"entityId": "ent"}}
    assert run_command_key(with_event) == b"p:pat"
    assert run_command_key({**with_event, "patientId": None}) == b"p:ent"
