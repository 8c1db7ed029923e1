"""A merchant's transactions summed per sealed hour (ADR 0023), so that a payment's merchant
features read a week of hourly sums instead of a week of events.

An hour is *sealed* for a payment at ``at`` once it ended at least :data:`SEAL` before ``at``;
the payment reads the sums of the sealed hours in its windows and the events of the rest (the
windows' partial first hours and the last hour or so). The sums are filled lazily: the first
payment that needs a sealed hour the merchant's :class:`~gateway.risk.models.MerchantSealed`
range does not cover computes it from the events, in the payment's own transaction.

What keeps the sums exact:
- an event whose hour is already covered (a *late* event: time replayed out of order, as the
  demo, the simulation or a test may do) adds itself to its hour's sum in its own transaction
  (:func:`add_late`); events logged in bulk in the past drop their merchants' ranges
  (:func:`forget`);
- events are never deleted, so a recomputed hour only ever gains.
Known gap: a late event still uncommitted while another transaction fills its hour is missed.
Live payments are never late (they occur at the present moment, and an hour is sealed 15
minutes after it ends), and only single-threaded replays write late events.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import dialect_insert, insert_once, one_of, table_of
from gateway.risk.models import EventType, MerchantHour, MerchantSealed, RiskEvent

SEAL = timedelta(minutes=15)
HOUR = timedelta(hours=1)
_E = table_of(RiskEvent)
HOURS = table_of(MerchantHour)
SEALED = table_of(MerchantSealed)
_SUMS = ("count", "nights", "payment_sum", "round_sum", "flow_sum")
_SUMMED = (EventType.TRANSACTION.value, EventType.RELEASE.value)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def after_hour_of(moment: datetime) -> datetime:
    """The start of the hour after ``moment``'s: a window opening at ``moment`` (exclusive)
    takes whole hours from here and the events before it."""
    return floor_hour(moment) + HOUR


def sealed_before(at: datetime) -> datetime:
    """The end of the last hour sealed for a payment at ``at``."""
    return floor_hour(at - SEAL)


def covers(since: datetime | None, until: datetime | None, lo: datetime, hi: datetime) -> bool:
    return since is not None and until is not None and since <= lo and hi <= until


def _hour_sums() -> list[Any]:
    """The sums of an hour's row. ``kind != 'refund'`` is false in SQL for a NULL kind, as in
    the transaction features read from the events; the flow (releases and what came in) counts
    a NULL kind, as the release features do."""
    transaction = _E.c.event_type == EventType.TRANSACTION.value
    payment = sa.and_(transaction, _E.c.kind != "refund")
    return [
        sum_when(transaction, 1).label("count"),
        sum_when(sa.and_(transaction, _E.c.night), 1).label("nights"),
        sum_when(payment, _E.c.amount).label("payment_sum"),
        sum_when(sa.and_(payment, _E.c.round_amount), _E.c.amount).label("round_sum"),
        sum_when(in_flow(), _E.c.amount).label("flow_sum"),
    ]


def in_flow() -> Any:
    """An event of a merchant's escrow flow, once its type is known to be a transaction or a
    release: anything but a refund."""
    return sa.or_(_E.c.kind.is_(None), _E.c.kind != "refund")


def summed_types() -> Any:
    """``event_type`` in the summed types, written so that no index serves it (see
    :func:`gateway.risk.features._of_type`): the merchant's index does."""
    return _E.c.event_type.concat("").in_(_SUMMED)


def sum_when(condition: Any, value: Any) -> Any:
    return sa.func.sum(sa.case((condition, value), else_=0))


def hour_of(dialect: str) -> Any:
    """The start of the hour an event occurred in, to group by."""
    if dialect == "postgresql":
        return sa.func.date_trunc("hour", _E.c.occurred_at)
    return sa.func.strftime("%Y-%m-%d %H:00:00", _E.c.occurred_at)


def _as_hour(value: datetime | str) -> datetime:
    hour = datetime.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text
    return hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour.astimezone(UTC)


async def _fill(session: AsyncSession, merchant: str, lo: datetime, hi: datetime) -> None:
    """Make the rows of the hours ``[lo, hi)`` exactly what the merchant's logged events say."""
    dialect = session.get_bind().dialect.name
    hour = hour_of(dialect).label("hour")
    grouped = await session.execute(
        sa.select(hour, *_hour_sums())
        .where(
            _E.c.merchant == merchant,
            summed_types(),
            _E.c.occurred_at >= lo,
            _E.c.occurred_at < hi,
        )
        .group_by(hour)
    )
    rows = [{"merchant": merchant, **r._mapping, "hour": _as_hour(r.hour)} for r in grouped.all()]
    in_range = (HOURS.c.merchant == merchant, HOURS.c.hour >= lo, HOURS.c.hour < hi)
    await session.execute(sa.delete(HOURS).where(*in_range))
    if rows:
        await session.execute(_overwrite(dialect), rows)


@functools.cache
def _overwrite(dialect: str) -> Any:
    """Insert an hour's row, or overwrite it: a concurrent filler's rows, not yet committed
    when this one deleted the range, hold the same sums."""
    stmt = dialect_insert(dialect, HOURS)
    sums = {c: stmt.excluded[c] for c in _SUMS}
    return stmt.on_conflict_do_update(index_elements=["merchant", "hour"], set_=sums)


async def seal(
    session: AsyncSession,
    merchant: str,
    found: tuple[datetime | None, datetime | None],
    need: tuple[datetime, datetime],
) -> None:
    """Fill the merchant's hours so that ``need`` is covered, given the range ``found`` read
    with the features: only the hours missing at either end, or ``need`` alone (the range
    then replaces the old one) when the two do not touch. The range is written only if no one
    changed it meanwhile; the rows this transaction wrote stand either way, and whoever
    writes them again computes the same sums."""
    since, until = found
    lo, hi = need
    if since is None or until is None or until < lo or hi < since:
        await _fill(session, merchant, lo, hi)
        new = (lo, hi)
    else:
        if lo < since:
            await _fill(session, merchant, lo, since)
        if until < hi:
            await _fill(session, merchant, until, hi)
        new = (min(lo, since), max(hi, until))
    dialect = session.get_bind().dialect.name
    if since is None:
        values = {"merchant": merchant, "since": new[0], "until": new[1]}
        await session.execute(insert_once(dialect, SEALED, "merchant"), values)
    else:
        await session.execute(
            sa.update(SEALED)
            .where(SEALED.c.merchant == merchant, SEALED.c.since == since, SEALED.c.until == until)
            .values(since=new[0], until=new[1])
        )


async def add_late(session: AsyncSession, event: RiskEvent) -> None:
    """Add a transaction or release to its hour's sums, in the transaction that logs it: its
    hour is already covered (the caller read the range with the event's features)."""
    transaction = event.event_type == EventType.TRANSACTION
    payment = transaction and event.kind is not None and event.kind != "refund"
    amount = event.amount if payment else 0
    values = {
        "merchant": event.merchant,
        "hour": floor_hour(event.occurred_at),
        "count": int(transaction),
        "nights": int(transaction and event.night),
        "payment_sum": amount,
        "round_sum": amount if event.round_amount else 0,
        "flow_sum": event.amount if event.kind != "refund" else 0,
    }
    await session.execute(_add(session.get_bind().dialect.name), values)


@functools.cache
def _add(dialect: str) -> Any:
    stmt = dialect_insert(dialect, HOURS)
    added = {c: HOURS.c[c] + stmt.excluded[c] for c in _SUMS}
    return stmt.on_conflict_do_update(index_elements=["merchant", "hour"], set_=added)


async def forget(session: AsyncSession, merchants: Iterable[str | None]) -> None:
    """Drop the sealed ranges of ``merchants``: for events logged in bulk at past moments, whose
    hours may be covered. The next payment at each merchant fills its week afresh."""
    keys = {m for m in merchants if m}
    if keys:
        dialect = session.get_bind().dialect
        await session.execute(sa.delete(SEALED).where(one_of(dialect, SEALED.c.merchant, keys)))


def window_params(at: datetime, week_ago: datetime, day_ago: datetime) -> Mapping[str, Any]:
    """The boundaries a payment at ``at`` reads its merchant's sums between (ADR 0023)."""
    sealed = sealed_before(at)
    return {
        "sealed": sealed,
        "week_start": after_hour_of(week_ago),
        "day_start": after_hour_of(day_ago),
        "recent": min(sealed, at - HOUR),
    }
