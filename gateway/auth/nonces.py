"""Single-use values: signature nonces and client-assertion ``jti``s (DESIGN §4).

The first claim of a ``(scope, nonce)`` pair within its time to live wins, on every replica: the
database store (the embedded default) relies on the ``used_nonces`` primary key, the Redis store
(with ``GATEWAY_REDIS_URL``) on ``SET NX``. After the TTL the value is free again; callers choose
a TTL that outlives the window in which the value would be accepted at all.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, delete

from gateway.auth.models import UsedNonce
from gateway.db import UTCDateTime, autocommit, utcnow


class NonceStore(Protocol):
    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        """Spend ``nonce`` in ``scope`` for ``ttl_seconds``: True the first time, False after."""


class DatabaseNonceStore:
    """Nonces in the ``used_nonces`` table.

    Each claim is one statement on an autocommit connection, never part of the request's
    transaction: a nonce must stay spent even when the request that presented it fails later, or
    that request could be replayed. No BEGIN/COMMIT round trips either (the front door's hot path,
    docs/performance.md).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        now = utcnow()
        values = {
            "scope": scope,
            "nonce": nonce,
            "now": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        async with self._engine.connect() as conn:
            stmt = _claim_statement(conn.dialect.name)
            return (await conn.execute(stmt, values)).first() is not None

    async def purge_expired(self) -> int:
        """Delete expired rows (housekeeping only: :meth:`claim` already reuses them)."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                delete(UsedNonce).where(col(UsedNonce.expires_at) <= utcnow())
            )
        return int(result.rowcount)


@functools.cache
def _claim_statement(dialect: str) -> sa.Insert:
    """``INSERT … ON CONFLICT DO UPDATE … WHERE expired RETURNING``, one atomic statement.

    A row is returned when the nonce was new or its earlier use had expired; a live row makes the
    conflict a no-op and nothing is returned. A concurrent twin waits on the primary key (or
    SQLite's writer lock) and then sees the first claim's live row. Built once per dialect, with
    bound parameters: building it per call cost as much as running it (docs/performance.md).
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(UsedNonce).values(
        scope=sa.bindparam("scope"),
        nonce=sa.bindparam("nonce"),
        expires_at=sa.bindparam("expires_at", type_=UTCDateTime()),
    )
    return stmt.on_conflict_do_update(
        index_elements=[col(UsedNonce.scope), col(UsedNonce.nonce)],
        set_={"expires_at": stmt.excluded.expires_at},
        where=col(UsedNonce.expires_at) <= sa.bindparam("now", type_=UTCDateTime()),
    ).returning(col(UsedNonce.nonce))


class RedisNonceStore:
    """Nonces as Redis keys that expire by themselves (``SET NX EX``)."""

    def __init__(self, client: Redis[Any]) -> None:
        self._redis = client

    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        return bool(await self._redis.set(_redis_key(scope, nonce), 1, nx=True, ex=ttl_seconds))


def _redis_key(scope: str, nonce: str) -> str:
    """The scope's length goes first so no (scope, nonce) pair can spell another's key."""
    return f"nonce:{len(scope)}:{scope}:{nonce}"
