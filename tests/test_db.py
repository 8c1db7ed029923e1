"""``gateway.db.insert_rows``: related rows in one statement on PostgreSQL, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from gateway.db import insert_rows, table_of, utcnow
from gateway.ids import new_id
from gateway.jobs.models import Job, JobStatus
from gateway.jobs.queue import job_row
from gateway.notifications.models import DeliveryStatus, Event, WebhookDelivery
from tests.conftest import IS_PG

Sessions = async_sessionmaker[AsyncSession]


def _event(event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "partner_id": "ptn_x",
        "type": "t",
        "data": {"n": 1, "名": "值"},
        "created_at": utcnow(),
    }


async def test_related_rows_are_written_in_one_statement_on_postgresql(
    sessions: Sessions,
) -> None:
    event_id, delivery_id = new_id("evt"), new_id("whd")
    job = job_row("k", {"delivery_id": delivery_id}, dedupe_key=f"{delivery_id}:0")
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    async with sessions() as session:
        engine = session.bind
        event.listen(engine.sync_engine, "before_cursor_execute", seen)
        try:
            await insert_rows(
                session,
                [
                    (table_of(Event), _event(event_id)),
                    (
                        table_of(WebhookDelivery),
                        {"id": delivery_id, "event_id": event_id, "partner_id": "ptn_x"},
                    ),
                    (table_of(Job), job),
                ],
            )
            await session.commit()
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", seen)

    inserts = [s for s in statements if "INSERT" in s.upper()]
    assert len(inserts) == (1 if IS_PG else 3)
    async with sessions() as session:
        stored = await session.get(Event, event_id)
        delivery = await session.get(WebhookDelivery, delivery_id)
        queued = await session.get(Job, job["id"])
    assert stored is not None and stored.data == {"n": 1, "名": "值"}
    # the defaults a row leaves out are filled, as by any Core insert
    assert delivery is not None and delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 0 and delivery.created_at is not None
    assert (
        queued is not None
        and queued.status == JobStatus.QUEUED
        and queued.payload == {"delivery_id": delivery_id}
    )


async def test_a_row_that_fails_leaves_none_of_them(sessions: Sessions) -> None:
    event_id = new_id("evt")
    orphan = {"id": new_id("whd"), "event_id": "evt_missing", "partner_id": "ptn_x"}

    async with sessions() as session:
        with pytest.raises(IntegrityError):
            await insert_rows(
                session, [(table_of(Event), _event(event_id)), (table_of(WebhookDelivery), orphan)]
            )
        await session.rollback()

    async with sessions() as session:
        found = await session.scalar(select(col(Event.id)).where(col(Event.id) == event_id))
    assert found is None
