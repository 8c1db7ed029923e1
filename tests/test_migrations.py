"""The one Alembic chain upgrades, downgrades and matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import gateway.models  # noqa: F401
from gateway import migrate
from gateway.db import metadata
from tests.conftest import IS_PG, PG_URL


@contextlib.asynccontextmanager
async def _fresh_database(tmp_path: object) -> AsyncIterator[str]:
    """An empty database of the engine under test (a scratch PostgreSQL database when on PG)."""
    if not IS_PG:
        yield f"sqlite+aiosqlite:///{tmp_path}/m.db"
        return
    url = make_url(PG_URL)
    name = f"{url.database}_mig_{secrets.token_hex(4)}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_upgrade_downgrade_upgrade(tmp_path: object) -> None:
    async with _fresh_database(tmp_path) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        await asyncio.to_thread(migrate.downgrade, url, "base")
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            version = (
                (await conn.execute(sa.text("SELECT version_num FROM alembic_version")))
                .scalars()
                .all()
            )
        await engine.dispose()
        assert set(version) == set(migrate.head_revisions())


async def test_models_match_migrations(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
