"""Token buckets: the memory store and the shared Redis store answer alike, one take at a time
and under concurrency (the Redis store sends concurrent takes as one pipeline)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.ratelimit import LimitStore, MemoryLimitStore, RedisLimitStore

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RATE = 0.001  # tokens per second: none come back while a test runs
BURST = 5


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis: Redis) -> LimitStore:
    return MemoryLimitStore() if request.param == "memory" else RedisLimitStore(redis)


@pytest.fixture
def key() -> str:
    return f"test:{secrets.token_hex(8)}"


async def test_a_bucket_allows_its_burst_then_refuses(store: LimitStore, key: str) -> None:
    decisions = [await store.take(key, RATE, BURST) for _ in range(BURST + 1)]

    assert [d.allowed for d in decisions] == [True] * BURST + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after >= 1
    assert refused.headers()["Retry-After"] == str(refused.retry_after)
    assert refused.headers()["RateLimit-Limit"] == str(BURST)


async def test_concurrent_takes_spend_each_token_once(store: LimitStore, key: str) -> None:
    other = key + ":other"
    takes = [store.take(key, RATE, BURST) for _ in range(20)]
    takes += [store.take(other, RATE, BURST) for _ in range(3)]

    decisions = await asyncio.gather(*takes)

    mine, others = decisions[:20], decisions[20:]
    assert sum(d.allowed for d in mine) == BURST
    assert sorted(d.remaining for d in mine if d.allowed) == [0, 1, 2, 3, 4]
    assert all(d.allowed for d in others)


async def test_redis_takes_survive_a_flushed_script_cache(redis: Redis, key: str) -> None:
    store = RedisLimitStore(redis)
    assert (await store.take(key, RATE, BURST)).allowed
    await redis.script_flush()  # a Redis restart, or a failover to a replica without the script

    decision = await store.take(key, RATE, BURST)

    assert decision.allowed and decision.remaining == BURST - 2
