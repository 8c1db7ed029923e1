"""The baselines' server (bench only, never shipped): the least work behind each figure.

``POST /echo`` is a bare Litestar JSON echo. ``POST /write`` is the minimal write endpoint of
DESIGN §14: Litestar plus the project's own engine, session factory and per-request session
(:mod:`gateway.db`), one INSERT of one row and the commit. Its table lives in a metadata of its
own, so the gateway's models and migrations never see it; the benchmark creates it (and drops it)
in the database under test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Litestar, get, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.db import UTCDateTime, create_engine, provide_session, session_factory, utcnow
from gateway.ids import new_id
from gateway.settings import Settings


class Base(DeclarativeBase):
    """A metadata of its own: the gateway's schema stays exactly what its migrations make."""


class BenchWrite(Base):
    __tablename__ = "bench_writes"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(64))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WriteIn(msgspec.Struct, forbid_unknown_fields=True):
    reference: str
    amount: int


class WriteOut(msgspec.Struct):
    id: str
    reference: str
    amount: int


@post("/echo")
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return data


@post("/write")
async def write(data: WriteIn, db_session: AsyncSession) -> WriteOut:
    row = BenchWrite(
        id=new_id("evt"), reference=data.reference, amount=data.amount, created_at=utcnow()
    )
    db_session.add(row)
    return WriteOut(id=row.id, reference=row.reference, amount=row.amount)


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_baseline_app() -> Litestar:
    """Factory for ``uvicorn --factory bench._apps:create_baseline_app`` (GATEWAY_DATABASE_URL)."""
    settings = Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        engine = create_engine(settings)
        app.state.session_factory = session_factory(engine)
        try:
            yield
        finally:
            await engine.dispose()

    return Litestar(
        route_handlers=[echo, write, health],
        dependencies={"db_session": Provide(provide_session)},
        lifespan=[lifespan],
        debug=False,
    )


async def create_table(database_url: str) -> None:
    engine = create_engine(Settings(database_url=database_url))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()


async def drop_table(database_url: str) -> None:
    engine = create_engine(Settings(database_url=database_url))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await engine.dispose()
