"""Opening one customer: the rules, one person per resident ID, the core account, the touchpoint.

Shared by single openings and batch rows. The core-banking reference is derived from the
person's blind index, so every retry — a replayed request, a re-run batch chunk after a crash, a
second partner bringing the same person — asks the core for the same account and never opens two.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.channels.campaigns.service import is_credit_campaign
from gateway.core_banking import CoreBanking
from gateway.customers.models import Customer, CustomerLink, Touchpoint
from gateway.customers.rules import RowError, birth_date_of, check_identity
from gateway.errors import NotFound
from gateway.ids import new_id
from gateway.pii import PiiVault
from gateway.scenarios.base import ProposedOpening, is_credit_excluded, opening_refusal

Outcome = Literal["opened", "existing", "rejected"]


@dataclass(frozen=True, slots=True)
class Applicant:
    """One person as a partner submits them (a batch row or a single opening)."""

    name: str
    id_number: str
    phone: str
    external_ref: str | None = None
    referral_code: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] | None = None

    def seal(self, vault: PiiVault) -> str:
        sealed = json.dumps(dataclasses.asdict(self), ensure_ascii=False)
        return vault.encrypt(sealed, context="batch_row")

    @classmethod
    def unseal(cls, vault: PiiVault, sealed: str) -> Applicant:
        return cls(**json.loads(vault.decrypt(sealed, context="batch_row")))


@dataclass(frozen=True, slots=True)
class Channel:
    """Where an opening came from (DESIGN §7); the acquiring channel if it creates the customer."""

    partner_id: str
    scenario: str
    sub_channel: str | None = None
    campaign: str | None = None
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class Opening:
    status: Outcome
    customer_id: str | None = None
    account_no: str | None = None
    error: RowError | None = None


def id_index(vault: PiiVault, id_number: str) -> str:
    return vault.blind_index("id_number", id_number)


async def _reference_holder(
    session: AsyncSession, partner_id: str, external_ref: str
) -> str | None:
    holder: str | None = await session.scalar(
        select(CustomerLink.customer_id).where(
            col(CustomerLink.partner_id) == partner_id,
            col(CustomerLink.external_ref) == external_ref,
        )
    )
    return holder


_REF_CONFLICT = RowError(
    "external_ref_conflict", "This external_ref already names another customer."
)


async def _link(
    session: AsyncSession, channel: Channel, customer_id: str, external_ref: str | None
) -> RowError | None:
    """Link the partner to the customer under its reference; one reference names one person."""
    link = await session.get(CustomerLink, (channel.partner_id, customer_id))
    if link is None:
        session.add(
            CustomerLink(
                partner_id=channel.partner_id, customer_id=customer_id, external_ref=external_ref
            )
        )
    elif external_ref is not None and link.external_ref not in (None, external_ref):
        return _REF_CONFLICT
    elif external_ref is not None:
        link.external_ref = external_ref
    return None


def _touch(
    session: AsyncSession, channel: Channel, customer_id: str, applicant: Applicant, kind: str
) -> None:
    session.add(
        Touchpoint(
            id=new_id("tch"),
            customer_id=customer_id,
            partner_id=channel.partner_id,
            scenario=channel.scenario,
            sub_channel=channel.sub_channel,
            campaign=channel.campaign,
            referral_code=applicant.referral_code,
            kind=kind,
            batch_id=channel.batch_id,
            context=applicant.context,
        )
    )


_CREDIT_EXCLUDED = RowError(
    "credit_excluded", "This person may not be opened into a credit-card or consumer-loan campaign."
)


async def _scenario_refusal(
    session: AsyncSession, channel: Channel, customer_id: str | None, applicant: Applicant
) -> RowError | None:
    """The scenario's objection to the row, then the credit exclusion (DESIGN §9 campus): nobody
    a scenario excludes from credit is opened into a credit campaign. Asked before the core."""
    credit = await is_credit_campaign(session, channel.campaign)
    refusal = await opening_refusal(
        session,
        channel.scenario,
        ProposedOpening(
            channel.partner_id, channel.sub_channel, customer_id, applicant.attributes, credit
        ),
    )
    if (
        refusal is None
        and credit
        and customer_id is not None
        and await is_credit_excluded(session, customer_id)
    ):
        return _CREDIT_EXCLUDED
    return refusal


async def _insert_customer(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert unless the person exists already (a concurrent opening won): True if inserted."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Customer).values(**values).on_conflict_do_nothing(index_elements=["id_index"])
    result = await session.execute(stmt.returning(col(Customer.id)))
    return result.scalar_one_or_none() is not None


async def open_customer(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    channel: Channel,
    applicant: Applicant,
    *,
    today: date,
) -> Opening:
    """Open (or recognise) one person for ``channel``; only flushes, the caller commits."""
    error = check_identity(applicant.name, applicant.id_number, applicant.phone, today)
    if error is not None:
        return Opening("rejected", error=error)
    index = id_index(vault, applicant.id_number)
    customer = await session.scalar(select(Customer).where(col(Customer.id_index) == index))
    if applicant.external_ref is not None:
        holder = await _reference_holder(session, channel.partner_id, applicant.external_ref)
        if holder is not None and (customer is None or holder != customer.id):
            return Opening("rejected", error=_REF_CONFLICT)
    known = customer.id if customer is not None else None
    refusal = await _scenario_refusal(session, channel, known, applicant)
    if refusal is not None:
        return Opening("rejected", error=refusal)
    if customer is None:
        customer_id = new_id("cus")
        account = await core.open_account(
            reference=f"open:{index[:48]}",
            customer_ref=customer_id,
            name=applicant.name,
            id_number_hash=index,
        )
        inserted = await _insert_customer(
            session,
            {
                "id": customer_id,
                "id_index": index,
                "phone_index": vault.blind_index("phone", applicant.phone),
                "name": vault.encrypt(applicant.name.strip(), context="customer.name"),
                "id_number": vault.encrypt(
                    applicant.id_number.strip().upper(), context="customer.id_number"
                ),
                "phone": vault.encrypt(applicant.phone.strip(), context="customer.phone"),
                "account_no": vault.encrypt(account.account_no, context="customer.account_no"),
                "birth_date": birth_date_of(applicant.id_number),
                "acquired_by": channel.partner_id if account.status == "opened" else None,
            },
        )
        if inserted:
            conflict = await _link(session, channel, customer_id, applicant.external_ref)
            if conflict is not None:
                return Opening("rejected", error=conflict)
            kind: Outcome = "opened" if account.status == "opened" else "existing"
            _touch(session, channel, customer_id, applicant, kind)
            await session.flush()
            return Opening(kind, customer_id, account.account_no)
        customer = await session.scalar(select(Customer).where(col(Customer.id_index) == index))
        if customer is None:
            raise RuntimeError("customer vanished after a conflicting insert")
    conflict = await _link(session, channel, customer.id, applicant.external_ref)
    if conflict is not None:
        return Opening("rejected", error=conflict)
    _touch(session, channel, customer.id, applicant, "existing")
    await session.flush()
    return Opening(
        "existing", customer.id, vault.decrypt(customer.account_no, context="customer.account_no")
    )


async def customer_for_partner(
    session: AsyncSession, customer_id: str, partner_id: str
) -> tuple[Customer, CustomerLink]:
    """A customer as one linked partner may see it; 404 for anyone else (ids cannot be probed)."""
    row = (
        await session.execute(
            sa.select(Customer, CustomerLink)
            .join(CustomerLink, col(CustomerLink.customer_id) == col(Customer.id))
            .where(col(Customer.id) == customer_id, col(CustomerLink.partner_id) == partner_id)
        )
    ).first()
    if row is None:
        raise NotFound("No such customer.")
    return row[0], row[1]
