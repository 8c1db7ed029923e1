"""Single-use nonces: first use wins, across replicas and under concurrency, in both stores."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from gateway.auth.models import UsedNonce
from gateway.auth.nonces import DatabaseNonceStore, RedisNonceStore
from gateway.db import utcnow

Sessions = async_sessionmaker[AsyncSession]
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TTL = 600


async def _add_rows(sessions: Sessions, *rows: tuple[str, timedelta]) -> None:
    """Rows ``(nonce, expires in)`` in scope ``s``, written as another replica would."""
    async with sessions.begin() as session:
        session.add_all(
            UsedNonce(scope="s", nonce=nonce, expires_at=utcnow() + delta) for nonce, delta in rows
        )


async def _expiry(sessions: Sessions, nonce: str) -> timedelta:
    async with sessions() as session:
        row = (
            await session.execute(select(UsedNonce).where(UsedNonce.nonce == nonce))
        ).scalar_one()
    return row.expires_at - utcnow()


# --- database --------------------------------------------------------------------------------


async def test_first_claim_wins_per_scope(sessions: Sessions) -> None:
    store = DatabaseNonceStore(sessions.kw["bind"])

    assert await store.claim("sig:ptn_a", "n-1", TTL)
    assert not await store.claim("sig:ptn_a", "n-1", TTL)
    assert await store.claim("sig:ptn_b", "n-1", TTL)
    assert await store.claim("sig:ptn_a", "n-2", TTL)


async def test_a_claim_is_committed_for_other_replicas(sessions: Sessions) -> None:
    assert await DatabaseNonceStore(sessions.kw["bind"]).claim("s", "n-1", TTL)

    assert not await DatabaseNonceStore(sessions.kw["bind"]).claim("s", "n-1", TTL)
    assert timedelta(seconds=TTL - 5) < await _expiry(sessions, "n-1") <= timedelta(seconds=TTL)


async def test_concurrent_claims_have_one_winner(sessions: Sessions) -> None:
    store = DatabaseNonceStore(sessions.kw["bind"])

    results = await asyncio.gather(*(store.claim("s", "race", TTL) for _ in range(10)))

    assert sorted(results) == [False] * 9 + [True]


async def test_two_replicas_racing_for_one_nonce_have_one_winner(sessions: Sessions) -> None:
    replicas = [DatabaseNonceStore(sessions.kw["bind"]) for _ in range(2)]

    results = await asyncio.gather(*(replicas[n % 2].claim("s", "race", TTL) for n in range(10)))

    assert sorted(results) == [False] * 9 + [True]


async def test_concurrent_claims_share_statements(sessions: Sessions) -> None:
    """Claims arriving while one is in flight go together in the next statement."""
    engine = sessions.kw["bind"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        store = DatabaseNonceStore(engine)
        results = await asyncio.gather(*(store.claim("s", f"n-{n}", TTL) for n in range(50)))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)

    assert results == [True] * 50
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert 1 <= len(inserts) <= 2  # the first claim alone, then the 49 queued behind it
    async with sessions() as session:
        stored = (await session.execute(select(col(UsedNonce.nonce)))).scalars().all()
    assert sorted(stored) == sorted(f"n-{n}" for n in range(50))


async def test_an_expired_use_frees_the_nonce_once(sessions: Sessions) -> None:
    await _add_rows(sessions, ("old", timedelta(seconds=-1)))
    store = DatabaseNonceStore(sessions.kw["bind"])

    results = await asyncio.gather(*(store.claim("s", "old", TTL) for _ in range(5)))

    assert sorted(results) == [False] * 4 + [True]
    assert await _expiry(sessions, "old") > timedelta(seconds=TTL - 5)
    assert not await store.claim("s", "old", TTL)


async def test_purge_deletes_only_expired_rows(sessions: Sessions) -> None:
    await _add_rows(
        sessions,
        ("gone-1", timedelta(seconds=-1)),
        ("gone-2", timedelta(hours=-1)),
        ("live", timedelta(seconds=TTL)),
    )
    store = DatabaseNonceStore(sessions.kw["bind"])

    assert await store.purge_expired() == 2
    assert await store.purge_expired() == 0
    async with sessions() as session:
        left = (await session.execute(select(col(UsedNonce.nonce)))).scalars().all()
    assert left == ["live"]
    assert not await store.claim("s", "live", TTL)


# --- redis -----------------------------------------------------------------------------------


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def scope(redis: Redis) -> AsyncIterator[str]:
    """A scope of this test's own; its keys, and only they, are deleted afterwards."""
    scope = f"test:{secrets.token_hex(8)}"
    yield scope
    keys = [key async for key in redis.scan_iter(match=f"nonce:*:{scope}*")]
    if keys:
        await redis.delete(*keys)


async def test_redis_first_claim_wins_per_scope(redis: Redis, scope: str) -> None:
    store = RedisNonceStore(redis)

    assert await store.claim(scope, "n-1", TTL)
    assert not await store.claim(scope, "n-1", TTL)
    assert await store.claim(scope + "-other", "n-1", TTL)


async def test_redis_keys_expire_by_themselves(redis: Redis, scope: str) -> None:
    store = RedisNonceStore(redis)

    assert await store.claim(scope, "short", 1)
    [key] = [key async for key in redis.scan_iter(match=f"nonce:*:{scope}:*")]
    assert 0 < await redis.pttl(key) <= 1000
    await asyncio.sleep(1.1)
    assert await store.claim(scope, "short", TTL)


async def test_redis_concurrent_claims_have_one_winner(redis: Redis, scope: str) -> None:
    store = RedisNonceStore(redis)

    results = await asyncio.gather(*(store.claim(scope, "race", TTL) for _ in range(10)))

    assert sorted(results) == [False] * 9 + [True]


async def test_redis_keys_of_different_pairs_never_collide(redis: Redis, scope: str) -> None:
    store = RedisNonceStore(redis)

    assert await store.claim(f"{scope}:a", "b", TTL)
    assert await store.claim(scope, "a:b", TTL)
