"""The evaluator worker's /readyz: rules loaded and a settled partition assignment (SPEC 11).

Faust marks a worker ``rebalancing`` from the moment its consumer prepares to (re)join the
group (every join, the first one included, counts in ``rebalancing_count``) until the new
assignment's partitions are resumed at their committed offsets. In between the worker holds no
settled assignment: it answers 503. A worker of a group with more members than partitions holds
a settled assignment of no partition, and is ready (idle).
"""

from __future__ import annotations

from typing import Any, Protocol


class RebalanceState(Protocol):
    """What Faust's ``App`` tells about the worker's group membership."""

    rebalancing: bool
    rebalancing_count: int


def readiness(
    worker: RebalanceState, *, rules_loaded: bool, rules: int, partitions: int
) -> tuple[bool, dict[str, Any]]:
    """(ready, the /readyz body) of a worker holding ``rules`` and ``partitions`` event partitions."""
    settled = worker.rebalancing_count > 0 and not worker.rebalancing
    if not rules_loaded:
        status = "loading rules"
    elif not settled:
        status = "rebalancing"
    else:
        status = "ready"
    return status == "ready", {
        "status": status,
        "rules": rules,
        "assigned": settled,
        "partitions": partitions if settled else 0,
    }
