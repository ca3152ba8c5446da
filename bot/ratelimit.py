"""Outgoing rate limits for proactive messages (Teams: ~7/s per conversation, 50/s per tenant).

:class:`RateLimiter` is a token bucket per key (a conversation id, a tenant id):
``await limiter.acquire(key)`` returns once a token is free, sleeping as long as
needed. It is per process; with several bot processes each keeps its own budget, so
set the rates to the limit divided by the number of processes. A 429 from Teams
(the real limit) is still handled by the retry logic in :mod:`bot.delivery`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter"]

_MAX_WAITS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets: ``rate`` tokens per second, ``burst`` at most, one per key."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._max_keys = max_keys

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst:
                del self._buckets[key]
                self._locks.pop(key, None)

    def wait_time(self, key: str) -> float:
        """Seconds until a token is free for ``key`` (0 when one is free now)."""
        now = self._clock()
        bucket = self._bucket(key, now)
        tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def try_acquire(self, key: str) -> bool:
        """Take a token if one is free now."""
        now = self._clock()
        bucket = self._bucket(key, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        return False

    async def acquire(self, key: str) -> None:
        """Wait for a token of ``key`` and take it (callers of one key queue in order)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            for _ in range(_MAX_WAITS):
                if self.try_acquire(key):
                    return
                await asyncio.sleep(max(self.wait_time(key), 0.001))
            raise RuntimeError("rate limiter clock does not advance")
