"""Smart community (智慧社区): the property company's fee collection through the bank.

Owners are opened through account batches with ``scenario=community``, ``sub_channel=<community
id>`` and ``attributes.unit``; each opened owner is linked to the community, which is how account
coverage (owners with accounts ÷ households) is measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.scenarios.base import OpenedCustomer, register
from gateway.scenarios.community import routes, service
from gateway.scenarios.community.models import Community


@dataclass(frozen=True, slots=True)
class CommunityAdapter:
    key: str = service.KEY

    def routes(self) -> Sequence[ControllerRouterHandler]:
        return routes.ROUTES

    async def check_sub_channel(
        self, session: AsyncSession, partner_id: str, sub_channel: str | None
    ) -> str | None:
        if sub_channel is None:
            return None
        found = await session.scalar(
            select(Community.id).where(
                col(Community.id) == sub_channel, col(Community.partner_id) == partner_id
            )
        )
        return None if found else "sub_channel_unknown"

    async def on_customer_opened(self, session: AsyncSession, customer: OpenedCustomer) -> None:
        if customer.sub_channel is not None:
            unit = customer.attributes.get("unit")
            await service.link_owner(
                session, customer.sub_channel, customer.customer_id, str(unit) if unit else None
            )

    def risk_features(self, event: Mapping[str, Any]) -> dict[str, Any]:
        amount = int(event.get("amount", 0))
        return {"community_fee_round_hundreds": amount >= 100_000 and amount % 10_000 == 0}


register(CommunityAdapter())
