"""Each customer's last two payments in a sub-channel, before the sub-channel's sealed boundary
(ADR 0023), so that the one-and-done share counts customers instead of grouping a month of
payments per customer.

A customer paid exactly once in a window ending at ``t`` when its last payment is in the
window and the one before it (if any) is not; with the payments since the boundary read from
the log, that is exact for any ``t`` at or after the boundary. The boundary follows the
merchant hours' seal (:func:`gateway.risk.merchant_hours.sealed_before`): the first payment of
each hour in a sub-channel folds the hour's payments in, in its own transaction, after
claiming the fold by moving the boundary (a concurrent claimant waits for it and then finds the
boundary moved). A sub-channel without a boundary, or whose boundary lies after the payment
(time replayed backwards), is summarised afresh from its payments.

A summary cannot be read as of a moment before its boundary, so a payment before it is such a
replay and summarises afresh; events logged in bulk at past moments drop their sub-channels'
boundaries (:func:`forget`). Known gap, as for the merchant hours: a payment logged at a past
moment and still uncommitted while another transaction folds its hour is missed; only
single-threaded replays write such payments.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import dialect_insert, insert_once, one_of, table_of
from gateway.risk.models import ChannelCustomer, ChannelSealed, EventType, RiskEvent

_E = table_of(RiskEvent)
CUSTOMERS = table_of(ChannelCustomer)
SEALED = table_of(ChannelSealed)
MONTH = timedelta(days=30)
# A customer's last two payments: (moment, amount) of the last, and the moment of the one before.
Summary = tuple[datetime, int, datetime | None]


def payments_in(sub_channel: Any) -> list[Any]:
    """The sub-channel's payments by a customer: what the one-and-done share counts.
    ``kind != 'refund'`` is false in SQL for a NULL kind."""
    return [
        _E.c.sub_channel == sub_channel,
        _E.c.event_type == EventType.TRANSACTION.value,
        _E.c.kind != "refund",
        _E.c.customer_id.is_not(None),
    ]


def merged(old: Summary | None, payments: Iterable[tuple[datetime, int]]) -> Summary:
    """A customer's summary with ``payments`` added: the latest two moments of all of them.
    Of two payments at one moment either may come out last: the customer then paid twice in
    any window holding that moment, so the amount is never read."""
    moments = list(payments)
    if old is not None:
        moments.append((old[0], old[1]))
        if old[2] is not None:
            moments.append((old[2], 0))
    moments.sort(key=lambda p: p[0], reverse=True)
    return moments[0][0], moments[0][1], moments[1][0] if len(moments) > 1 else None


async def _existing(
    session: AsyncSession, sub_channel: str, customers: Sequence[str]
) -> dict[str, Summary]:
    dialect = session.get_bind().dialect
    c = CUSTOMERS.c
    found: dict[str, Summary] = {}
    # By a thousand: on SQLite ``one_of`` binds each customer, and a statement takes at most
    # 32,766 parameters (a busy sub-channel's month holds more customers).
    for start in range(0, len(customers), 1_000):
        rows = await session.execute(
            sa.select(c.customer_id, c.last_at, c.last_amount, c.prev_at).where(
                c.sub_channel == sub_channel,
                one_of(dialect, c.customer_id, customers[start : start + 1_000]),
            )
        )
        found |= {r.customer_id: (r.last_at, r.last_amount, r.prev_at) for r in rows}
    return found


async def _fold(
    session: AsyncSession, sub_channel: str, lo: datetime, hi: datetime, *, fresh: bool = False
) -> None:
    """Merge the sub-channel's payments in ``[lo, hi)`` into its customers' rows (into no rows
    when ``fresh``)."""
    rows = await session.execute(
        sa.select(_E.c.customer_id, _E.c.occurred_at, _E.c.amount).where(
            *payments_in(sub_channel), _E.c.occurred_at >= lo, _E.c.occurred_at < hi
        )
    )
    by_customer: dict[str, list[tuple[datetime, int]]] = {}
    for customer_id, at, amount in rows.all():
        by_customer.setdefault(customer_id, []).append((at, amount))
    if not by_customer:
        return
    old = {} if fresh else await _existing(session, sub_channel, list(by_customer))
    summaries = [
        _row(sub_channel, customer_id, merged(old.get(customer_id), payments))
        for customer_id, payments in by_customer.items()
    ]
    await session.execute(_overwrite(session.get_bind().dialect.name), summaries)


def _row(sub_channel: str, customer_id: str, summary: Summary) -> dict[str, Any]:
    last_at, last_amount, prev_at = summary
    return {
        "sub_channel": sub_channel,
        "customer_id": customer_id,
        "last_at": last_at,
        "last_amount": last_amount,
        "prev_at": prev_at,
    }


@functools.cache
def _overwrite(dialect: str) -> Any:
    stmt = dialect_insert(dialect, CUSTOMERS)
    summary = {c: stmt.excluded[c] for c in ("last_at", "last_amount", "prev_at")}
    return stmt.on_conflict_do_update(index_elements=["sub_channel", "customer_id"], set_=summary)


async def seal(
    session: AsyncSession, sub_channel: str, until: datetime | None, at: datetime, to: datetime
) -> None:
    """Move the sub-channel's boundary from ``until`` (read with the features) to ``to`` for a
    payment at ``at``: fold the payments in between, or summarise the sub-channel afresh when
    it has no boundary or its boundary lies after ``at``. Nothing when another transaction
    moved the boundary first: the caller reads again and finds it moved.

    Afresh, only the 30 days before ``to`` are read: a customer whose last payment is older
    is never counted again until it pays anew, and a payment before those 30 days is before
    the window of any payment from ``to`` on, as no payment at all is."""
    dialect = session.get_bind().dialect.name
    if until is None:
        claimed = await session.scalar(
            insert_once(dialect, SEALED, "sub_channel", "sub_channel"),
            {"sub_channel": sub_channel, "until": to},
        )
    else:
        moved = await session.execute(
            sa.update(SEALED)
            .where(SEALED.c.sub_channel == sub_channel, SEALED.c.until == until)
            .values(until=to)
        )
        claimed = sub_channel if moved.rowcount else None  # type: ignore[attr-defined]
    if claimed is None:
        return
    if until is None or until > at:
        await session.execute(sa.delete(CUSTOMERS).where(CUSTOMERS.c.sub_channel == sub_channel))
        await _fold(session, sub_channel, to - MONTH, to, fresh=True)
    else:
        await _fold(session, sub_channel, until, to)


async def forget(session: AsyncSession, sub_channels: Iterable[str | None]) -> None:
    """Drop the boundaries of ``sub_channels``: for events logged in bulk at past moments. The
    next payment in each summarises its sub-channel afresh."""
    keys = {s for s in sub_channels if s}
    if keys:
        dialect = session.get_bind().dialect
        await session.execute(sa.delete(SEALED).where(one_of(dialect, SEALED.c.sub_channel, keys)))
