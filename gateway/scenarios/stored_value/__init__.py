"""Prepaid stored-value fund supervision (会员储值资金监管).

Merchants that sell prepaid cards (training schools, gyms, beauty chains) put the money their
customers prepay into a supervised escrow at the bank: ``merchant_escrow:<partner_id>`` in the
ledger. Consumptions release it to the merchant's settlement payable (education only what was
consumed, 一课一销; other industries only above the reserve of 单用途商业预付卡管理办法 Art. 26),
refunds pay holders back from it, and a wind-down pays every holder back, pro rata if short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.scenarios.base import OpenedCustomer, register, register_admin_routes
from gateway.scenarios.stored_value import routes, service

JUMP_FACTOR = 5
QUICK_RELEASE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class StoredValueAdapter:
    key: str = service.KEY

    def routes(self) -> Sequence[ControllerRouterHandler]:
        return routes.ROUTES

    async def check_sub_channel(
        self, session: AsyncSession, partner_id: str, sub_channel: str | None
    ) -> str | None:
        return None

    async def on_customer_opened(self, session: AsyncSession, customer: OpenedCustomer) -> None:
        return None

    def risk_features(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Escrow-drain inputs: a top-up or release far above the merchant's trailing 30-day
        daily mean, a release right after a top-up, a lesson-package release without lessons."""
        amount = int(event.get("amount", 0))
        kind = str(event.get("kind", ""))
        mean = int(event.get("trailing_daily_mean", 0) or 0)
        since_top_up = event.get("seconds_since_top_up")
        return {
            "stored_value_kind": kind,
            "stored_value_amount": amount,
            "stored_value_jump": mean > 0 and amount > JUMP_FACTOR * mean,
            "stored_value_quick_release": kind == "release"
            and since_top_up is not None
            and float(since_top_up) < QUICK_RELEASE_SECONDS,
            "stored_value_release_without_lessons": kind == "release"
            and not int(event.get("lessons", 0) or 0),
        }


register(StoredValueAdapter())
register_admin_routes(service.KEY, routes.ADMIN_ROUTES)
