"""Every service exits within 10 s of SIGTERM, whatever the state of Kafka and PostgreSQL.

A graceful stop can block on a dependency that is away: a consumer leaving its group through a
coordinator that does not answer, a producer flushing to a stopped broker, or aiokafka's fetcher
raising while it closes (which leaves Faust's worker waiting for its consumer thread for ever).
Each service calls ``arm_exit_deadline`` when it is asked to stop: the graceful stop runs as
before, and if it has not ended the process by the deadline, the process ends itself.
"""

from __future__ import annotations

import logging
import os
import threading

# Below the 10 s contract (and Kubernetes' 30 s default grace period), with room to spare.
STOP_DEADLINE_SECONDS = 8.0
# The exit status of a stop that had to be cut short (the graceful path exits 0).
EXIT_STOP_TIMED_OUT = 70

log = logging.getLogger(__name__)
_armed = threading.Lock()


def arm_exit_deadline(seconds: float = STOP_DEADLINE_SECONDS) -> None:
    """End the process ``seconds`` from now unless it has exited by then (armed once; later
    calls, e.g. a second SIGTERM, change nothing)."""
    if not _armed.acquire(blocking=False):
        return
    timer = threading.Timer(seconds, _expire, args=(seconds,))
    timer.daemon = True
    timer.name = "exit-deadline"
    timer.start()


def _expire(seconds: float) -> None:
    log.error(
        "graceful stop did not finish in time; exiting",
        extra={"after_seconds": seconds, "threads": sorted(t.name for t in threading.enumerate())},
    )
    os._exit(EXIT_STOP_TIMED_OUT)
