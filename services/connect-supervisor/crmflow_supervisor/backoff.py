"""When to restart a failed connector: exponential backoff, capped, reset after a healthy period.

Pure (the clock is passed in): the supervisor feeds it one observation per poll.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    initial_seconds: float = 2.0
    max_seconds: float = 300.0
    factor: float = 2.0
    # RUNNING this long without a failure: the next failure starts again at initial_seconds.
    healthy_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        """Wait before restart number ``attempt`` (0-based) of one failure streak."""
        return min(self.initial_seconds * self.factor**attempt, self.max_seconds)


@dataclass
class Backoff:
    """One connector's restart schedule.

    A failure seen first at t is restarted at t + delay(0); if it is FAILED again, the next restart
    comes delay(1) after the previous one, and so on up to max_seconds. A healthy (RUNNING)
    observation cancels a pending restart; healthy_seconds of health forget the streak.
    """

    policy: BackoffPolicy
    attempts: int = 0
    restart_at: float | None = None
    healthy_since: float | None = None
    last_restart: float | None = None

    def observe(self, *, failed: bool, healthy: bool, now: float) -> bool:
        """Record the connector's state at ``now``; True when it is time to restart it."""
        if not failed:
            self.restart_at = None
            if not healthy:
                self.healthy_since = None
            elif self.healthy_since is None:
                self.healthy_since = now
            elif now - self.healthy_since >= self.policy.healthy_seconds:
                self.attempts = 0
            return False
        self.healthy_since = None
        if self.restart_at is None:
            # a streak's first restart waits from now, later ones from the previous restart
            since = self.last_restart if self.attempts and self.last_restart is not None else now
            self.restart_at = since + self.policy.delay(self.attempts)
        if now < self.restart_at:
            return False
        self.attempts += 1
        self.last_restart = now
        self.restart_at = None
        return True

    def seconds_to_restart(self, now: float) -> float | None:
        return None if self.restart_at is None else max(0.0, self.restart_at - now)
