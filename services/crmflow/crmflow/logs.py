"""Structured JSON logs, one object per line on stderr, level from CRMFLOW_LOG_LEVEL.

Only ids, names, counts and reasons go into log records, never patient names, emails, phones or
free-text bodies: callers pass such context through ``extra=``. Every service logs through
``logging_config`` (``configure_logging`` applies it; the evaluator hands it to its Faust worker,
which would otherwise install its own plain-text handler).
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import threading
import time
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# Extras that libraries add for their own consoles (uvicorn's ANSI-coloured duplicate message).
_DROPPED = {"color_message"}
# Chatty libraries log at WARNING and above only, whatever the service's level.
QUIET_LOGGERS = ("aiokafka", "kafka", "faust", "mode", "uvicorn.access", "httpx", "httpcore", "librdkafka")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and k not in _DROPPED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(level: str, *, service: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: one JSON handler on the root logger."""
    root_level = logging.getLevelName(level.upper())
    if not isinstance(root_level, int):
        raise ValueError(f"unknown log level {level!r}")
    quiet = logging.getLevelName(max(logging.WARNING, root_level))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"level": logging.getLevelName(root_level), "handlers": ["json"]},
        # Library loggers that bring their own handlers (uvicorn) pass records to the root instead.
        "loggers": {
            **{name: {"level": quiet, "handlers": [], "propagate": True} for name in QUIET_LOGGERS},
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
        },
    }


def configure_logging(level: str, *, service: str) -> None:
    """Apply ``logging_config``; Python warnings and uncaught exceptions become JSON records too."""
    logging.config.dictConfig(logging_config(level, service=service))
    logging.captureWarnings(True)
    sys.excepthook = lambda _type, value, _tb: _log_uncaught(value)
    threading.excepthook = lambda args: _log_uncaught(args.exc_value)


def _log_uncaught(value: BaseException | None) -> None:
    logging.getLogger("crmflow").critical("uncaught exception", exc_info=value)
