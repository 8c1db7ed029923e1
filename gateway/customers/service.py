"""Opening one customer: the rules, one person per resident ID, the core account, the touchpoint.

Shared by single openings and batch rows. The core-banking reference is derived from the
person's blind index, so every retry — a replayed request, a re-run batch chunk after a crash, a
second partner bringing the same person — asks the core for the same account and never opens two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col, select

from gateway.channels.campaigns.service import is_credit_campaign
from gateway.channels.lifecycle.service import record_openings
from gateway.core_banking import AccountResult, CoreBanking
from gateway.core_banking.schemas import AccountOpen
from gateway.customers.models import Customer, CustomerLink, Touchpoint
from gateway.customers.rules import RowError, checked_birth_date
from gateway.db import bulk_insert, one_of, table_of, utcnow
from gateway.errors import NotFound
from gateway.ids import new_id
from gateway.pii import PiiVault
from gateway.scenarios.base import (
    ChecksOpenings,
    ProposedOpening,
    adapter_for,
    credit_excluded,
    opening_refusal,
)

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
        return vault.encrypt(msgspec.json.encode(self).decode(), context="batch_row")

    @classmethod
    def unseal(cls, vault: PiiVault, sealed: str) -> Applicant:
        return msgspec.json.decode(vault.decrypt(sealed, context="batch_row"), type=cls)


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


def phone_index(vault: PiiVault, phone: str) -> str:
    return vault.blind_index("phone", phone)


_REF_CONFLICT = RowError(
    "external_ref_conflict", "This external_ref already names another customer."
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A row that passed the rules and is about to be opened.

    ``customer_id`` is the id the person gets if new, chosen before the core is asked and sent
    to it as ``customer_ref``: a batch row keeps it across retries, so a chunk re-run after a
    crash asks the core for exactly the same account (the reference is the person's).
    ``index`` and ``phone_index`` are the blind indexes of the ID number and the phone (HMACs),
    computed once per row and read by the risk event and the customer row alike.
    """

    applicant: Applicant
    index: str
    customer_id: str
    birth_date: date
    phone_index: str


def candidate(
    vault: PiiVault, applicant: Applicant, today: date, customer_id: str | None = None
) -> Candidate | RowError:
    """Check the row rules; a :class:`Candidate` or the first rule the row breaks."""
    birth = checked_birth_date(applicant.name, applicant.id_number, applicant.phone, today)
    if isinstance(birth, RowError):
        return birth
    return Candidate(
        applicant,
        id_index(vault, applicant.id_number),
        customer_id or new_id("cus"),
        birth,
        phone_index(vault, applicant.phone),
    )


_CREDIT_EXCLUDED = RowError(
    "credit_excluded", "This person may not be opened into a credit-card or consumer-loan campaign."
)


async def _refusals(
    session: AsyncSession, channel: Channel, rows: Sequence[tuple[str, Applicant]]
) -> list[RowError | None]:
    """Each row's scenario objection (a campus student number taken), then the credit exclusion
    (DESIGN §9 campus): nobody a scenario excludes from credit is opened into a credit campaign.
    Asked before the core, for (customer id, applicant) pairs, once per chunk: the campaign is
    read once, the exclusions in one query, and a scenario with no opening check costs nothing
    per row (the check of a runtime protocol alone was ~10 µs a row)."""
    credit = await is_credit_campaign(session, channel.campaign)
    checks = isinstance(adapter_for(channel.scenario), ChecksOpenings)
    excluded = await credit_excluded(session, {c for c, _ in rows}) if credit else set()
    refusals: list[RowError | None] = []
    for customer_id, applicant in rows:
        refusal = None
        if checks:
            proposed = ProposedOpening(
                channel.partner_id, channel.sub_channel, customer_id, applicant.attributes, credit
            )
            refusal = await opening_refusal(session, channel.scenario, proposed)
        if refusal is None and customer_id in excluded:
            refusal = _CREDIT_EXCLUDED
        refusals.append(refusal)
    return refusals


@dataclass(slots=True)
class _Plan:
    """What a set of candidates needs, worked out from two look-ups."""

    outcomes: list[Opening | None]
    known: dict[str, tuple[str, str]]  # id_index -> (customer id, sealed account number)
    links: dict[str, str | None]  # customer id -> the partner's external_ref on its link


async def _plan(session: AsyncSession, channel: Channel, rows: Sequence[Candidate]) -> _Plan:
    """One query for the people already known, one for the partner's links to them or to the
    rows' references; a row whose reference names someone else is rejected here, and so is a
    row its scenario refuses (a campus student number taken) or a credit exclusion bars."""
    dialect = session.get_bind().dialect
    known = {
        r.id_index: (r.id, r.account_no)
        for r in (
            await session.execute(
                select(col(Customer.id), col(Customer.id_index), col(Customer.account_no)).where(
                    one_of(dialect, col(Customer.id_index), [c.index for c in rows])
                )
            )
        ).all()
    }
    refs = [c.applicant.external_ref for c in rows if c.applicant.external_ref is not None]
    customer_ids = [k[0] for k in known.values()]
    # Two keyed selects, not one ``OR``: SQLite answered the OR from the partner's part of the
    # key alone, reading every link of the partner for each chunk of a batch.
    link_rows = (
        await session.execute(
            sa.union(
                *(
                    select(col(CustomerLink.customer_id), col(CustomerLink.external_ref)).where(
                        col(CustomerLink.partner_id) == channel.partner_id,
                        one_of(dialect, key, values),
                    )
                    for key, values in (
                        (col(CustomerLink.customer_id), customer_ids),
                        (col(CustomerLink.external_ref), refs),
                    )
                )
            )
        )
    ).all()
    links = {r.customer_id: r.external_ref for r in link_rows}
    holders = {r.external_ref: r.customer_id for r in link_rows if r.external_ref is not None}
    outcomes: list[Opening | None] = []
    asked: list[tuple[int, str]] = []  # rows to ask the scenario about, with their customer id
    for n, c in enumerate(rows):
        ref = c.applicant.external_ref
        customer_id = known[c.index][0] if c.index in known else None
        holder = holders.get(ref) if ref is not None else None
        linked_ref = links.get(customer_id) if customer_id is not None else None
        if (holder is not None and holder != customer_id) or (
            ref is not None and linked_ref not in (None, ref)
        ):
            outcomes.append(Opening("rejected", error=_REF_CONFLICT))
        else:
            outcomes.append(None)
            asked.append((n, customer_id or c.customer_id))
    refusals = await _refusals(session, channel, [(cid, rows[n].applicant) for n, cid in asked])
    for (n, _), refusal in zip(asked, refusals, strict=True):
        if refusal is not None:
            outcomes[n] = Opening("rejected", error=refusal)
    return _Plan(outcomes, known, links)


async def _insert_customers(session: AsyncSession, values: list[dict[str, Any]]) -> set[str]:
    """Insert unless the person exists already (a concurrent opening won): the ids inserted."""
    if not values:
        return set()
    insert = bulk_insert(
        session.get_bind().dialect,
        table_of(Customer),
        values,
        skip_conflicts=True,
        conflict_on=["id_index"],
        returning="id",
    )
    return set((await session.scalars(*insert)).all())


def _customer_values(
    vault: PiiVault, channel: Channel, c: Candidate, account: AccountResult
) -> dict[str, Any]:
    a = c.applicant
    return {
        "id": c.customer_id,
        "id_index": c.index,
        "phone_index": c.phone_index,
        "name": vault.encrypt(a.name.strip(), context="customer.name"),
        "id_number": vault.encrypt(a.id_number.strip().upper(), context="customer.id_number"),
        "phone": vault.encrypt(a.phone.strip(), context="customer.phone"),
        "account_no": vault.encrypt(account.account_no, context="customer.account_no"),
        "birth_date": c.birth_date,
        "acquired_by": channel.partner_id if account.status == "opened" else None,
    }


def _touchpoint(
    channel: Channel, customer_id: str, applicant: Applicant, kind: str
) -> dict[str, Any]:
    return {
        "id": new_id("tch"),
        "customer_id": customer_id,
        "partner_id": channel.partner_id,
        "scenario": channel.scenario,
        "sub_channel": channel.sub_channel,
        "campaign": channel.campaign,
        "referral_code": applicant.referral_code,
        "kind": kind,
        "batch_id": channel.batch_id,
        "context": applicant.context,
        "created_at": utcnow(),
    }


async def open_customers(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    channel: Channel,
    rows: Sequence[Candidate],
) -> list[Opening]:
    """Open (or recognise) many checked people for ``channel`` with a fixed number of
    statements whatever their count: two look-ups, one core call, one insert per table.
    Outcomes in the order given; only flushes, the caller commits.

    No two candidates may be the same person or carry the same reference (a batch refuses
    those at upload as ``duplicate_in_batch`` / ``external_ref_conflict``).
    """
    plan = await _plan(session, channel, rows)
    fresh = [
        (n, c) for n, c in enumerate(rows) if plan.outcomes[n] is None and c.index not in plan.known
    ]
    accounts = await core.open_accounts(
        [
            AccountOpen(
                reference=f"open:{c.index[:48]}",
                customer_ref=c.customer_id,
                name=c.applicant.name,
                id_number_hash=c.index,
            )
            for _, c in fresh
        ]
    )
    values = [
        _customer_values(vault, channel, c, a) for (_, c), a in zip(fresh, accounts, strict=True)
    ]
    inserted = await _insert_customers(session, values)
    lost = [c.index for (_, c) in fresh if c.customer_id not in inserted]
    if lost:  # a concurrent opening of the same person committed first: theirs is the customer
        plan.known |= {
            r.id_index: (r.id, r.account_no)
            for r in (
                await session.execute(
                    select(
                        col(Customer.id), col(Customer.id_index), col(Customer.account_no)
                    ).where(one_of(session.get_bind().dialect, col(Customer.id_index), lost))
                )
            ).all()
        }
    opened = {
        c.customer_id: a
        for (_, c), a in zip(fresh, accounts, strict=True)
        if c.customer_id in inserted
    }
    new_links: list[dict[str, Any]] = []
    touchpoints: list[dict[str, Any]] = []
    outcomes: list[Opening] = []
    for n, c in enumerate(rows):
        decided = plan.outcomes[n]
        if decided is not None:
            outcomes.append(decided)
            continue
        ref = c.applicant.external_ref
        account = opened.get(c.customer_id)
        if account is not None:
            customer_id, account_no = c.customer_id, account.account_no
            kind: Outcome = "opened" if account.status == "opened" else "existing"
        else:
            customer_id, sealed = plan.known[c.index]
            account_no = vault.decrypt(sealed, context="customer.account_no")
            kind = "existing"
        if customer_id not in plan.links:
            new_links.append(
                {
                    "partner_id": channel.partner_id,
                    "customer_id": customer_id,
                    "external_ref": ref,
                    "created_at": utcnow(),
                }
            )
            plan.links[customer_id] = ref
        elif ref is not None and plan.links[customer_id] is None:
            await session.execute(
                sa.update(CustomerLink)
                .where(
                    col(CustomerLink.partner_id) == channel.partner_id,
                    col(CustomerLink.customer_id) == customer_id,
                )
                .values(external_ref=ref)
            )
            plan.links[customer_id] = ref
        touchpoints.append(_touchpoint(channel, customer_id, c.applicant, kind))
        outcomes.append(Opening(kind, customer_id, account_no))
    dialect = session.get_bind().dialect
    if new_links:
        await session.execute(*bulk_insert(dialect, table_of(CustomerLink), new_links))
    if touchpoints:
        await session.execute(*bulk_insert(dialect, table_of(Touchpoint), touchpoints))
        # A bulk insert fires no ORM events: give each acquisition its milestone row here.
        acquired = [t for t in touchpoints if t["kind"] == "opened"]

        def acquire(sync: Session) -> None:
            record_openings(sync.connection(), acquired)

        await session.run_sync(acquire)
    return outcomes


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
    checked = candidate(vault, applicant, today)
    if isinstance(checked, RowError):
        return Opening("rejected", error=checked)
    (opening,) = await open_customers(session, vault, core, channel, [checked])
    return opening


def _linked(*columns: Any) -> sa.Select[Any]:
    """``columns`` of a customer linked to a partner (``:customer``, ``:partner``): the one
    statement of the rule that a partner sees only the customers linked to it."""
    customers, links = table_of(Customer), table_of(CustomerLink)
    return (
        sa.select(*columns)
        .select_from(customers.join(links, links.c.customer_id == customers.c.id))
        .where(
            customers.c.id == sa.bindparam("customer"),
            links.c.partner_id == sa.bindparam("partner"),
        )
    )


# Prebuilt: every payment reads the account, and many partner routes the customer.
_LINKED_CUSTOMER = _linked(Customer, CustomerLink)
_LINKED_ACCOUNT = _linked(table_of(Customer).c.account_no)


async def customer_for_partner(
    session: AsyncSession, customer_id: str, partner_id: str
) -> tuple[Customer, CustomerLink]:
    """A customer as one linked partner may see it; 404 for anyone else (ids cannot be probed)."""
    row = (
        await session.execute(_LINKED_CUSTOMER, {"customer": customer_id, "partner": partner_id})
    ).first()
    if row is None:
        raise NotFound("No such customer.")
    return row[0], row[1]


async def linked_account_no(session: AsyncSession, customer_id: str, partner_id: str) -> str:
    """The sealed account number of a customer linked to ``partner_id``; 404 for anyone else,
    as :func:`customer_for_partner`. One prebuilt statement: every payment reads it."""
    sealed = await session.scalar(_LINKED_ACCOUNT, {"customer": customer_id, "partner": partner_id})
    if sealed is None:
        raise NotFound("No such customer.")
    return str(sealed)
