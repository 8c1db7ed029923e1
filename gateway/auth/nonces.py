"""Single-use values: signature nonces and client-assertion ``jti``s (DESIGN §4).

The first claim of a ``(scope, nonce)`` pair within its time to live wins, on every replica: the
database store (the embedded default) relies on the ``used_nonces`` primary key, the Redis store
(with ``GATEWAY_REDIS_URL``) on ``SET NX``. After the TTL the value is free again; callers choose
a TTL that outlives the window in which the value would be accepted at all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, delete

from gateway.auth.models import UsedNonce
from gateway.batching import GroupSender
from gateway.db import UTCDateTime, autocommit, dialect_insert, utcnow


class NonceStore(Protocol):
    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        """Spend ``nonce`` in ``scope`` for ``ttl_seconds``: True the first time, False after."""


class DatabaseNonceStore:
    """Nonces in the ``used_nonces`` table.

    Claims are statements on an autocommit connection, never part of the request's transaction:
    a nonce must stay spent even when the request that presented it fails later, or that request
    could be replayed. No BEGIN/COMMIT round trips either. Concurrent claims go together as one
    multi-row statement (:class:`~gateway.batching.GroupSender`); a pair claimed twice in one
    batch is won by the earlier claim, and across batches and replicas the primary key decides.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)
        self._claims = GroupSender(self._claim_batch, max_batch=MAX_BATCH)

    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        return await self._claims(_Claim(scope, nonce, ttl_seconds))

    async def _claim_batch(self, batch: list[_Claim]) -> list[bool]:
        now = utcnow()
        rows = {
            (c.scope, c.nonce): {
                "scope": c.scope,
                "nonce": c.nonce,
                "now": now,
                "expires_at": now + timedelta(seconds=c.ttl_seconds),
            }
            for c in reversed(batch)  # the earliest claim of a pair sets its expiry
        }
        async with self._engine.connect() as conn:
            result = await conn.execute(_claim_statement(conn.dialect.name), list(rows.values()))
            won = {(scope, nonce) for scope, nonce in result.all()}
        outcome = []
        for c in batch:
            outcome.append((c.scope, c.nonce) in won)
            won.discard((c.scope, c.nonce))  # a later claim of the same pair loses
        return outcome

    async def purge_expired(self) -> int:
        """Delete expired rows (housekeeping only: :meth:`claim` already reuses them)."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                delete(UsedNonce).where(col(UsedNonce.expires_at) <= utcnow())
            )
        return int(result.rowcount)


MAX_BATCH = 500  # claims per statement or pipeline


@dataclass(frozen=True, slots=True)
class _Claim:
    scope: str
    nonce: str
    ttl_seconds: int


@functools.cache
def _claim_statement(dialect: str) -> sa.Insert:
    """``INSERT … ON CONFLICT DO UPDATE … WHERE expired RETURNING``, one atomic statement.

    A row is returned when the nonce was new or its earlier use had expired; a live row makes the
    conflict a no-op and nothing is returned. Executed with a list of claims, SQLAlchemy sends them
    as one multi-row statement (its "insertmanyvalues"); a pair may appear only once in it. A
    concurrent twin on another replica waits on the primary key (or SQLite's writer lock) and then
    sees the first claim's live row. Built once per dialect, with
    bound parameters: building it per call cost as much as running it (docs/performance.md).
    """
    stmt = dialect_insert(dialect, UsedNonce).values(
        scope=sa.bindparam("scope"),
        nonce=sa.bindparam("nonce"),
        expires_at=sa.bindparam("expires_at", type_=UTCDateTime()),
    )
    return stmt.on_conflict_do_update(
        index_elements=[col(UsedNonce.scope), col(UsedNonce.nonce)],
        set_={"expires_at": stmt.excluded.expires_at},
        where=col(UsedNonce.expires_at) <= sa.bindparam("now", type_=UTCDateTime()),
    ).returning(col(UsedNonce.scope), col(UsedNonce.nonce))


class RedisNonceStore:
    """Nonces as Redis keys that expire by themselves (``SET NX EX``); concurrent claims go
    together in one pipeline."""

    def __init__(self, client: Redis[Any]) -> None:
        self._redis = client
        self._claims = GroupSender(self._claim_batch, max_batch=MAX_BATCH)

    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        return await self._claims(_Claim(scope, nonce, ttl_seconds))

    async def _claim_batch(self, batch: list[_Claim]) -> list[bool]:
        pipe = self._redis.pipeline(transaction=False)
        for c in batch:  # Redis runs them in order: of two claims of one pair the first wins
            pipe.set(_redis_key(c.scope, c.nonce), 1, nx=True, ex=c.ttl_seconds)
        return [bool(won) for won in await pipe.execute()]


def _redis_key(scope: str, nonce: str) -> str:
    """The scope's length goes first so no (scope, nonce) pair can spell another's key."""
    return f"nonce:{len(scope)}:{scope}:{nonce}"
