"""Health, readiness (schema at head), metrics, OpenAPI."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import create_engine, session_factory
from gateway.migrate import head_revisions
from gateway.settings import Settings


async def test_health(client: Any) -> None:
    resp = await client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_ready_when_schema_at_head(client: Any) -> None:
    resp = await client.get("/ready")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ready"


async def test_not_ready_when_schema_behind(
    client: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as s:
        await s.execute(sa.text("UPDATE alembic_version SET version_num = 'behind'"))
        await s.commit()
    try:
        resp = await client.get("/ready")
    finally:
        async with sessions() as s:
            await s.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"), {"v": min(head_revisions())}
            )
            await s.commit()
    assert resp.status_code == 503
    assert resp.json()["code"] == "schema_not_at_head"


async def test_not_ready_when_database_unreachable(
    client: Any, app: Litestar, settings: Settings, tmp_path: Any
) -> None:
    lost = settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db"}
    )
    engine = create_engine(lost)
    app.state.session_factory = session_factory(engine)  # the database goes away while serving
    resp = await client.get("/ready")
    await engine.dispose()
    assert resp.status_code == 503
    assert resp.json()["code"] == "database_unavailable"
    assert (await client.get("/health")).status_code == 200


async def test_metrics_are_prometheus_text(client: Any) -> None:
    await client.get("/health")
    await client.get("/ready")
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert 'litestar_requests_total{app_name="gateway",method="GET",path="/ready"' in resp.text


async def test_openapi_schema_is_served(client: Any) -> None:
    resp = await client.get("/schema/openapi.json")
    assert resp.status_code == 200
    assert "/admin/v1/sessions" in resp.json()["paths"]
    ui = await client.get("/schema")
    assert ui.status_code == 200
    assert "text/html" in ui.headers["content-type"]
    await asyncio.sleep(0)
