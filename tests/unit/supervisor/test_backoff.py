"""The supervisor's restart schedule: exponential, capped, reset after a healthy period."""

from __future__ import annotations

import itertools

from crmflow_supervisor.backoff import Backoff, BackoffPolicy

POLICY = BackoffPolicy(initial_seconds=2, max_seconds=300, factor=2, healthy_seconds=60)


def _restart_times(backoff: Backoff, start: float, end: float, step: float = 0.5) -> list[float]:
    """Times at which a connector FAILED all along from ``start`` to ``end`` gets restarted."""
    times = []
    now = start
    while now <= end:
        if backoff.observe(failed=True, healthy=False, now=now):
            times.append(now)
        now += step
    return times


def test_delays_double_from_the_initial_up_to_the_cap() -> None:
    assert [POLICY.delay(n) for n in range(10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_a_connector_that_stays_failed_is_restarted_ever_less_often() -> None:
    times = _restart_times(Backoff(POLICY), 0, 1300)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 2  # the first restart waits the initial delay after the failure is seen
    assert gaps[:7] == [4, 8, 16, 32, 64, 128, 256]
    assert set(gaps[7:]) == {300}  # capped


def test_nothing_is_restarted_while_healthy_or_not_registered() -> None:
    backoff = Backoff(POLICY)
    assert not any(backoff.observe(failed=False, healthy=h, now=t) for t in range(100) for h in (True, False))
    assert backoff.attempts == 0


def test_recovering_before_the_restart_is_due_cancels_it() -> None:
    backoff = Backoff(POLICY)
    assert not backoff.observe(failed=True, healthy=False, now=0)
    assert backoff.seconds_to_restart(1) == 1
    assert not backoff.observe(failed=False, healthy=True, now=1)
    assert backoff.seconds_to_restart(1) is None
    assert not backoff.observe(failed=True, healthy=False, now=2.5)  # a new failure waits again
    assert backoff.observe(failed=True, healthy=False, now=4.5)


def test_a_short_healthy_spell_keeps_the_streak_a_long_one_resets_it() -> None:
    backoff = Backoff(POLICY)
    assert _restart_times(backoff, 0, 14.5) == [2, 6, 14]  # three restarts: next wait 8 s
    backoff.observe(failed=False, healthy=True, now=15)
    backoff.observe(failed=False, healthy=True, now=40)  # healthy 25 s: not long enough
    # the next wait, 8 s, counts from the restart at 14: over, so the restart is at once
    assert backoff.observe(failed=True, healthy=False, now=41)
    assert backoff.attempts == 4
    assert not backoff.observe(failed=True, healthy=False, now=41.5)
    assert backoff.seconds_to_restart(41.5) == 31.5  # the fifth waits 32 s after the fourth
    backoff.observe(failed=False, healthy=True, now=42)
    backoff.observe(failed=False, healthy=True, now=102)  # healthy 60 s: streak forgotten
    assert backoff.attempts == 0
    assert _restart_times(backoff, 103, 110) == [105, 109]  # 2 s, then 4 s again


def test_a_paused_or_stopped_connector_does_not_count_as_healthy() -> None:
    backoff = Backoff(POLICY)
    _restart_times(backoff, 0, 2)
    backoff.observe(failed=False, healthy=True, now=3)
    backoff.observe(failed=False, healthy=False, now=10)  # e.g. STOPPED: the healthy spell ends
    backoff.observe(failed=False, healthy=True, now=11)
    backoff.observe(failed=False, healthy=True, now=65)  # healthy since 11 only: 54 s
    assert backoff.attempts == 1
