"""Campus card (校园一卡通): the university's one-card system run by the bank.

Students and staff are opened through account batches with ``scenario=campus``,
``attributes.student_no`` (unique per university) and ``attributes.role`` (``student | staff``);
a row without a known role, without a usable student number, or with a number another person
holds is rejected before anything is opened, and each opened person gets a campus card in the
same transaction. Cards are topped up from the bank account, spent at campus merchants (each a
sub-channel), frozen when lost and withdrawn on graduation; tuition bills are paid from the
student's account. Students are excluded from every credit product (DESIGN §9): the adapter
names them to the registry's :func:`~gateway.scenarios.base.credit_excluded`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.channels.lists.service import register_credit_exclusion
from gateway.customers.rules import RowError
from gateway.scenarios.base import OpenedCustomer, ProposedOpening, register
from gateway.scenarios.campus import routes, service

# Card payments in whole hundreds of yuan (¥100, ¥200 …) are the campus cash-out shape: a card
# holds at most ¥1,000, so the ¥1,000 floor of round_amount_cashout (DESIGN §8) would never fire.
ROUND_AMOUNT_UNIT = 10_000


@dataclass(frozen=True, slots=True)
class CampusAdapter:
    key: str = service.KEY

    def routes(self) -> Sequence[ControllerRouterHandler]:
        return routes.ROUTES

    async def check_sub_channel(
        self, session: AsyncSession, partner_id: str, sub_channel: str | None
    ) -> str | None:
        """An opening may name the campus merchant (a driving school, a canteen) that brought it."""
        if sub_channel is None or await service.is_merchant(session, partner_id, sub_channel):
            return None
        return "sub_channel_unknown"

    async def check_opening(
        self, session: AsyncSession, opening: ProposedOpening
    ) -> RowError | None:
        return await service.check_opening(session, opening)

    async def on_customer_opened(self, session: AsyncSession, customer: OpenedCustomer) -> None:
        await service.issue_card(session, customer)

    async def credit_excluded(
        self, session: AsyncSession, customer_ids: Collection[str]
    ) -> set[str]:
        return await service.students_among(session, customer_ids)

    def risk_features(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Keys for the velocity windows (merchant, terminal, card) and the round-amount flag."""
        amount = int(event.get("amount", 0))
        return {
            "campus_merchant_id": event.get("merchant_id"),
            "campus_terminal_id": event.get("terminal_id"),
            "campus_card_id": event.get("card_id"),
            "campus_round_amount": amount >= ROUND_AMOUNT_UNIT and amount % ROUND_AMOUNT_UNIT == 0,
        }


register(CampusAdapter())
register_credit_exclusion(service.is_student)
