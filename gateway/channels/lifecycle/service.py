"""Keeping milestones current: openings as they are written, transactions through a job.

Milestones (DESIGN §7), counted in days since opening, day 1 being the first 24 hours:

- ``activated_at``: the first successful scenario transaction (a refund never activates);
- ``effective_at``: the moment the customer's spend inside the campaign's ``activation_days``
  reached its ``effective_min_amount`` (refunds inside the window subtract); sticky once reached;
- ``retained_30d`` / ``retained_90d``: any activity (a transaction or a partner-reported event)
  in days 31–60 / 61–90;
- ``referred``: how many customers opened with this customer's referral code.

Applying a transaction is idempotent: its mark in ``channel_applied_transactions`` is inserted in
the same database transaction as its effects, and the milestone row is locked while it changes,
so transactions of one customer may be applied in any order, twice, or by racing workers.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.channels.campaigns.models import (
    DEFAULT_ACTIVATION_DAYS,
    DEFAULT_EFFECTIVE_MIN_AMOUNT,
    Campaign,
)
from gateway.channels.incentives import service as incentives
from gateway.channels.lifecycle.models import ChannelAppliedTransaction, ChannelMilestone
from gateway.clock import business_date_of
from gateway.customers.models import Touchpoint
from gateway.db import bulk_insert, insert_once, one_of, table_of, utcnow
from gateway.notifications import emit
from gateway.scenarios.models import Transaction, TxnStatus

log = structlog.get_logger(__name__)

# Kinds that give money back: they never activate and subtract from the effective window.
REFUND_KINDS = frozenset({"refund", "reversal"})
# Kinds that show activity but are not the customer's spend (escrow releases as services are
# consumed, payouts): they activate and retain but do not count toward the effective amount.
NON_SPEND_KINDS = frozenset({"release", "consumption", "payout", "withdrawal"})
TOP_UP_KINDS = frozenset({"top_up"})
# A top-up this large is a moment of truth for the acquiring partner (¥5,000).
LARGE_TOP_UP = 500_000
RETAINED_30D = (30, 60)  # days 31–60 as 0-based whole days since opening
RETAINED_90D = (60, 90)
MOMENT_EVENT = "customer.moment"
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed
CODE_LENGTH = 8
# Each random byte names one of the 32 characters (256 is 8 × 32, so all are equally likely):
# a whole batch chunk draws its codes without a SystemRandom call per character.
_CODE_OF_BYTE = bytes(_CODE_ALPHABET.encode()[b % len(_CODE_ALPHABET)] for b in range(256))


def new_referral_code() -> str:
    return secrets.token_bytes(CODE_LENGTH).translate(_CODE_OF_BYTE).decode()


def normalise_code(code: str) -> str:
    return code.strip().upper()


def cohort_week(day: date) -> date:
    """The Monday of the (ISO) week of ``day``."""
    return day - timedelta(days=day.weekday())


def day_index(opened_at: datetime, at: datetime) -> int:
    """Whole days since opening (0 on the first day); activity before opening counts as day 0."""
    return max(0, (at - opened_at) // timedelta(days=1))


# -- openings (run inside the flush that writes the touchpoint) -------------------------------

_milestones = ChannelMilestone.__table__  # type: ignore[attr-defined]


def record_opening(connection: sa.Connection, touch: Touchpoint) -> None:
    """Create the milestone row of a customer this touchpoint acquired, and credit a referrer.

    Runs synchronously on the flush's connection (a mapper event), so the row commits exactly
    with the opening — every path that opens customers, single or batch, without calling here.
    """
    record_openings(connection, [{k: getattr(touch, k) for k in _TOUCH_FIELDS}])


_TOUCH_FIELDS = (
    "customer_id",
    "partner_id",
    "scenario",
    "sub_channel",
    "campaign",
    "referral_code",
    "created_at",
)


def record_openings(connection: sa.Connection, touches: Sequence[Mapping[str, Any]]) -> None:
    """:func:`record_opening` for many acquisitions at once (a batch chunk's touchpoint rows,
    whose bulk insert fires no mapper events): one look-up of their campaigns and referral codes,
    one multi-row insert, one credit per referrer. Customers already recorded are left as is."""
    if not touches:
        return
    rules = _campaign_rules(connection, {t["campaign"] for t in touches if t["campaign"]})
    referrers = _referrers(connection, {normalise_code(t["referral_code"] or "") for t in touches})
    pending = {t["customer_id"]: _milestone_values(t, rules, referrers) for t in touches}
    dialect = connection.dialect
    referred: Counter[str] = Counter()
    for _ in range(8):  # a code collision (1 in ~10^12 per pair) just draws another code
        rows = [v | {"referral_code": new_referral_code()} for v in pending.values()]
        insert = bulk_insert(
            dialect, _milestones, rows, skip_conflicts=True, returning="customer_id"
        )
        for customer_id in connection.execute(*insert).scalars():
            referrer = pending.pop(customer_id)["referrer_id"]
            if referrer is not None:
                referred[referrer] += 1
        if pending:  # already recorded (nothing to credit twice), or a code collided
            recorded = connection.execute(
                sa.select(_milestones.c.customer_id).where(
                    one_of(dialect, _milestones.c.customer_id, pending)
                )
            ).scalars()
            for customer_id in recorded:
                del pending[customer_id]
        if not pending:
            break
    else:
        raise RuntimeError("could not draw a free referral code")
    for referrer, count in sorted(referred.items()):  # in key order: openers never deadlock
        connection.execute(
            sa.update(_milestones)
            .where(_milestones.c.customer_id == referrer)
            .values(referred=_milestones.c.referred + count)
        )


def _campaign_rules(connection: sa.Connection, campaigns: set[str]) -> dict[str, tuple[int, int]]:
    """Each campaign's activation window (days) and effective-customer minimum (fen)."""
    if not campaigns:
        return {}
    rows = connection.execute(
        sa.select(
            col(Campaign.id), col(Campaign.activation_days), col(Campaign.effective_min_amount)
        ).where(col(Campaign.id).in_(campaigns))
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def _referrers(connection: sa.Connection, codes: set[str]) -> dict[str, str]:
    """The customer each referral code belongs to."""
    codes.discard("")
    if not codes:
        return {}
    rows = connection.execute(
        sa.select(_milestones.c.referral_code, _milestones.c.customer_id).where(
            one_of(connection.dialect, _milestones.c.referral_code, codes)
        )
    )
    return {row[0]: row[1] for row in rows}


def _milestone_values(
    touch: Mapping[str, Any], rules: dict[str, tuple[int, int]], referrers: dict[str, str]
) -> dict[str, Any]:
    activation_days, min_amount = rules.get(
        touch["campaign"] or "", (DEFAULT_ACTIVATION_DAYS, DEFAULT_EFFECTIVE_MIN_AMOUNT)
    )
    referrer = referrers.get(normalise_code(touch["referral_code"] or ""))
    opened_at = touch["created_at"]
    opened_date = business_date_of(opened_at)
    return {
        "customer_id": touch["customer_id"],
        "partner_id": touch["partner_id"],
        "scenario": touch["scenario"],
        "sub_channel": touch["sub_channel"],
        "campaign": touch["campaign"],
        "referrer_id": referrer if referrer != touch["customer_id"] else None,
        "opened_at": opened_at,
        "opened_date": opened_date,
        "cohort_week": cohort_week(opened_date),
        "cohort_month": opened_date.strftime("%Y-%m"),
        "activation_days": activation_days,
        "effective_min_amount": min_amount,
        "window_amount": 0,
        "retained_30d": False,
        "retained_90d": False,
        "referred": 0,
        "flagged": False,
        "incentive_accrued": 0,
        "incentive_clawed_back": 0,
        "incentive_held": 0,
        "updated_at": utcnow(),
    }


# -- transactions (applied by a job) ----------------------------------------------------------


async def milestone_for_update(session: AsyncSession, customer_id: str) -> ChannelMilestone | None:
    """The customer's milestone row, locked until the caller's transaction ends (PostgreSQL)."""
    row: ChannelMilestone | None = await session.scalar(
        select(ChannelMilestone)
        .where(col(ChannelMilestone.customer_id) == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return row


async def _mark_applied(session: AsyncSession, transaction_id: str) -> bool:
    """Insert the transaction's mark; False if it was applied before (or by a racing worker,
    whose mark this insert waits for on PostgreSQL)."""
    result = await session.execute(
        insert_once(session.get_bind().dialect.name, table_of(ChannelAppliedTransaction)),
        {"transaction_id": transaction_id, "applied_at": utcnow()},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _retain(milestone: ChannelMilestone, at: datetime) -> None:
    day = day_index(milestone.opened_at, at)
    if RETAINED_30D[0] <= day < RETAINED_30D[1]:
        milestone.retained_30d = True
    if RETAINED_90D[0] <= day < RETAINED_90D[1]:
        milestone.retained_90d = True
    if milestone.last_active_at is None or at > milestone.last_active_at:
        milestone.last_active_at = at


async def moment(
    session: AsyncSession, milestone: ChannelMilestone, moment: str, **data: Any
) -> None:
    """Tell the acquiring partner about a moment of truth (and keep it in its event log)."""
    await emit(
        session,
        milestone.partner_id,
        MOMENT_EVENT,
        {"moment": moment, "customer_id": milestone.customer_id, **data},
    )


async def _effective_moment(session: AsyncSession, milestone: ChannelMilestone) -> datetime | None:
    """When the running total of the window's applied transactions, in the order they happened,
    first reached the threshold: the same answer whatever order the jobs ran in. Runs once per
    customer (when it becomes effective) over that customer's few window transactions."""
    applied = ChannelAppliedTransaction
    rows = (
        await session.execute(
            select(col(Transaction.kind), col(Transaction.amount), col(Transaction.occurred_at))
            .join(applied, col(applied.transaction_id) == col(Transaction.id))
            .where(
                col(Transaction.customer_id) == milestone.customer_id,
                col(Transaction.occurred_at)
                < milestone.opened_at + timedelta(days=milestone.activation_days),
                col(Transaction.kind).not_in(NON_SPEND_KINDS),
            )
            .order_by(col(Transaction.occurred_at), col(Transaction.id))
        )
    ).all()
    total = 0
    for kind, amount, occurred_at in rows:
        total += -amount if kind in REFUND_KINDS else amount
        if total >= milestone.effective_min_amount:
            return occurred_at
    return None


async def apply_transaction(session: AsyncSession, transaction_id: str) -> bool:
    """Apply one succeeded transaction to its customer's milestones; True if it changed them.

    Anything else (unknown, not succeeded yet, no customer, applied before) is a no-op, so the
    job may run any number of times and a pending transaction is applied when it succeeds.
    """
    # The mark is written first: on SQLite the transaction then holds the write lock from its
    # first statement (no read-then-upgrade conflicts between workers); on PostgreSQL a racing
    # job for the same transaction waits here for the first to commit, then finds the mark.
    if not await _mark_applied(session, transaction_id):
        return False
    txn = await session.get(Transaction, transaction_id, populate_existing=True)
    if txn is None or txn.customer_id is None or txn.status != TxnStatus.SUCCEEDED.value:
        await session.execute(  # not applicable yet: leave it for when it has succeeded
            sa.delete(ChannelAppliedTransaction).where(
                col(ChannelAppliedTransaction.transaction_id) == transaction_id
            )
        )
        return False
    milestone = await milestone_for_update(session, txn.customer_id)
    if milestone is None:
        return False  # opened before milestones existed, or never through a channel
    at = txn.occurred_at
    day = day_index(milestone.opened_at, at)
    if txn.kind in REFUND_KINDS:
        if milestone.effective_at is None and day < milestone.activation_days:
            milestone.window_amount -= txn.amount
        milestone.updated_at = utcnow()
        await session.flush()
        return True
    first = milestone.activated_at is None
    if first or at < milestone.activated_at:  # type: ignore[operator]
        milestone.activated_at = at
    _retain(milestone, at)
    became_effective = False
    if (
        txn.kind not in NON_SPEND_KINDS
        and milestone.effective_at is None
        and day < milestone.activation_days
    ):
        milestone.window_amount += txn.amount
        if milestone.window_amount >= milestone.effective_min_amount:
            milestone.effective_at = await _effective_moment(session, milestone) or at
            became_effective = True
    milestone.updated_at = utcnow()
    await session.flush()
    if became_effective:
        await incentives.on_effective(session, milestone, at)
    elif milestone.effective_at is not None and txn.kind not in NON_SPEND_KINDS:
        await incentives.on_spend(session, milestone, txn.id, txn.amount, at)
    if first:
        await moment(session, milestone, "first_transaction", transaction_id=txn.id)
    if txn.kind in TOP_UP_KINDS and txn.amount >= LARGE_TOP_UP:
        await moment(session, milestone, "large_top_up", transaction_id=txn.id, amount=txn.amount)
    log.debug("channels.transaction_applied", transaction_id=txn.id, effective=became_effective)
    return True


async def apply_activity(session: AsyncSession, customer_id: str, at: datetime) -> None:
    """A partner-reported signal (``app_login``…): it retains, but never activates."""
    milestone = await milestone_for_update(session, customer_id)
    if milestone is None:
        return
    _retain(milestone, at)
    milestone.updated_at = utcnow()
    await session.flush()


async def unapplied_transactions(
    session: AsyncSession, since: datetime, limit: int = 1000
) -> list[str]:
    """Succeeded transactions since ``since`` not yet applied: the sweep for rows written
    without the ORM (bulk loads, a status changed by a bare UPDATE)."""
    applied = ChannelAppliedTransaction
    rows = await session.scalars(
        select(Transaction.id)
        .outerjoin(applied, col(applied.transaction_id) == col(Transaction.id))
        .where(
            col(Transaction.occurred_at) >= since,
            col(Transaction.status) == TxnStatus.SUCCEEDED.value,
            col(Transaction.customer_id).is_not(None),
            col(applied.transaction_id).is_(None),
        )
        .order_by(col(Transaction.id))
        .limit(limit)
    )
    return list(rows.all())


async def referral_code_of(session: AsyncSession, customer_id: str) -> ChannelMilestone | None:
    row: ChannelMilestone | None = await session.get(ChannelMilestone, customer_id)
    return row


async def flag(session: AsyncSession, customer_id: str) -> None:
    """Mark a customer flagged by risk (counted in the funnel's ``flagged``)."""
    await session.execute(
        sa.update(ChannelMilestone)
        .where(col(ChannelMilestone.customer_id) == customer_id)
        .values(flagged=True, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
