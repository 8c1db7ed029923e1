"""Cards, top-ups into the supervised escrow, releases to the merchant, refunds from escrow.

Every movement of a merchant's money first takes the merchant's row lock, then the card's:
the reserve rule spans all of a merchant's cards, so two releases (or a release and a refund)
must not both pass the check on the same figures. The lock is a touching UPDATE (the row lock on
PostgreSQL, the database write lock on SQLite, which has no FOR UPDATE), as in the campaigns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import risk
from gateway.clock import business_date_of
from gateway.core_banking import CoreBanking, CoreBankingUnavailable, MoneyStatus
from gateway.customers.service import customer_for_partner
from gateway.db import insert_once, table_of, utcnow
from gateway.errors import BusinessRuleViolation, Conflict, FieldError, NotFound, ValidationFailed
from gateway.ids import new_id
from gateway.partners.models import Partner
from gateway.pii import PiiVault
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.scenarios.payments import PaymentDeclined, collect, payer_for
from gateway.scenarios.stored_value import rules
from gateway.scenarios.stored_value.models import (
    ANONYMOUS_CAP,
    NAMED_CAP,
    Card,
    Merchant,
    Movement,
    MovementKind,
    ProductType,
)
from gateway.scenarios.stored_value.schemas import (
    CardCreate,
    ConsumptionCreate,
    EscrowRead,
    RefundCreate,
    TopUpCreate,
)
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import balance, post_journal

KEY = "stored_value"
COOLING_OFF = timedelta(days=7)
TRAILING = timedelta(days=30)
# Transaction kinds out of the escrow. Not ``refund``: that is a refund of a payment the partner
# was owed (settlement subtracts it from the partner's gross); these never touch the payable.
TXN_KINDS = {
    MovementKind.RELEASE: "release",
    MovementKind.REFUND: "escrow_refund",
    MovementKind.WIND_DOWN_REFUND: "wind_down_refund",
}
log = structlog.get_logger(__name__)


class NamedCapExceeded(BusinessRuleViolation):
    code = "named_balance_cap_exceeded"


class AnonymousCapExceeded(BusinessRuleViolation):
    code = "anonymous_balance_cap_exceeded"


class LessonsPerChargeExceeded(BusinessRuleViolation):
    code = "lessons_per_charge_exceeded"


class TermPerChargeExceeded(BusinessRuleViolation):
    code = "term_per_charge_exceeded"


class ReserveBreach(BusinessRuleViolation):
    code = "reserve_breach"


class InsufficientBalance(BusinessRuleViolation):
    code = "insufficient_balance"


class MerchantWoundDown(Conflict):
    code = "merchant_wound_down"


def profile(partner: Partner) -> tuple[str, str]:
    """The merchant's ``(industry, issuer_class)``, validated at onboarding."""
    data = partner.scenario_profile.get(KEY) or {}
    industry, issuer_class = data.get("industry"), data.get("issuer_class")
    if not isinstance(industry, str) or issuer_class not in rules.RESERVE_BP:
        raise BusinessRuleViolation(
            "The partner has no stored-value profile.", code="profile_missing"
        )
    return industry, str(issuer_class)


def escrow_account(partner_id: str) -> str:
    return account(AccountType.MERCHANT_ESCROW, partner_id)


async def escrow_balance(session: AsyncSession, partner_id: str) -> int:
    """What the escrow holds (the ledger keeps it credit-negative)."""
    return -await balance(session, escrow_account(partner_id))


async def outstanding_balance(session: AsyncSession, partner_id: str) -> int:
    total = await session.scalar(
        select(sa.cast(sa.func.coalesce(sa.func.sum(col(Card.balance)), 0), sa.BigInteger)).where(
            col(Card.partner_id) == partner_id
        )
    )
    return int(total or 0)


async def lock_merchant(session: AsyncSession, partner_id: str) -> Merchant:
    """The merchant's row, created on first use and held until commit."""
    values = {"partner_id": partner_id, "created_at": utcnow(), "updated_at": utcnow()}
    await session.execute(insert_once(session.get_bind().dialect.name, table_of(Merchant)), values)
    await session.execute(
        sa.update(Merchant)
        .where(col(Merchant.partner_id) == partner_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    merchant = await session.get(Merchant, partner_id, populate_existing=True)
    if merchant is None:  # pragma: no cover - inserted above
        raise RuntimeError("merchant row vanished")
    return merchant


async def _lock_card(session: AsyncSession, partner_id: str, card_id: str) -> Card:
    touched = await session.scalar(
        sa.update(Card)
        .where(col(Card.id) == card_id, col(Card.partner_id) == partner_id)
        .values(updated_at=utcnow())
        .returning(col(Card.id))
        .execution_options(synchronize_session=False)
    )
    card = await session.get(Card, card_id, populate_existing=True) if touched else None
    if card is None:
        raise NotFound("No such card.")
    return card


async def _open_for_movement(session: AsyncSession, partner_id: str, card_id: str) -> Card:
    merchant = await lock_merchant(session, partner_id)
    card = await _lock_card(session, partner_id, card_id)
    if merchant.wound_down_at is not None:
        raise MerchantWoundDown("The merchant was wound down; its cards are closed.")
    return card


def movement_of(card: Card, kind: MovementKind, amount: int, **extra: Any) -> Movement:
    return Movement(
        card_id=card.id,
        partner_id=card.partner_id,
        kind=kind.value,
        amount=amount,
        balance_after=card.balance,
        **extra,
    )


async def create_card(session: AsyncSession, partner: Partner, data: CardCreate) -> Card:
    profile(partner)
    await customer_for_partner(session, data.customer_id, partner.id)
    product = data.product
    errors: list[FieldError] = []
    wants = {
        ProductType.LESSON_PACKAGE.value: "lessons",
        ProductType.MEMBERSHIP.value: "term_months",
    }.get(product.type)
    for name in ("lessons", "term_months"):
        given = getattr(product, name) is not None
        if given != (name == wants):
            message = "Required for this product." if not given else "Not for this product."
            errors.append(FieldError(f"product.{name}", "product_invalid", message))
    if errors:
        raise ValidationFailed(
            "The product did not validate.", code="product_invalid", errors=errors
        )
    merchant = await lock_merchant(session, partner.id)
    if merchant.wound_down_at is not None:
        raise MerchantWoundDown("The merchant was wound down; it sells no more cards.")
    if data.external_ref is not None:
        taken = await session.scalar(
            select(Card.id).where(
                col(Card.partner_id) == partner.id, col(Card.external_ref) == data.external_ref
            )
        )
        if taken is not None:
            raise Conflict("A card with this external_ref exists.", code="external_ref_conflict")
    card = Card(
        id=new_id("svc"),
        partner_id=partner.id,
        customer_id=data.customer_id,
        external_ref=data.external_ref,
        named=data.named,
        product_type=product.type,
        package_lessons=product.lessons,
        package_term_months=product.term_months,
    )
    session.add(card)
    await session.flush()
    return card


def _charge_units(card: Card, data: TopUpCreate, industry: str) -> tuple[int, int]:
    """The lessons and months one charge buys, within the education caps."""
    lesson_package = card.product_type == ProductType.LESSON_PACKAGE
    membership = card.product_type == ProductType.MEMBERSHIP
    errors = [
        FieldError(name, "product_invalid", "Not for this product.")
        for name, ok in (("lessons", lesson_package), ("term_months", membership))
        if getattr(data, name) is not None and not ok
    ]
    if errors:
        raise ValidationFailed("The top-up does not fit the card.", errors=errors)
    lessons = (data.lessons or card.package_lessons or 0) if lesson_package else 0
    months = (data.term_months or card.package_term_months or 0) if membership else 0
    if industry == rules.EDUCATION:
        if lessons > rules.MAX_LESSONS_PER_CHARGE:
            raise LessonsPerChargeExceeded(
                f"One charge covers at most {rules.MAX_LESSONS_PER_CHARGE} lessons."
            )
        if months > rules.MAX_MONTHS_PER_CHARGE:
            raise TermPerChargeExceeded(
                f"One charge covers at most {rules.MAX_MONTHS_PER_CHARGE} months."
            )
    return lessons, months


async def _trailing_daily_mean(
    session: AsyncSession, partner_id: str, kind: MovementKind, now: datetime
) -> int:
    total = await session.scalar(
        select(
            sa.cast(sa.func.coalesce(sa.func.sum(col(Movement.amount)), 0), sa.BigInteger)
        ).where(
            col(Movement.partner_id) == partner_id,
            col(Movement.kind) == kind.value,
            col(Movement.occurred_at) >= now - TRAILING,
        )
    )
    return int(total or 0) // TRAILING.days


async def top_up(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner: Partner,
    card_id: str,
    data: TopUpCreate,
    reference: str,
) -> tuple[Card, Movement]:
    """Charge the holder through the core; the money lands in the merchant's escrow."""
    industry, _ = profile(partner)
    card = await _open_for_movement(session, partner.id, card_id)
    lessons, months = _charge_units(card, data, industry)
    cap = NAMED_CAP if card.named else ANONYMOUS_CAP
    if card.balance + data.amount > cap:
        error = NamedCapExceeded if card.named else AnonymousCapExceeded
        raise error(f"A {'named' if card.named else 'anonymous'} card holds at most {cap} fen.")
    now = utcnow()
    details = {
        "kind": MovementKind.TOP_UP.value,
        "amount": data.amount,
        "card_id": card.id,
        "trailing_daily_mean": await _trailing_daily_mean(
            session, partner.id, MovementKind.TOP_UP, now
        ),
        "context": data.context or {},
    }
    payer = await payer_for(session, vault, partner.id, card.customer_id)
    txn = await collect(
        session,
        core,
        partner_id=partner.id,
        scenario=KEY,
        kind="top_up",
        payer=payer,
        amount=data.amount,
        reference=reference,
        purpose=f"stored-value top-up {card.id}",
        external_ref=None,
        details=details,
        credit_account=escrow_account(partner.id),
    )
    card.balance += data.amount
    card.lessons_remaining += lessons
    card.months_purchased += months
    movement = movement_of(card, MovementKind.TOP_UP, data.amount, lessons=lessons, txn_id=txn.id)
    session.add(movement)
    await session.flush()
    return card, movement


async def book_out(
    session: AsyncSession,
    card: Card,
    *,
    kind: MovementKind,
    amount: int,
    reference: str,
    lines: list[tuple[str, int]],
    core_reference: str | None = None,
) -> Transaction:
    """The transaction row and journal of a movement out of the escrow."""
    txn_kind = TXN_KINDS[kind]
    now = utcnow()
    txn = Transaction(
        id=new_id("txn"),
        partner_id=card.partner_id,
        scenario=KEY,
        kind=txn_kind,
        status=TxnStatus.SUCCEEDED.value,
        customer_id=card.customer_id,
        amount=amount,
        reference=reference,
        core_reference=core_reference,
        occurred_at=now,
        business_date=business_date_of(now),
    )
    session.add(txn)
    await session.flush()
    await post_journal(
        session,
        reference=f"txn:{txn.id}",
        kind=f"{KEY}.{txn_kind}",
        lines=lines,
        occurred_at=now,
        txn_id=txn.id,
        partner_id=card.partner_id,
        scenario=KEY,
    )
    return txn


async def consume(
    session: AsyncSession,
    *,
    partner: Partner,
    card_id: str,
    data: ConsumptionCreate,
    reference: str,
) -> tuple[Card, Movement]:
    """Release what was consumed from escrow to the merchant's settlement payable, scored as a
    ``release`` event first (a ``review`` holds the release out of settlement under its case)."""
    industry, issuer_class = profile(partner)
    card = await _open_for_movement(session, partner.id, card_id)
    lessons = 0
    if card.product_type == ProductType.LESSON_PACKAGE:
        if data.lessons is None:
            raise ValidationFailed(
                "A lesson package is consumed by lessons.",
                errors=[FieldError("lessons", "required", "How many lessons were given.")],
            )
        if data.lessons > card.lessons_remaining:
            raise BusinessRuleViolation(
                f"The package has {card.lessons_remaining} lessons left.",
                code="lessons_exceed_remaining",
            )
        lessons = data.lessons
        amount = rules.lesson_value(card.balance, card.lessons_remaining, lessons)
        if data.amount is not None and data.amount != amount:
            raise BusinessRuleViolation(
                f"{lessons} lessons are worth {amount} fen.", code="amount_mismatch"
            )
    elif data.lessons is not None or data.amount is None:
        raise ValidationFailed(
            "This card is consumed by amount.",
            errors=[FieldError("amount", "required", "Send amount (and no lessons).")],
        )
    else:
        amount = data.amount
    if amount > card.balance:
        raise InsufficientBalance(f"The card holds {card.balance} fen.")
    if industry != rules.EDUCATION:
        bp = rules.reserve_bp(industry, issuer_class)
        escrow = await escrow_balance(session, partner.id)
        free = rules.releasable(escrow, await outstanding_balance(session, partner.id), bp)
        if amount > free:
            raise ReserveBreach(f"Only {free} fen can leave the escrow above the reserve.")
    now = utcnow()
    verdict = await risk.assess(  # escrow_drain and any rule on releases, before money moves
        session,
        "release",
        {
            "partner_id": partner.id,
            "scenario": KEY,
            "kind": "release",
            "customer_id": card.customer_id,
            "amount": amount,
            "occurred_at": now,
        },
    )
    verdict.raise_if_blocked()
    last_top_up = await session.scalar(
        select(sa.func.max(col(Movement.occurred_at))).where(
            col(Movement.card_id) == card.id, col(Movement.kind) == MovementKind.TOP_UP.value
        )
    )
    log.info(
        "stored_value.release",
        partner_id=partner.id,
        card_id=card.id,
        amount=amount,
        lessons=lessons,
        trailing_daily_mean=await _trailing_daily_mean(
            session, partner.id, MovementKind.RELEASE, now
        ),
        seconds_since_top_up=(now - last_top_up).total_seconds() if last_top_up else None,
    )
    txn = None
    if amount:
        txn = await book_out(
            session,
            card,
            kind=MovementKind.RELEASE,
            amount=amount,
            reference=reference,
            lines=[
                (escrow_account(partner.id), amount),
                (account(AccountType.PARTNER_PAYABLE, partner.id, KEY), -amount),
            ],
        )
        await risk.attach_transaction(
            session, verdict, txn_id=txn.id, partner_id=partner.id, amount=amount
        )
    card.balance -= amount
    card.lessons_remaining -= lessons
    movement = movement_of(
        card, MovementKind.RELEASE, amount, lessons=lessons, txn_id=txn.id if txn else None
    )
    session.add(movement)
    await session.flush()
    return card, movement


async def credit_holder(
    core: CoreBanking, *, reference: str, account_no: str, amount: int, purpose: str
) -> str | None:
    """Pay a holder back through the core; a refusal is a 422, an unknown outcome a 503."""
    result = await core.credit(
        reference=reference, account_no=account_no, amount=amount, purpose=purpose
    )
    if result.status is MoneyStatus.UNKNOWN:
        raise CoreBankingUnavailable(
            "The core did not confirm the refund; retry with the same Idempotency-Key."
        )
    if not result.ok:
        raise PaymentDeclined(
            f"The refund was declined: {result.error_code}.", code=str(result.error_code)
        )
    return result.core_reference


async def cooling_off_refundable(session: AsyncSession, card: Card, now: datetime) -> int:
    """Top-ups of the last 7 days with no consumption since, less what was refunded after."""
    last_release = await session.scalar(
        select(sa.func.max(col(Movement.occurred_at))).where(
            col(Movement.card_id) == card.id, col(Movement.kind) == MovementKind.RELEASE.value
        )
    )
    since = max(now - COOLING_OFF, last_release) if last_release else now - COOLING_OFF
    rows = (
        await session.execute(
            select(col(Movement.amount), col(Movement.occurred_at)).where(
                col(Movement.card_id) == card.id,
                col(Movement.kind) == MovementKind.TOP_UP.value,
                col(Movement.occurred_at) > since,
            )
        )
    ).all()
    if not rows:
        return 0
    first = min(at for _, at in rows)
    refunded = await session.scalar(
        select(sa.func.coalesce(sa.func.sum(col(Movement.amount)), 0)).where(
            col(Movement.card_id) == card.id,
            col(Movement.kind) == MovementKind.REFUND.value,
            col(Movement.occurred_at) >= first,
        )
    )
    return max(0, min(card.balance, sum(a for a, _ in rows) - int(refunded or 0)))


async def refund_card(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner: Partner,
    card_id: str,
    data: RefundCreate,
    reference: str,
) -> tuple[Card, Movement]:
    """Give a holder money back from the escrow (never from the merchant's own account)."""
    profile(partner)
    card = await _open_for_movement(session, partner.id, card_id)
    if data.amount > card.balance:
        raise BusinessRuleViolation(
            f"The card holds {card.balance} fen.", code="refund_exceeds_balance"
        )
    if data.reason == "cooling_off":
        eligible = await cooling_off_refundable(session, card, utcnow())
        if eligible == 0:
            raise BusinessRuleViolation(
                "No top-up of the last 7 days without a consumption since.",
                code="cooling_off_not_applicable",
            )
        if data.amount > eligible:
            raise BusinessRuleViolation(
                f"At most {eligible} fen is refundable in the cooling-off period.",
                code="refund_exceeds_cooling_off",
            )
    payer = await payer_for(session, vault, partner.id, card.customer_id)
    core_reference = await credit_holder(
        core,
        reference=reference,
        account_no=payer.account_no,
        amount=data.amount,
        purpose=f"stored-value refund {card.id}",
    )
    txn = await book_out(
        session,
        card,
        kind=MovementKind.REFUND,
        amount=data.amount,
        reference=reference,
        core_reference=core_reference,
        lines=[
            (escrow_account(partner.id), data.amount),
            (account(AccountType.CUSTOMER_FUNDS), -data.amount),
        ],
    )
    card.lessons_remaining = rules.lessons_left_after_refund(
        card.balance, card.lessons_remaining, data.amount
    )
    card.balance -= data.amount
    movement = movement_of(
        card, MovementKind.REFUND, data.amount, reason=data.reason, txn_id=txn.id
    )
    session.add(movement)
    await session.flush()
    return card, movement


async def escrow_view(session: AsyncSession, partner: Partner) -> EscrowRead:
    industry, issuer_class = profile(partner)
    bp = rules.reserve_bp(industry, issuer_class)
    outstanding = await outstanding_balance(session, partner.id)
    escrow = await escrow_balance(session, partner.id)
    merchant = await session.get(Merchant, partner.id)
    return EscrowRead(
        industry=industry,
        issuer_class=issuer_class,
        outstanding_balance=outstanding,
        escrow_balance=escrow,
        required_reserve=rules.required_reserve(outstanding, bp),
        reserve_ratio=bp / rules.FULL_BP,
        releasable=rules.releasable(escrow, outstanding, bp),
        frozen=merchant is not None and merchant.wound_down_at is not None,
    )
