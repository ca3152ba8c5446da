"""Token buckets, one per key: the bot's only rate limiter.

Two uses, one class:

* **Incoming** (:class:`bot.auth.RequestGuard`): requests per minute per user on
  ``/api/messages`` (``ATMT_USER_RATE_PER_MINUTE``, :meth:`RateLimiter.per_minute`);
  :meth:`RateLimiter.take` answers at once, 0.0 or the seconds to wait, which become
  a 429 with ``Retry-After``; :meth:`RateLimiter.first_refusal` logs a flood once.
* **Outgoing** (:mod:`bot.delivery`): proactive messages per conversation and per
  tenant (Teams: about 7/s per conversation, 50/s per tenant); ``await
  limiter.acquire(key)`` returns once a token is free, sleeping as long as needed.
  A 429 from Teams (the real limit) is still handled by the retry logic of the
  notifier.

A bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per second.
Buckets live in memory, per process: with several bot processes each keeps its own
budget. Full (idle) buckets are dropped when there are more than ``max_keys``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["RateLimiter"]

_MAX_WAITS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float
    refused: bool = False


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
        self._buckets: dict[Hashable, _Bucket] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._max_keys = max_keys

    @classmethod
    def per_minute(
        cls,
        rate_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> RateLimiter:
        """``rate_per_minute`` requests per minute, a burst of the same size."""
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        return cls(rate_per_minute / 60.0, float(rate_per_minute), clock=clock, max_keys=max_keys)

    def _refilled(self, key: Hashable) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst:
                del self._buckets[key]
                self._locks.pop(key, None)

    def take(self, key: Hashable) -> float:
        """Take a token if one is free now: 0.0; else the seconds until one is."""
        bucket = self._refilled(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.refused = False
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def try_acquire(self, key: Hashable) -> bool:
        """Take a token if one is free now."""
        return self.take(key) == 0.0

    def wait_time(self, key: Hashable) -> float:
        """Seconds until a token is free for ``key`` (0 when one is free now)."""
        bucket = self._refilled(key)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.rate

    def first_refusal(self, key: Hashable) -> bool:
        """True once per run of refusals (log the start of a flood, not every request)."""
        bucket = self._buckets.get(key)
        if bucket is None or bucket.refused:
            return False
        bucket.refused = True
        return True

    async def acquire(self, key: Hashable) -> None:
        """Wait for a token of ``key`` and take it (callers of one key queue in order)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            for _ in range(_MAX_WAITS):
                if self.try_acquire(key):
                    return
                await asyncio.sleep(max(self.wait_time(key), 0.001))
            raise RuntimeError("rate limiter clock does not advance")
