"""Test fixtures: one database per test session built by the real migrations.

SQLite (default): the migrated database is a template file copied for each test, so every
test starts from an identical, isolated schema. PostgreSQL (``GATEWAY_TEST_DATABASE_URL``):
migrated once, and every table is truncated after each test (TRUNCATE does not fire the audit
log's row triggers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import gateway.models  # noqa: F401  (complete metadata for truncation)
from gateway import migrate
from gateway.app import create_app
from gateway.db import create_engine, metadata, session_factory
from gateway.scenarios.base import load as load_scenarios
from gateway.settings import Settings
from gateway.staff.service import add_user

load_scenarios()  # adapter tables join the metadata (truncation, migration checks)
PG_URL = os.environ.get("GATEWAY_TEST_DATABASE_URL", "")
IS_PG = PG_URL.startswith("postgresql")
TEST_PASSWORD = "correct horse battery"


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    if IS_PG:
        migrate.upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("db") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def _keys() -> dict[str, str]:
    return {"secret_key": _key(), "pii_key": _key()}


@pytest.fixture
def database_url(_template_db: str, tmp_path: Path) -> Iterator[str]:
    if IS_PG:
        yield _template_db
        return
    target = tmp_path / "gateway.db"
    shutil.copyfile(_template_db, target)
    yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def settings(database_url: str, _keys: dict[str, str], tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        workers_in_process=False,
        key_file=tmp_path / "keys.json",
        log_format="console",
        **_keys,
    )


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings)
    yield session_factory(engine)
    if IS_PG:
        async with engine.begin() as conn:
            tables = [t.name for t in metadata.sorted_tables]
            await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture
def app(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Litestar:
    return create_app(settings)


@contextlib.asynccontextmanager
async def serve_in_process(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``app`` whose requests really run concurrently.

    Litestar's AsyncTestClient serialises requests (which would hide races) and runs the app on
    another event loop; here the lifespan and every request run on the test's own loop.
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        # Entered and exited in one task: the lifespan holds an anyio task group, and pytest
        # runs a fixture's setup and teardown in different tasks.
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    await asyncio.wait(
        [lifespan, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED"
    )
    if lifespan.done():
        lifespan.result()  # start-up failed: raise its error here
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
        ) as c:
            yield c
    finally:
        stop.set()
        await lifespan


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(app) as c:
        yield c


class StaffFactory:
    """Creates staff users and signs them in through the real sessions endpoint."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
    ) -> None:
        self._sessions = sessions
        self._client = client

    async def create(self, username: str, *roles: str) -> None:
        async with self._sessions() as session:
            await add_user(session, username, list(roles), TEST_PASSWORD)
            await session.commit()

    async def token(self, username: str, *roles: str) -> dict[str, str]:
        await self.create(username, *roles)
        resp = await self._client.post(
            "/admin/v1/sessions", json={"username": username, "password": TEST_PASSWORD}
        )
        assert resp.status_code == 201, resp.text
        return {"Authorization": f"Bearer {resp.json()['token']}"}


@pytest.fixture
def staff(sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient) -> StaffFactory:
    return StaffFactory(sessions, client)


async def run_jobs(app: Litestar) -> None:
    """Run every due job to completion with the app's own services (as `gateway serve` would)."""
    from gateway.handlers import register_all  # noqa: PLC0415
    from gateway.jobs.worker import Worker  # noqa: PLC0415

    register_all()
    worker = Worker(app.state.session_factory, app.state.services["settings"], app.state.services)
    await worker.run_until_idle()
