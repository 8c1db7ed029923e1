"""Many concurrent signed calls: the front door never holds a pooled connection while waiting for
another (the database nonce store takes its own), so the pool cannot run dry under load."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import StaffFactory
from tests.partners.support import onboard

# More than the SQLite pool (5 + 10 overflow) and the PostgreSQL one (20 + 20) can hand out.
CONCURRENT = 48


async def test_concurrent_signed_calls_beyond_the_pool_size_all_succeed(
    client: Any, staff: StaffFactory
) -> None:
    partner = await onboard(client, staff)
    await partner.fetch_token()

    responses = await asyncio.gather(
        *(partner.call("GET", "/v1/partners/me") for _ in range(CONCURRENT))
    )

    assert [r.status_code for r in responses] == [200] * CONCURRENT
    assert {r.json()["id"] for r in responses} == {partner.partner_id}
