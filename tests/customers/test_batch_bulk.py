"""Set-based chunks: every row outcome in one chunk, a crash after the core opened accounts, and
the scenario told of every opened or recognised row."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from gateway.core_banking import AccountResult
from gateway.core_banking.models import SandboxAccount
from gateway.core_banking.sandbox import SandboxCore
from gateway.core_banking.schemas import AccountOpen
from gateway.customers import batches
from gateway.customers.models import Customer, CustomerLink, Touchpoint
from gateway.db import utcnow
from gateway.jobs.models import Job
from gateway.jobs.worker import Worker
from gateway.notifications.models import Event
from gateway.scenarios.community.models import CommunityOwner
from tests.conftest import IS_PG, StaffFactory, run_jobs
from tests.customers.support import people, person
from tests.partners.support import PartnerHandle, onboard
from tests.risk.support import BAD_DEVICE_RULE, publish_rule


async def _community(partner: PartnerHandle) -> str:
    resp = await partner.call(
        "POST",
        "/v1/scenarios/community/communities",
        {"external_ref": "c-1", "name": "Garden Court", "address": "1 Road", "households": 50},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _open_one(partner: PartnerHandle, row: dict[str, Any]) -> str:
    resp = await partner.call("POST", "/v1/customers", {"scenario": "community", **row})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _batch(partner: PartnerHandle, rows: list[dict[str, Any]], **extra: Any) -> str:
    resp = await partner.call(
        "POST", "/v1/account-batches", {"scenario": "community", "items": rows, **extra}
    )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


async def _items(partner: PartnerHandle, batch_id: str) -> list[dict[str, Any]]:
    resp = await partner.call("GET", f"/v1/account-batches/{batch_id}/items?limit=100")
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


async def _count(sessions: Any, stmt: Any) -> int:
    async with sessions() as s:
        return int(await s.scalar(stmt))


async def test_one_chunk_holds_every_kind_of_row(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 4)
    rng = random.Random(501)
    other = await onboard(client, staff, webhook_url=None)
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    known_elsewhere = person(rng, 1, external_ref="theirs-1")
    linked = person(rng, 2, external_ref="taken")
    unreferenced = person(rng, 3, external_ref=None)
    await _open_one(other, known_elsewhere)
    linked_id = await _open_one(partner, linked)
    await _open_one(partner, unreferenced)
    fresh = people(502, 3)
    rows = [
        fresh[0],
        dict(known_elsewhere, external_ref="mine-1", attributes={"unit": "1-1"}),
        person(rng, 4, phone="123"),
        fresh[1],
        dict(fresh[0], external_ref="again"),  # the same person as row 1
        person(rng, 5, external_ref="taken"),  # names another customer of this partner
        dict(linked, external_ref="renamed"),  # this partner knows them as "taken"
        dict(unreferenced, external_ref="now-named"),
        fresh[2],
    ]
    batch_id = await _batch(partner, rows, sub_channel=community_id)
    await run_jobs(app)

    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    assert {k: batch[k] for k in ("status", "processed", "opened", "existing", "rejected")} == {
        "status": "completed_with_errors",
        "processed": 9,
        "opened": 3,
        "existing": 2,
        "rejected": 4,
    }
    outcome = [
        (i["row"], i["status"], i["error"] and i["error"]["code"])
        for i in await _items(partner, batch_id)
    ]
    assert outcome == [
        (1, "opened", None),
        (2, "existing", None),
        (3, "rejected", "phone_invalid"),
        (4, "opened", None),
        (5, "rejected", "duplicate_in_batch"),
        (6, "rejected", "external_ref_conflict"),
        (7, "rejected", "external_ref_conflict"),
        (8, "existing", None),
        (9, "opened", None),
    ]
    items = await _items(partner, batch_id)
    assert all(i["account_no"] and "*" in i["account_no"] for i in items if i["customer_id"])
    assert not any(i["customer_id"] for i in items if i["status"] == "rejected")
    # Nobody opened twice: six people in all, each with one account at the core.
    assert await _count(sessions, sa.select(sa.func.count()).select_from(Customer)) == 6
    assert await _count(sessions, sa.select(sa.func.count()).select_from(SandboxAccount)) == 6
    async with sessions() as s:
        links = dict(
            (
                await s.execute(
                    sa.select(CustomerLink.customer_id, CustomerLink.external_ref).where(
                        CustomerLink.partner_id == partner.partner_id
                    )
                )
            ).all()
        )
        touched = await s.scalar(
            sa.select(sa.func.count())
            .select_from(Touchpoint)
            .where(Touchpoint.batch_id == batch_id)
        )
        owners = (
            await s.scalars(
                sa.select(CommunityOwner.customer_id).where(
                    CommunityOwner.community_id == community_id
                )
            )
        ).all()
    assert len(links) == 6 and links[linked_id] == "taken"
    assert sorted(v for v in links.values() if v) == sorted(
        ["taken", "now-named", "mine-1", *(r["external_ref"] for r in fresh)]
    )
    assert touched == 5
    processed = {i["customer_id"] for i in items if i["status"] in ("opened", "existing")}
    assert set(owners) == processed  # the scenario saw every opened and recognised row


class _RemoteCore(SandboxCore):
    """The core as a separate system: what it opened stays opened when the gateway crashes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open_accounts(self, openings: Sequence[AccountOpen]) -> list[AccountResult]:
        async with self._sessions() as session:
            results = await SandboxCore(session).open_accounts(openings)
            await session.commit()
        return results


async def test_crash_after_the_core_opened_and_before_the_commit(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 5)
    monkeypatch.setattr(batches, "core_banking_for", lambda session, http: _RemoteCore(sessions))

    async def unscreened(session: Any, channel: Any, rows: Any) -> list[None]:
        return [None] * len(rows)

    # The stand-in remote core writes through a connection of its own; on SQLite that writer
    # would wait behind the chunk's own first write (the risk log), which a real core never does.
    monkeypatch.setattr(batches, "screen_chunk", unscreened)
    crashes = []
    real_after_opening = batches.after_opening

    async def crash_once(*args: Any) -> None:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("worker killed after the core answered")
        await real_after_opening(*args)

    monkeypatch.setattr(batches, "after_opening", crash_once)
    partner = await onboard(client, staff, webhook_url=None)
    batch_id = await _batch(partner, people(503, 12))
    await run_jobs(app)
    assert crashes, "the chunk never reached the crash"
    assert await _count(sessions, sa.select(sa.func.count()).select_from(SandboxAccount)) == 5
    assert await _count(sessions, sa.select(sa.func.count()).select_from(Customer)) == 0
    async with sessions() as s:  # the retry is due now rather than after its back-off
        await s.execute(sa.update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    await run_jobs(app)

    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    assert (batch["status"], batch["opened"], batch["existing"]) == ("completed", 12, 0)
    async with sessions() as s:
        accounts = dict(
            (
                await s.execute(sa.select(SandboxAccount.customer_ref, SandboxAccount.account_no))
            ).all()
        )
        customers = (await s.scalars(sa.select(Customer.id))).all()
    assert len(accounts) == 12 and sorted(accounts) == sorted(customers)
    for item in await _items(partner, batch_id):
        account = accounts[item["customer_id"]]
        assert item["account_no"][:6] == account[:6] and item["account_no"][-4:] == account[-4:]


async def test_the_scenario_hears_of_every_row_across_chunks(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 3)
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    rows = people(504, 10)
    await _open_one(partner, rows[4])  # one is already a customer: recognised, still an owner
    for n, row in enumerate(rows):
        row["attributes"] = {"unit": f"{n}-101"}
    batch_id = await _batch(partner, rows, sub_channel=community_id)
    await run_jobs(app)
    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    assert (batch["status"], batch["opened"], batch["existing"]) == ("completed", 9, 1)
    async with sessions() as s:
        owners = dict(
            (
                await s.execute(
                    sa.select(CommunityOwner.customer_id, CommunityOwner.unit).where(
                        CommunityOwner.community_id == community_id
                    )
                )
            ).all()
        )
    items = await _items(partner, batch_id)
    assert owners == {i["customer_id"]: f"{i['row'] - 1}-101" for i in items}


async def test_a_batch_of_exactly_whole_chunks_completes(
    client: Any, app: Litestar, staff: StaffFactory, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 2)
    partner = await onboard(client, staff, webhook_url=None)
    batch_id = await _batch(partner, people(505, 4))
    await run_jobs(app)
    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    assert (batch["status"], batch["processed"], batch["opened"]) == ("completed", 4, 4)


async def test_a_step_opens_the_rows_the_step_before_screened(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    # On PostgreSQL each step screens the next chunk while the rows the step before screened are
    # opened (ADR 0024); SQLite has one writer and opens a chunk in the step that screens it.
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 3)
    await publish_rule(client, staff, BAD_DEVICE_RULE, "s")
    partner = await onboard(client, staff, webhook_url=None)
    rows = people(611, 10)
    rows[1]["context"] = {"device_id": "dev-bad"}
    await run_jobs(app)  # nothing else is due: each run below claims only the batch's next step
    batch_id = await _batch(partner, rows)
    worker = Worker(app.state.session_factory, app.state.services["settings"], app.state.services)
    counts = ("status", "processed", "opened", "rejected")

    async def after_a_step() -> tuple[tuple[Any, ...], list[tuple[str, str | None]]]:
        assert await worker.run_once() == 1
        batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
        items = await _items(partner, batch_id)
        return tuple(batch[c] for c in counts), [
            (i["status"], i["error"] and i["error"]["code"]) for i in items[:4]
        ]

    opened, refused, waiting = ("opened", None), ("rejected", "risk_blocked"), ("pending", None)
    if IS_PG:
        assert await after_a_step() == (  # rows 1-3 screened: row 2 refused, 1 and 3 wait
            ("processing", 1, 0, 1),
            [waiting, refused, waiting, waiting],
        )
        assert await after_a_step() == (  # rows 1-3 opened, rows 4-6 screened
            ("processing", 3, 2, 1),
            [opened, refused, opened, waiting],
        )
    else:
        assert await after_a_step() == (  # rows 1-3 screened and opened
            ("processing", 3, 2, 1),
            [opened, refused, opened, waiting],
        )
    resp = await partner.call("GET", f"/v1/account-batches/{batch_id}/items?status=pending")
    assert [i["row"] for i in resp.json()["data"]] == list(range(4, 11))

    await run_jobs(app)
    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    assert (batch["status"], batch["processed"], batch["opened"], batch["rejected"]) == (
        "completed_with_errors",
        10,
        9,
        1,
    )
    items = await _items(partner, batch_id)
    assert [i["row"] for i in items] == list(range(1, 11))
    assert len({i["customer_id"] for i in items if i["status"] == "opened"}) == 9
    completed = (
        sa.select(sa.func.count())
        .select_from(Event)
        .where(
            col(Event.type) == "account_batch.completed",
            col(Event.partner_id) == partner.partner_id,
        )
    )
    assert await _count(sessions, completed) == 1


async def test_a_row_is_screened_after_the_earlier_chunks_whatever_is_opened_beside_it(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    # DESIGN §8: a row's features count the earlier rows of its batch. Chunk 2 is screened while
    # chunk 1 is opened, and still counts chunk 1's rows: the third ID number on one phone is
    # the one the rule blocks.
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 2)
    await publish_rule(
        client,
        staff,
        {
            "id": "phone_farm",
            "event_type": "account_opening",
            "description": "Three ID numbers behind one phone.",
            "expression": "features.phone_ids_30d >= 3",
            "subject": "partner",
            "severity": "block",
        },
        "f",
    )
    partner = await onboard(client, staff, webhook_url=None)
    rows = [dict(r, phone="13800138000") for r in people(612, 5)]
    batch_id = await _batch(partner, rows)
    await run_jobs(app)
    items = await _items(partner, batch_id)
    assert [(i["status"], i["error"] and i["error"]["code"]) for i in items] == [
        ("opened", None),
        ("opened", None),
        ("rejected", "risk_blocked"),
        ("rejected", "risk_blocked"),
        ("rejected", "risk_blocked"),
    ]
    assert await _count(sessions, sa.select(sa.func.count()).select_from(Customer)) == 2


@pytest.mark.skipif(not IS_PG, reason="ANALYZE and pg_class are PostgreSQL's; CI's PG pass runs it")
async def test_a_batch_that_outgrows_the_statistics_refreshes_them(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 4)
    partner = await onboard(client, staff, webhook_url=None)
    analyzed = sa.text(
        "SELECT relname, analyze_count FROM pg_stat_user_tables"
        " WHERE relname IN ('customers', 'risk_events')"
    )
    async with sessions() as s:
        before = dict((await s.execute(analyzed)).all())

    batch_id = await _batch(partner, people(733, 12))
    await run_jobs(app)

    async with sessions() as s:
        after = dict((await s.execute(analyzed)).all())
        known = await s.scalar(
            sa.text("SELECT reltuples FROM pg_class WHERE relname = 'customers'")
        )
    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    assert (batch["status"], batch["opened"]) == ("completed", 12)
    assert all(after[table] > before[table] for table in ("customers", "risk_events"))
    assert known >= 4  # the statistics have seen this batch's rows
