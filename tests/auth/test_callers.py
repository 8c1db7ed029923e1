"""The front door's per-process cache of partners and keys (ADR 0006).

Changes made through this process apply at once (tests/partners cover suspension, termination and
key rotation through the API). Here the database is changed behind the process's back, as another
replica would change it: new keys still work on first use, everything else within the TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.auth import callers
from gateway.db import utcnow
from gateway.ids import new_id
from gateway.partners.models import Partner, PartnerKey
from gateway.settings import Settings
from tests.conftest import StaffFactory, serve_in_process
from tests.factories import keypair
from tests.partners.support import onboard

Sessions = async_sessionmaker[AsyncSession]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(callers.time, "monotonic", fake)
    yield fake


async def _elsewhere(sessions: Sessions, stmt: Any) -> None:
    """A write by another replica: plain SQL, none of this process's ORM events."""
    async with sessions() as s:
        await s.execute(stmt)
        await s.commit()


def _suspend(partner_id: str) -> Any:
    return sa.update(Partner).where(Partner.id == partner_id).values(status="suspended")


async def test_another_replicas_suspension_applies_within_the_ttl(
    client: Any, staff: StaffFactory, sessions: Sessions, clock: Clock
) -> None:
    partner = await onboard(client, staff)
    for _ in range(2):  # the first use of the key is recorded, which drops the entry once
        assert (await partner.call("GET", "/v1/partners/me")).status_code == 200
    await _elsewhere(sessions, _suspend(partner.partner_id))

    clock.now += 1.0  # within GATEWAY_PARTNER_CACHE_SECONDS (2 s)
    assert (await partner.call("GET", "/v1/partners/me")).status_code == 200
    clock.now += 1.5
    refused = await partner.call("GET", "/v1/partners/me")
    assert (refused.status_code, refused.json()["code"]) == (403, "partner_suspended")


async def test_without_a_cache_every_call_reads_the_partner(
    settings: Settings, staff: StaffFactory, sessions: Sessions, clock: Clock
) -> None:
    app = create_app(settings.model_copy(update={"partner_cache_seconds": 0}))
    async with serve_in_process(app) as client:
        partner = await onboard(client, staff)
        assert (await partner.call("GET", "/v1/partners/me")).status_code == 200
        await _elsewhere(sessions, _suspend(partner.partner_id))
        refused = await partner.call("GET", "/v1/partners/me")
        assert refused.json()["code"] == "partner_suspended"


async def test_a_key_registered_elsewhere_works_on_first_use(
    client: Any, staff: StaffFactory, sessions: Sessions, clock: Clock
) -> None:
    partner = await onboard(client, staff)
    assert (await partner.call("GET", "/v1/partners/me")).status_code == 200  # now cached
    private, public = keypair("p256")
    await _elsewhere(
        sessions,
        sa.insert(PartnerKey.__table__).values(  # type: ignore[attr-defined]
            id=new_id("key"),
            partner_id=partner.partner_id,
            kid=public["kid"],
            jwk=public,
            status="active",
            created_at=utcnow(),
        ),
    )
    resp = await partner.call("GET", "/v1/partners/me", key=private)
    assert resp.status_code == 200, resp.text
    assert public["kid"] in {k["kid"] for k in resp.json()["keys"]}

    unknown, _ = keypair("p256")
    refused = await partner.call("GET", "/v1/partners/me", key=unknown)
    assert refused.json()["code"] == "signature_key_unknown"
