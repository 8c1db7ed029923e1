"""Utility bill payment (生活缴费): water, electricity, gas and heating bills, written off at the
biller over HTTP (``docs/integration/billers.md``).

The partner is the biller: its ``scenario_profile["utilities"]`` gives ``biller_type`` and
``api_base_url``, and its partner id is the ``biller_id``. Households that pay through the bank
are customers opened through account batches with ``scenario=utilities``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.scenarios.base import OpenedCustomer, register, register_admin_routes
from gateway.scenarios.utilities import admin_routes, jobs, routes, service

__all__ = ["UtilitiesAdapter", "jobs"]


@dataclass(frozen=True, slots=True)
class UtilitiesAdapter:
    key: str = service.KEY

    def routes(self) -> Sequence[ControllerRouterHandler]:
        return routes.ROUTES

    async def check_sub_channel(
        self, session: AsyncSession, partner_id: str, sub_channel: str | None
    ) -> str | None:
        """A biller's sub-channel is its own service area: free text, nothing to check."""
        return None

    async def on_customer_opened(self, session: AsyncSession, customer: OpenedCustomer) -> None:
        return None

    def risk_features(self, event: Mapping[str, Any]) -> dict[str, Any]:
        amount = int(event.get("amount", 0))
        return {"utilities_bill_over_500": amount > 500_00}


register(UtilitiesAdapter())
register_admin_routes(service.KEY, admin_routes.ADMIN_ROUTES)
