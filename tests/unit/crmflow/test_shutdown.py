"""The stop deadline ends a process whose graceful stop hangs, and only then."""

from __future__ import annotations

import subprocess
import sys
import time

from crmflow.shutdown import EXIT_STOP_TIMED_OUT


def _run(code: str) -> tuple[int, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], timeout=30, capture_output=True)
    return result.returncode, time.monotonic() - started


def test_a_hanging_stop_is_cut_short_at_the_deadline() -> None:
    returncode, took = _run(
        "import threading, crmflow.shutdown as s\n"
        "s.arm_exit_deadline(0.5)\n"
        "s.arm_exit_deadline(60)  # armed once: a second call changes nothing\n"
        "threading.Event().wait()  # a stop that never ends"
    )
    assert returncode == EXIT_STOP_TIMED_OUT
    assert took < 10


def test_a_stop_that_ends_in_time_exits_as_it_would() -> None:
    returncode, _ = _run("import crmflow.shutdown as s\ns.arm_exit_deadline(30)\nraise SystemExit(0)")
    assert returncode == 0
