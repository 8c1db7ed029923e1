"""Campus cards and merchants: issuing a card to each opened student or staff member, the rules
of a row, lost-card freezes, and the credit exclusion of students (DESIGN §9 campus)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.customers.models import Customer
from gateway.customers.rules import RowError
from gateway.db import utcnow
from gateway.errors import Conflict, NotFound
from gateway.ids import new_id
from gateway.scenarios.base import OpenedCustomer, ProposedOpening
from gateway.scenarios.campus.models import (
    CampusCard,
    CampusMerchant,
    CardStatus,
    Role,
)
from gateway.scenarios.campus.schemas import MerchantCreate

KEY = "campus"
STUDENT_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
log = structlog.get_logger(__name__)


class CardClosed(Conflict):
    code = "card_closed"


# -- the rows of an account batch --------------------------------------------------------------


def role_of(attributes: Mapping[str, Any]) -> Role | None:
    raw = attributes.get("role")
    try:
        return Role(raw.strip().lower()) if isinstance(raw, str) else None
    except ValueError:
        return None


def student_no_of(attributes: Mapping[str, Any]) -> str | None:
    """The row's student (or staff) number; JSON may send it as a number, CSV always as text."""
    raw = attributes.get("student_no")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not STUDENT_NO.fullmatch(raw.strip()):
        return None
    return raw.strip()


async def _holder(session: AsyncSession, partner_id: str, student_no: str) -> str | None:
    holder: str | None = await session.scalar(
        select(CampusCard.customer_id).where(
            col(CampusCard.partner_id) == partner_id, col(CampusCard.student_no) == student_no
        )
    )
    return holder


async def check_opening(session: AsyncSession, opening: ProposedOpening) -> RowError | None:
    """A row needs a known role and a student number nobody else at the university holds; a
    student is never opened into a credit campaign. Earlier rows of the same unit of work count
    (a batch chunk is checked before any of its cards exist): each accepted row claims its
    number in the session, and ``customer_id`` is the id the person has or will get."""
    role = role_of(opening.attributes)
    if role is None:
        return RowError("role_invalid", "attributes.role must be student or staff.")
    student_no = student_no_of(opening.attributes)
    if student_no is None:
        return RowError(
            "student_no_invalid",
            "attributes.student_no must be 1-32 letters, digits, '-' or '_'.",
        )
    if role is Role.STUDENT and opening.credit_campaign:
        return RowError(
            "credit_excluded",
            "Students may not be opened into a credit-card or consumer-loan campaign.",
        )
    claims: dict[tuple[str, str], str | None] = session.info.setdefault("campus.student_nos", {})
    key = (opening.partner_id, student_no)
    holder = claims[key] if key in claims else await _holder(session, *key)
    if holder is not None and holder != opening.customer_id:
        return RowError(
            "student_no_duplicate", "Another person holds this student_no at the university."
        )
    claims[key] = opening.customer_id
    return None


async def issue_card(session: AsyncSession, customer: OpenedCustomer) -> CampusCard | None:
    """The card of an opened (or recognised) person, created once per student number."""
    role, student_no = role_of(customer.attributes), student_no_of(customer.attributes)
    if role is None or student_no is None:
        return None  # refused by check_opening before the person was opened
    card = await session.scalar(
        select(CampusCard).where(
            col(CampusCard.partner_id) == customer.partner_id,
            col(CampusCard.student_no) == student_no,
        )
    )
    if card is not None:
        return card
    card = CampusCard(
        id=new_id("ccd"),
        partner_id=customer.partner_id,
        customer_id=customer.customer_id,
        student_no=student_no,
        role=role.value,
        sub_channel=customer.sub_channel,
    )
    session.add(card)
    await session.flush()  # the next row of the batch sees this student number taken
    log.info("campus.card_issued", card_id=card.id, role=card.role)
    return card


# -- compliance --------------------------------------------------------------------------------


def is_student(customer_id: Any) -> sa.ColumnElement[bool]:
    """SQL: the customer (a column or value) holds a campus student card that is not closed,
    the predicate the credit marketing lists filter with."""
    return sa.exists().where(
        col(CampusCard.customer_id) == customer_id,
        col(CampusCard.role) == Role.STUDENT.value,
        col(CampusCard.status) != CardStatus.CLOSED.value,
    )


async def students_among(session: AsyncSession, customer_ids: Collection[str]) -> set[str]:
    """Those of ``customer_ids`` holding a campus student card that is not closed.

    Regulation (银监发〔2009〕60号, 〔2021〕28号) forbids marketing credit cards and consumer loans
    to students; a graduate's card is closed on withdrawal, and with it the exclusion ends.
    """
    ids = list(customer_ids)
    found: set[str] = set()
    for start in range(0, len(ids), 500):  # stay under every engine's bound-parameter limit
        rows = await session.scalars(
            select(CampusCard.customer_id)
            .where(
                col(CampusCard.customer_id).in_(ids[start : start + 500]),
                col(CampusCard.role) == Role.STUDENT.value,
                col(CampusCard.status) != CardStatus.CLOSED.value,
            )
            .distinct()
        )
        found.update(rows.all())
    return found


# -- merchants ---------------------------------------------------------------------------------


async def create_merchant(
    session: AsyncSession, partner_id: str, data: MerchantCreate
) -> CampusMerchant:
    taken = await session.scalar(
        select(CampusMerchant.id).where(
            col(CampusMerchant.partner_id) == partner_id,
            col(CampusMerchant.external_ref) == data.external_ref,
        )
    )
    if taken is not None:
        raise Conflict("A merchant with this external_ref exists.", code="external_ref_conflict")
    merchant = CampusMerchant(
        id=new_id("cmr"),
        partner_id=partner_id,
        external_ref=data.external_ref,
        name=data.name,
        type=data.type,
    )
    session.add(merchant)
    await session.flush()
    return merchant


async def is_merchant(session: AsyncSession, partner_id: str, merchant_id: str) -> bool:
    found = await session.scalar(
        select(CampusMerchant.id).where(
            col(CampusMerchant.id) == merchant_id, col(CampusMerchant.partner_id) == partner_id
        )
    )
    return found is not None


# -- cards -------------------------------------------------------------------------------------


async def lock_card(session: AsyncSession, partner_id: str, card_id: str) -> CampusCard:
    """The partner's card, held until commit (404 for anyone else's).

    Writing first takes the row lock on PostgreSQL and the database write lock on SQLite (which
    has no FOR UPDATE), so two requests on one card take turns and each sees the other's balance.
    """
    touched = await session.scalar(
        sa.update(CampusCard)
        .where(col(CampusCard.id) == card_id, col(CampusCard.partner_id) == partner_id)
        .values(updated_at=utcnow())
        .returning(col(CampusCard.id))
        .execution_options(synchronize_session=False)
    )
    if touched is None:
        raise NotFound("No such card.")
    card = await session.scalar(
        select(CampusCard)
        .where(col(CampusCard.id) == card_id)
        .execution_options(populate_existing=True)
    )
    if card is None:
        raise NotFound("No such card.")
    return card


async def birth_dates(session: AsyncSession, customer_ids: Collection[str]) -> dict[str, date]:
    rows = await session.execute(
        select(col(Customer.id), col(Customer.birth_date)).where(
            col(Customer.id).in_(set(customer_ids))
        )
    )
    return {str(cid): born for cid, born in rows}


def _summary(card: CampusCard) -> dict[str, Any]:
    return {"status": card.status, "balance": card.balance}


async def set_frozen(
    session: AsyncSession, partner_id: str, card_id: str, *, frozen: bool
) -> CampusCard:
    """Report a card lost (no payments until found) or found again; audited either way."""
    card = await lock_card(session, partner_id, card_id)
    if card.status == CardStatus.CLOSED:
        raise CardClosed("The card is closed.")
    if frozen and card.status == CardStatus.FROZEN:
        raise Conflict("The card is already frozen.", code="card_already_frozen")
    if not frozen and card.status != CardStatus.FROZEN:
        raise Conflict("The card is not frozen.", code="card_not_frozen")
    before = _summary(card)
    card.status = (CardStatus.FROZEN if frozen else CardStatus.ACTIVE).value
    audit.record(
        session,
        actor=f"partner:{partner_id}",
        action="campus.card_frozen" if frozen else "campus.card_unfrozen",
        subject_type="campus_card",
        subject_id=card.id,
        before=before,
        after=_summary(card),
    )
    await session.flush()
    return card


def card_filters(
    partner_id: str,
    *,
    role: str | None,
    status: str | None,
    student_no: str | None,
    customer_id: str | None,
) -> Sequence[sa.ColumnElement[bool]]:
    where = [col(CampusCard.partner_id) == partner_id]
    for column, value in (
        (CampusCard.role, role),
        (CampusCard.status, status),
        (CampusCard.student_no, student_no),
        (CampusCard.customer_id, customer_id),
    ):
        if value is not None:
            where.append(col(column) == value)
    return where
