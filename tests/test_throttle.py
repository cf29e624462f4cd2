"""The per-user token bucket, on a fake clock."""

from __future__ import annotations

from bot.throttle import Throttle, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_warning_then_drops_then_refill() -> None:
    clock = Clock()
    throttle = Throttle(burst=3, interval=2.0, clock=clock)
    assert [throttle.check(1) for _ in range(6)] == [Verdict.ALLOW] * 3 + [Verdict.WARN, Verdict.DROP, Verdict.DROP]
    assert throttle.check(2) is Verdict.ALLOW  # another user is unaffected
    clock.now = 2.0
    assert throttle.check(1) is Verdict.ALLOW  # one question's worth refilled
    assert throttle.check(1) is Verdict.WARN  # and a new burst over the limit is told again


def test_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = Throttle(burst=1, interval=1.0, clock=clock, max_users=100)
    for user in range(1000):
        clock.now += 0.01
        throttle.check(user)
    assert len(throttle._buckets) <= 100
