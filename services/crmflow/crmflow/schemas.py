"""JSON Schemas of crmflow's contracts, generated from the pydantic models (the code is the source).

``crmflow schemas write`` regenerates ``schemas/``; ``crmflow schemas check`` (and a unit test)
fails when the committed files drift from the models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter

from crmflow.backtest_record import Backtest, BacktestRequest
from crmflow.commands import ActionCommand
from crmflow.envelope import EventEnvelope
from crmflow.history_record import AuditEntry, RuleVersion
from crmflow.rule_record import Rule
from crmflow.rule_validation import RuleCreate, RuleUpdate

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_DIR: Final = Path(__file__).resolve().parents[3] / "schemas"


def _model(model: type[BaseModel]) -> Callable[[], dict[str, Any]]:
    return lambda: model.model_json_schema()


def _action_command() -> dict[str, Any]:
    schema = TypeAdapter(ActionCommand).json_schema()
    schema["title"] = "ActionCommand"
    schema["description"] = (
        "A message on crmflow.commands: per event one EventEvaluated marker (kind=event), "
        "then one RunCommand (kind=run) per (event, rule) evaluated; a ResumeCommand "
        "(kind=resume) when a delayed run comes due."
    )
    return schema


GENERATORS: Final[dict[str, Callable[[], dict[str, Any]]]] = {
    "event-envelope.schema.json": _model(EventEnvelope),
    "action-command.schema.json": _action_command,
    "rule.schema.json": _model(Rule),
    "rule-create.schema.json": _model(RuleCreate),
    "rule-update.schema.json": _model(RuleUpdate),
    "rule-version.schema.json": _model(RuleVersion),
    "audit-entry.schema.json": _model(AuditEntry),
    "backtest-request.schema.json": _model(BacktestRequest),
    "backtest.schema.json": _model(Backtest),
}


def render(name: str) -> str:
    """The file content of schema ``name``: stable key order, trailing newline."""
    schema = {"$schema": SCHEMA_DIALECT, "$id": name, **GENERATORS[name]()}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path = DEFAULT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in GENERATORS:
        path = directory / name
        path.write_text(render(name))
        written.append(path)
    return written


def drift(directory: Path = DEFAULT_DIR) -> list[str]:
    """Names of the schemas whose committed file is missing or differs from the code."""
    return [
        name
        for name in GENERATORS
        if not (directory / name).is_file() or (directory / name).read_text() != render(name)
    ]
