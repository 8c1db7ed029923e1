"""Contactless fuel payment (无感加油): the fuel-station operator's drivers pay at the pump.

Stations are the scenario's sub-channels. Drivers are opened through account batches with
``scenario=fuel``, ``sub_channel=<station id>`` and ``attributes.plate_no``; the plate is recorded
for the station that brought the driver, but nothing is charged until the driver's mandate
(免密支付协议) binds the plate, because a mandate is the driver's own consent (docs/adr/0008).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.scenarios.base import OpenedCustomer, register
from gateway.scenarios.fuel import routes, service


@dataclass(frozen=True, slots=True)
class FuelAdapter:
    key: str = service.KEY

    def routes(self) -> Sequence[ControllerRouterHandler]:
        return routes.ROUTES

    async def check_sub_channel(
        self, session: AsyncSession, partner_id: str, sub_channel: str | None
    ) -> str | None:
        if sub_channel is None:
            return None
        found = await service.is_partners_station(session, partner_id, sub_channel)
        return None if found else "sub_channel_unknown"

    async def on_customer_opened(self, session: AsyncSession, customer: OpenedCustomer) -> None:
        await service.record_driver(
            session,
            partner_id=customer.partner_id,
            customer_id=customer.customer_id,
            plate=customer.attributes.get("plate_no"),
            station_id=customer.sub_channel,
        )

    def risk_features(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Litres against the tank (a fueling larger than the tank is impossible), the plate,
        and how many times the plate fuelled that business day, this fueling included."""
        details = event.get("details")
        facts = {**event, **(details if isinstance(details, Mapping) else {})}
        litres_ml = int(facts.get("litres_ml") or 0)
        tank_l = int(facts.get("tank_capacity_l") or 0)
        return {
            "fuel_litres": litres_ml / 1000,
            "fuel_over_tank_capacity": tank_l > 0 and litres_ml > tank_l * 1000,
            "fuel_plate_no": str(facts.get("plate_no") or ""),
            "fuel_plate_fuelings_today": int(facts.get("fuelings_today") or 0) + 1,
        }


register(FuelAdapter())
