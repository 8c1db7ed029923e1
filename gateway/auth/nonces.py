"""Single-use values: signature nonces and client-assertion ``jti``s (DESIGN §4).

The first claim of a ``(scope, nonce)`` pair within its time to live wins, on every replica: the
database store (the embedded default) relies on the ``used_nonces`` primary key, the Redis store
(with ``GATEWAY_REDIS_URL``) on ``SET NX``. After the TTL the value is free again; callers choose
a TTL that outlives the window in which the value would be accepted at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, delete

from gateway.auth.models import UsedNonce
from gateway.db import utcnow


class NonceStore(Protocol):
    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        """Spend ``nonce`` in ``scope`` for ``ttl_seconds``: True the first time, False after."""


class DatabaseNonceStore:
    """Nonces in the ``used_nonces`` table.

    Each claim commits in its own short transaction rather than the request's: a nonce must stay
    spent even when the request that presented it fails later, or that request could be replayed.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        now = utcnow()
        expires_at = now + timedelta(seconds=ttl_seconds)
        async with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            stmt = _claim_statement(dialect, scope, nonce, now, expires_at)
            claimed = (await session.execute(stmt)).first()
        return claimed is not None

    async def purge_expired(self) -> int:
        """Delete expired rows (housekeeping only: :meth:`claim` already reuses them)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(UsedNonce).where(col(UsedNonce.expires_at) <= utcnow())
            )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _claim_statement(
    dialect: str, scope: str, nonce: str, now: datetime, expires_at: datetime
) -> sa.Insert:
    """``INSERT … ON CONFLICT DO UPDATE … WHERE expired RETURNING``, one atomic statement.

    A row is returned when the nonce was new or its earlier use had expired; a live row makes the
    conflict a no-op and nothing is returned. A concurrent twin waits on the primary key (or
    SQLite's writer lock) and then sees the first claim's live row.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(UsedNonce).values(scope=scope, nonce=nonce, expires_at=expires_at)
    return stmt.on_conflict_do_update(
        index_elements=[col(UsedNonce.scope), col(UsedNonce.nonce)],
        set_={"expires_at": stmt.excluded.expires_at},
        where=col(UsedNonce.expires_at) <= now,
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
