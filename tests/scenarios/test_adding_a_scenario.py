"""A new scenario plugs in from outside the core: register an adapter, and it is served."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.deps import CurrentPartner
from gateway.scenarios.base import OpenedCustomer, register, unregister
from gateway.settings import Settings
from tests.conftest import StaffFactory, serve_in_process
from tests.partners.support import onboard

OPENED: list[OpenedCustomer] = []


@get("/ping")
async def ping(partner: CurrentPartner) -> dict[str, str]:
    return {"partner": partner.id, "scenario": "office_building"}


@dataclass(frozen=True, slots=True)
class OfficeBuildingAdapter:
    """办公楼宇: the smallest adapter, written as docs/scenarios/adding-a-scenario.md says."""

    key: str = "office_building"

    def routes(self) -> Sequence[ControllerRouterHandler]:
        return [ping]

    async def check_sub_channel(
        self, session: AsyncSession, partner_id: str, sub_channel: str | None
    ) -> str | None:
        return None if sub_channel in (None, "tower-a") else "sub_channel_unknown"

    async def on_customer_opened(self, session: AsyncSession, customer: OpenedCustomer) -> None:
        OPENED.append(customer)

    def risk_features(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return {}


@pytest.fixture
def office(settings: Settings) -> Iterator[None]:
    register(OfficeBuildingAdapter())
    yield
    unregister("office_building")
    OPENED.clear()


@pytest.fixture
async def office_client(
    office: None, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> Any:
    app: Litestar = create_app(settings)
    async with serve_in_process(app) as c:
        yield c


async def test_registered_adapter_is_served_behind_its_scope(
    office_client: Any, staff: StaffFactory
) -> None:
    partner = await onboard(office_client, staff, scenarios=["office_building"], webhook_url=None)
    resp = await partner.call("GET", "/v1/scenarios/office-building/ping")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"partner": partner.partner_id, "scenario": "office_building"}

    opened = await partner.call(
        "POST",
        "/v1/customers",
        {
            "name": "李雷",
            "id_number": "11010519491231002X",
            "phone": "13800138000",
            "scenario": "office_building",
            "sub_channel": "tower-a",
            "attributes": {"floor": "12"},
        },
    )
    assert opened.status_code == 201, opened.text
    assert [(o.sub_channel, dict(o.attributes)) for o in OPENED] == [("tower-a", {"floor": "12"})]
    wrong = await partner.call(
        "POST",
        "/v1/customers",
        {
            "name": "韩梅梅",
            "id_number": "11010519491231002X",
            "phone": "13800138000",
            "scenario": "office_building",
            "sub_channel": "tower-z",
        },
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "sub_channel_unknown")

    outsider = await onboard(office_client, staff, scenarios=["community"], webhook_url=None)
    denied = await outsider.call("GET", "/v1/scenarios/office-building/ping")
    assert (denied.status_code, denied.json()["code"]) == (403, "insufficient_scope")
