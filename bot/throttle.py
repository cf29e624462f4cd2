"""Per-user flood control: a token bucket, so one user cannot crowd out everyone else.

Each user may ask ``burst`` questions at once and then one every ``interval`` seconds. The
first question over the limit gets one "slow down" reply; the rest are dropped (and logged)
until the bucket refills, so a flood costs one reply, not a hundred.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # over the limit: tell the user once
    DROP = "drop"  # over the limit and already told


@dataclass
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


@dataclass
class Throttle:
    burst: int = 5
    interval: float = 3.0
    clock: Callable[[], float] = time.monotonic
    max_users: int = 100_000  # forget idle users beyond this, so memory stays bounded
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def check(self, user_id: int) -> Verdict:
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self.max_users:
                self._forget_full(now)
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) / self.interval)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return Verdict.ALLOW
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.WARN

    def _forget_full(self, now: float) -> None:
        """Drop users whose bucket would be full again: they have been quiet long enough."""
        idle = self.burst * self.interval
        for user_id in [u for u, b in self._buckets.items() if now - b.updated >= idle]:
            del self._buckets[user_id]
        if len(self._buckets) >= self.max_users:  # all active: drop the oldest half
            for user_id in sorted(self._buckets, key=lambda u: self._buckets[u].updated)[: self.max_users // 2]:
                del self._buckets[user_id]
