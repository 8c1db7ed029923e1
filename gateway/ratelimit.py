"""Token buckets and failure counters, in process memory or shared in Redis (DESIGN §4).

The memory store is the embedded default; with ``GATEWAY_REDIS_URL`` set every replica shares
one Redis store, so limits and lockouts hold across the fleet.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from gateway.batching import GroupSender


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class LimitStore(Protocol):
    async def take(self, key: str, rate: float, burst: int) -> Decision:
        """Take one token from ``key``'s bucket (``rate`` tokens/s, capacity ``burst``)."""

    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Count one more event under ``key``; the count expires ``ttl_seconds`` after the first."""

    async def count(self, key: str) -> int: ...

    async def reset(self, key: str) -> None: ...


def _decision(tokens: float, rate: float, burst: int) -> Decision:
    allowed = tokens >= 1
    remaining = int(tokens - 1) if allowed else 0
    refill = math.ceil((burst - (tokens - 1 if allowed else tokens)) / rate) if rate > 0 else 0
    retry = 0 if allowed else max(1, math.ceil((1 - tokens) / rate))
    return Decision(allowed, burst, max(remaining, 0), max(refill, 0), retry)


class MemoryLimitStore:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._lock = asyncio.Lock()

    async def take(self, key: str, rate: float, burst: int) -> Decision:
        now = time.monotonic()
        async with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            decision = _decision(tokens, rate, burst)
            self._buckets[key] = (tokens - 1 if decision.allowed else tokens, now)
        return decision

    async def incr(self, key: str, ttl_seconds: int) -> int:
        now = time.monotonic()
        async with self._lock:
            count, expires = self._counters.get(key, (0, now + ttl_seconds))
            if expires <= now:
                count, expires = 0, now + ttl_seconds
            self._counters[key] = (count + 1, expires)
            return count + 1

    async def count(self, key: str) -> int:
        count, expires = self._counters.get(key, (0, 0.0))
        return count if expires > time.monotonic() else 0

    async def reset(self, key: str) -> None:
        self._counters.pop(key, None)
        self._buckets.pop(key, None)


_TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now_s
tokens = math.min(burst, tokens + (now_s - ts) * rate)
local allowed = 0
if tokens >= 1 then
  allowed = 1
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now_s)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True, slots=True)
class _Take:
    key: str
    rate: float
    burst: int


MAX_BATCH = 500  # takes per pipeline


class RedisLimitStore:
    """Buckets run by a Lua script, so a take is atomic on the Redis server.

    Concurrent takes go together in one pipeline (:class:`~gateway.batching.GroupSender`): every
    partner call takes a token, and one round trip per call cost more CPU than the script
    (docs/performance.md). Redis runs a pipeline's scripts in order, so two takes from one bucket
    in one batch see each other.
    """

    def __init__(self, client: Redis[bytes]) -> None:
        self._redis = client
        self._script = client.register_script(_TAKE_SCRIPT)
        self._takes = GroupSender(self._take_batch, max_batch=MAX_BATCH)

    async def take(self, key: str, rate: float, burst: int) -> Decision:
        return await self._takes(_Take(key, rate, burst))

    async def _take_batch(self, batch: list[_Take]) -> list[Decision]:
        pipe = self._redis.pipeline(transaction=False)
        for t in batch:
            await self._script(keys=[f"rl:{t.key}"], args=[t.rate, t.burst], client=pipe)
        decisions = []
        for t, (allowed, tokens) in zip(batch, await pipe.execute(), strict=True):
            left = float(tokens)
            decisions.append(_decision(left + 1 if int(allowed) else left, t.rate, t.burst))
        return decisions

    async def incr(self, key: str, ttl_seconds: int) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(f"cnt:{key}")
        pipe.expire(f"cnt:{key}", ttl_seconds, nx=True)
        count, _ = await pipe.execute()
        return int(count)

    async def count(self, key: str) -> int:
        value = await self._redis.get(f"cnt:{key}")
        return int(value or 0)

    async def reset(self, key: str) -> None:
        await self._redis.delete(f"cnt:{key}", f"rl:{key}")
