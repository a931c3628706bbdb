"""crmflow.logs: one JSON object per line, extras as fields, library loggers kept quiet."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys

import pytest

from crmflow.logs import JsonFormatter, logging_config


def _record(msg: str = "hello %s", args: tuple = ("world",), **extra) -> logging.LogRecord:
    record = logging.LogRecord("crmflow.test", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_record_is_one_json_line_with_its_extras_and_without_console_duplicates():
    line = JsonFormatter("evaluator").format(
        _record(eventId="e1", correlationId="c1", color_message="\x1b[36mhello\x1b[0m")
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["service"] == "evaluator" and entry["level"] == "INFO" and entry["logger"] == "crmflow.test"
    assert entry["msg"] == "hello world" and entry["ts"].endswith("Z")
    assert (entry["eventId"], entry["correlationId"]) == ("e1", "c1")
    assert "color_message" not in entry


def test_exceptions_are_a_field_of_the_same_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info())
    entry = json.loads(JsonFormatter("api").format(record))
    assert "RuntimeError: boom" in entry["exc"]


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


def test_the_config_sets_the_level_routes_uvicorn_to_root_and_quiets_libraries(restore_logging, capsys):
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))
    logging.config.dictConfig(logging_config("debug", service="rules-api"))
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("aiokafka").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("uvicorn.error").handlers == []

    logging.getLogger("crmflow.x").debug("kept", extra={"runId": "r1"})
    logging.getLogger("aiokafka").info("dropped")
    logging.getLogger("uvicorn.error").info("Started server process")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["logger"], e["msg"]) for e in lines] == [
        ("crmflow.x", "kept"),
        ("uvicorn.error", "Started server process"),
    ]
    assert all(e["service"] == "rules-api" for e in lines)


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown log level"):
        logging_config("loud", service="x")
