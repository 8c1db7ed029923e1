"""The gateway's signing key ring when several processes start together on a fresh database."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.auth.keys import load_key_ring
from gateway.auth.models import GatewaySigningKey
from gateway.db import create_engine, session_factory
from gateway.pii import PiiVault
from gateway.settings import Settings
from tests.conftest import IS_PG

pytestmark = pytest.mark.skipif(
    not IS_PG,
    reason="concurrent first starts need PostgreSQL; SQLite's single writer refuses the second",
)


async def test_processes_starting_together_share_one_first_key(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    vault = PiiVault(settings.pii_key_bytes)
    engines = [create_engine(settings) for _ in range(3)]
    for engine in engines:  # connected up front, so the three loads really overlap
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    loaded = asyncio.Event()

    async def start(engine: AsyncEngine) -> str:
        async with session_factory(engine)() as session:
            ring = await load_key_ring(session, vault)
            loaded.set()
            await asyncio.sleep(0.3)  # the others load meanwhile, before this first key commits
            await session.commit()
            return ring.kid

    try:
        kids = await asyncio.gather(*(start(e) for e in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert loaded.is_set()
    assert len(set(kids)) == 1
    async with sessions() as session:
        stored = (await session.scalars(sa.select(GatewaySigningKey.kid))).all()
    assert stored == [kids[0]]
