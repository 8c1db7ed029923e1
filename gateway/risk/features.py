"""Features: SQL over the risk event log, plus the scenario adapter's own ``risk_features``.

Every feature is computed as of the event's own moment and counts the event itself, so a batch row
counts the earlier rows of its batch. An inline event's features are read before it is logged and
the event is added in Python (:func:`_own_share`): the log is read first and written last, so on
SQLite the database's single writer lock is not held while the features are read. Each
event type has a fixed set of feature names with zero defaults, so a rule never meets a missing
key. Windows: velocity over 1 h / 24 h / 30 days; "today" and "night" (00:00–05:00) are
Asia/Shanghai local time. Baselines (hourly median, 30-day daily mean) come with the subject's
history in days, which the rules use to stay silent for the first 7 days.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from gateway.clock import SHANGHAI
from gateway.db import UTCDateTime, one_of, table_of
from gateway.risk import channel_customers, merchant_hours
from gateway.risk.merchant_hours import sum_when
from gateway.risk.models import EventType, RiskEvent, SuspendedSubChannel
from gateway.scenarios.base import adapter_for

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MONTH = timedelta(days=30)
NIGHT_END_HOUR = 5
ROUND_MIN = 100_000  # ¥1,000 in fen
ROUND_UNIT = 10_000  # whole hundreds of yuan
EFFECTIVE_MIN = 10_000  # ¥100: the default effective-customer threshold (DESIGN §7)
JUST_OVER = 12_000  # "just over" the threshold: within 20 % of it
SUSPENDED = "sub_channel_suspended"
# Statements are built on the Core tables: a select of mapped columns goes through the ORM's
# result loading on every execution, and the transaction statement runs on every payment.
_E = table_of(RiskEvent)
_SUSPENDED = table_of(SuspendedSubChannel)

DEFAULTS: dict[str, dict[str, Any]] = {
    EventType.ACCOUNT_OPENING: {
        "phone_ids_30d": 0,
        "device_ids_30d": 0,
        "sub_channel_openings_1h": 0,
        "sub_channel_hourly_median_7d": 0.0,
        "sub_channel_history_days": 0.0,
        "partner_openings_1h": 0,
    },
    EventType.TRANSACTION: {
        "amount": 0,
        "round_amount": False,
        "merchant_count_1h": 0,
        "merchant_sum_24h": 0,
        "merchant_round_share_24h": 0.0,
        "customer_count_24h": 0,
        "device_count_24h": 0,
        "card_count_24h": 0,
        "partner_count_1h": 0,
        "plate_fuelings_today": 0,
        "litres_ml": 0,
        "tank_capacity_ml": 0,
        "customer_merchant_refunds_24h": 0,
        "is_night": False,
        "merchant_night_txns_today": 0,
        "merchant_night_share_7d": 0.0,
        "sub_channel_customers_30d": 0,
        "sub_channel_one_and_done_share": 0.0,
    },
    EventType.RELEASE: {
        "amount": 0,
        "merchant_amount_today": 0,
        "merchant_daily_mean_30d": 0.0,
        "merchant_history_days": 0.0,
    },
}


def is_round(amount: int) -> bool:
    return amount >= ROUND_MIN and amount % ROUND_UNIT == 0


def local_midnight(moment: datetime) -> datetime:
    local = moment.astimezone(SHANGHAI)
    return datetime.combine(local.date(), time(0), tzinfo=SHANGHAI).astimezone(UTC)


def is_night(moment: datetime) -> bool:
    return moment.astimezone(SHANGHAI).hour < NIGHT_END_HOUR


async def _count(session: AsyncSession, *where: Any) -> int:
    return int(await session.scalar(select(sa.func.count()).select_from(_E).where(*where)) or 0)


def channel_of(partner_id: str, sub_channel: str | None) -> list[Any]:
    """An opening's channel: its sub-channel, or the partner's openings without one."""
    if sub_channel:
        return [_E.c.sub_channel == sub_channel]
    return [_E.c.partner_id == partner_id, _E.c.sub_channel.is_(None)]


async def _first_seen(session: AsyncSession, *where: Any) -> datetime | None:
    return _as_moment(await session.scalar(select(sa.func.min(_E.c.occurred_at)).where(*where)))


def _as_moment(first: Any) -> datetime | None:
    if isinstance(first, str):  # SQLite's MIN() comes back untyped
        first = datetime.fromisoformat(first)
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return first if isinstance(first, datetime) else None


def _days_since(first: datetime | None, at: datetime) -> float:
    return 0.0 if first is None else round((at - first).total_seconds() / 86_400, 3)


async def channel_baseline(
    session: AsyncSession, partner_id: str, sub_channel: str | None, at: datetime
) -> dict[str, float]:
    """The sub-channel's opening baseline: median openings per active hour over the 7 days
    before the current hour, and its history in days. Stable within one batch chunk."""
    bucket = merchant_hours.hour_of(session.get_bind().dialect.name)
    counts = (
        await session.execute(
            select(sa.func.count())
            .where(
                *channel_of(partner_id, sub_channel),
                _E.c.event_type == EventType.ACCOUNT_OPENING.value,
                _E.c.occurred_at > at - WEEK - HOUR,
                _E.c.occurred_at <= at - HOUR,
            )
            .group_by(bucket)
        )
    ).scalars()
    hourly = [int(c) for c in counts]
    return {
        "sub_channel_hourly_median_7d": float(statistics.median(hourly)) if hourly else 0.0,
        "sub_channel_history_days": _days_since(
            await _first_seen(session, *channel_of(partner_id, sub_channel)), at
        ),
    }


async def _ids_by(
    session: AsyncSession, column: Any, values: set[str], at: datetime
) -> dict[str, set[str]]:
    """The ID numbers (blind indexes) opened with each of ``values`` in the 30 days to ``at``."""
    if not values:
        return {}
    found: dict[str, set[str]] = {}
    rows = await session.execute(
        select(column, _E.c.id_index)
        .where(
            one_of(session.get_bind().dialect, column, values),
            _of_type(EventType.ACCOUNT_OPENING),
            _E.c.occurred_at > at - MONTH,
            _E.c.occurred_at <= at,
            _E.c.id_index.is_not(None),
        )
        .group_by(column, _E.c.id_index)
    )
    for value, id_index in rows.all():
        found.setdefault(value, set()).add(id_index)
    return found


async def chunk_opening_features(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]], at: datetime
) -> list[dict[str, Any]]:
    """The features of a chunk's opening events (their column values), all occurring at ``at``,
    before any of them is logged: each row's features count the log plus the chunk's rows up to
    itself, as if they had been logged and scored one by one, with a fixed number of queries."""
    phones = {r["phone_index"] for r in rows if r["phone_index"]}
    devices = {r["device_id"] for r in rows if r["device_id"]}
    ids_by_phone = await _ids_by(session, _E.c.phone_index, phones, at)
    ids_by_device = await _ids_by(session, _E.c.device_id, devices, at)
    opening = _E.c.event_type == EventType.ACCOUNT_OPENING.value
    recent = [_E.c.occurred_at > at - HOUR, _E.c.occurred_at <= at]
    channel_counts: dict[tuple[str, str | None], int] = {}
    partner_counts: dict[str, int] = {}
    baselines: dict[tuple[str, str | None], dict[str, float]] = {}
    out: list[dict[str, Any]] = []
    for row in rows:
        partner_id = row["partner_id"]
        channel = (partner_id, row["sub_channel"])
        if channel not in channel_counts:
            if channel[1] is None and partner_id not in partner_counts:
                partner_counts[partner_id], channel_counts[channel] = await _with_unchanneled(
                    session, opening, _E.c.partner_id == partner_id, *recent
                )
            else:
                channel_counts[channel] = await _count(
                    session, opening, *channel_of(*channel), *recent
                )
            baselines[channel] = await channel_baseline(session, *channel, at)
        if partner_id not in partner_counts:
            partner_counts[partner_id] = await _count(
                session, opening, _E.c.partner_id == partner_id, *recent
            )
        channel_counts[channel] += 1
        partner_counts[partner_id] += 1
        out.append(
            dict(DEFAULTS[EventType.ACCOUNT_OPENING])
            | {
                "phone_ids_30d": _add(ids_by_phone, row["phone_index"], row["id_index"]),
                "device_ids_30d": _add(ids_by_device, row["device_id"], row["id_index"]),
                "sub_channel_openings_1h": channel_counts[channel],
                "partner_openings_1h": partner_counts[partner_id],
                **baselines[channel],
            }
            | scenario_features_of(row["scenario"], row["payload"])
        )
    return out


async def _with_unchanneled(session: AsyncSession, *where: Any) -> tuple[int, int]:
    """How many events match ``where``, and how many of them have no sub-channel, in ONE pass.

    A partner's openings in the hour and those of its channel without a sub-channel (a batch
    that names none) are the same rows, in a big batch all its earlier rows: two counts would
    read them twice per chunk."""
    row = (
        await session.execute(
            select(
                sa.func.count(),
                sa.func.count().filter(_E.c.sub_channel.is_(None)),
            ).where(*where)
        )
    ).one()
    return int(row[0]), int(row[1])


def _add(seen: dict[str, set[str]], key: str | None, id_index: str | None) -> int:
    """Record this row's ID number under ``key``; the distinct count so far (0 without a key)."""
    if not key:
        return 0
    ids = seen.setdefault(key, set())
    if id_index:
        ids.add(id_index)
    return len(ids)


def _of_type(event_type: EventType) -> Any:
    """``event_type = :type``, written so that no index serves it, for a read by another key:
    without statistics (SQLite is never ANALYZEd here) the planner took the (event_type,
    occurred_at) index for a keyed count, which reads every event of the type in the window,
    instead of the key's own index (for a batch's phone look-ups, every opening of the batch so
    far: its cost grew with the batch)."""
    return _E.c.event_type.concat("") == event_type.value


def _txn_count(*where: Any) -> Any:
    """``COUNT(*)`` of logged transactions matching ``where``, as a scalar subquery."""
    return _count_of(_of_type(EventType.TRANSACTION), *where)


def _txn_sum(value: Any, *where: Any) -> Any:
    return (
        select(sa.func.coalesce(sa.func.sum(value), 0))
        .where(_of_type(EventType.TRANSACTION), *where)
        .scalar_subquery()
    )


def _param(name: str, type_: Any = None) -> Any:
    return sa.bindparam(name, type_=type_ if type_ is not None else sa.String())


# The inline transaction statement's parameters: the event's keys and its window boundaries.
_AT = {
    name: _param(name, UTCDateTime())
    for name in (
        *("at", "hour_ago", "day_ago", "week_ago", "month_ago", "midnight"),
        *("week_start", "day_start", "sealed", "recent", "month_start"),
    )
}
_KEY = {
    name: _param(name)
    for name in ("customer", "device", "card", "partner", "merchant", "plate", "sub_channel")
}


def _since(column: Any, key: str, since: str) -> list[Any]:
    """``column`` is the event's ``key``, in the window from ``since`` to the event."""
    return [
        column == _KEY[key],
        _E.c.occurred_at > _AT[since],
        _E.c.occurred_at <= _AT["at"],
    ]


def _merchant_week(night: bool) -> Any:
    """The merchant's week as a one-row derived table: the hour's count, the 24-hour payment
    volume and its round amounts, the week's count and night count, and (at night) tonight's
    count, each read from the sums of the sealed hours in its window plus the events of the
    rest (ADR 0023), so a busy station costs what a quiet one does. Also the range of the
    merchant's filled hours, which the caller checks covers the week."""
    at = _E.c.occurred_at
    mine = (_of_type(EventType.TRANSACTION), _E.c.merchant == _KEY["merchant"])
    segments = (
        (at > _AT["week_ago"], at < _AT["week_start"]),
        (at > _AT["day_ago"], at < _AT["day_start"]),
        (at >= _AT["recent"], at <= _AT["at"]),
    )
    raw = sa.union_all(
        *(
            sa.select(at, _E.c.kind, _E.c.amount, _E.c.round_amount, _E.c.night).where(*mine, *part)
            for part in segments
        )
    ).subquery("raw")
    x, unsealed = raw.c.occurred_at, raw.c.occurred_at >= _AT["sealed"]
    in_week = sa.and_(x > _AT["week_ago"], sa.or_(x < _AT["week_start"], unsealed))
    day_payment = sa.and_(
        x > _AT["day_ago"], sa.or_(x < _AT["day_start"], unsealed), raw.c.kind != "refund"
    )
    events = {
        "week_count": sum_when(in_week, 1),
        "week_nights": sum_when(sa.and_(in_week, raw.c.night), 1),
        "merchant_count_1h": sum_when(x > _AT["hour_ago"], 1),
        "merchant_sum_24h": sum_when(day_payment, raw.c.amount),
        "round_sum_24h": sum_when(sa.and_(day_payment, raw.c.round_amount), raw.c.amount),
    }
    h = merchant_hours.HOURS.c
    in_day = h.hour >= _AT["day_start"]
    sums = {
        "week_count": sa.func.sum(h.count),
        "week_nights": sa.func.sum(h.nights),
        "merchant_sum_24h": sum_when(in_day, h.payment_sum),
        "round_sum_24h": sum_when(in_day, h.round_sum),
    }
    if night:
        events["merchant_night_txns_today"] = sum_when(
            sa.and_(raw.c.night, x >= _AT["midnight"], unsealed), 1
        )
        sums["merchant_night_txns_today"] = sum_when(h.hour >= _AT["midnight"], h.nights)
    return _events_and_sums(events, sums, "week_start").subquery("merchant_week")


def _events_and_sums(events: Mapping[str, Any], sums: Mapping[str, Any], start: str) -> Any:
    """One row: each of ``events`` (aggregates over the merchant's events outside its sealed
    hours) plus the same-named aggregate of ``sums`` over its hour rows from ``start`` to the
    last sealed hour, and the range of its filled hours."""
    h = merchant_hours.HOURS.c
    from_events = sa.select(*(v.label(k) for k, v in events.items())).subquery("from_events")
    from_sums = (
        sa.select(*(v.label(k) for k, v in sums.items()))
        .where(h.merchant == _KEY["merchant"], h.hour >= _AT[start], h.hour < _AT["sealed"])
        .subquery("from_sums")
    )
    columns = [
        (
            sa.func.coalesce(from_events.c[k], 0) + sa.func.coalesce(from_sums.c[k], 0)
            if k in sums
            else from_events.c[k]
        ).label(k)
        for k in events
    ]
    return sa.select(*columns, *_sealed_range()).select_from(from_events.join(from_sums, sa.true()))


def _one_and_done(mine: bool) -> Any:
    """Customers of the sub-channel over 30 days, and how many of them paid only once, just over
    the effective threshold, more than a week ago (then went dormant): incentive farming. A
    one-row derived table counting the customers' summaries (their last two payments before
    the sub-channel's boundary, ADR 0023) and the customers who paid since the boundary, who
    are in the window and not farmed: they paid in the last hour or two. Also the boundary,
    which the caller moves when it is older than the last sealed hour.

    With ``mine`` (the event is a payment by a customer) that customer is read as the others
    are not: the event is its latest payment, so it is not farmed, and it is counted once in
    Python (:func:`_own_share`)."""
    sealed = channel_customers.SEALED.c
    until = select(sealed.until).where(sealed.sub_channel == _KEY["sub_channel"])
    recent = (
        sa.select(_E.c.customer_id)
        .distinct()
        .where(
            *channel_customers.payments_in(_KEY["sub_channel"]),
            _E.c.occurred_at >= until.scalar_subquery(),
            _E.c.occurred_at > _AT["month_ago"],
            _E.c.occurred_at <= _AT["at"],
            *([_E.c.customer_id != _KEY["customer"]] if mine else []),
        )
    )
    c = channel_customers.CUSTOMERS.c
    farmed = sa.and_(
        c.last_at <= _AT["week_ago"],
        c.last_amount >= EFFECTIVE_MIN,
        c.last_amount <= JUST_OVER,
        sa.or_(c.prev_at.is_(None), c.prev_at <= _AT["month_ago"]),
    )
    summarised = (
        sa.select(sa.func.count().label("n"), sum_when(farmed, 1).label("farmed"))
        .where(
            c.sub_channel == _KEY["sub_channel"],
            c.last_at > _AT["month_ago"],
            c.customer_id.not_in(recent),
            *([c.customer_id != _KEY["customer"]] if mine else []),
        )
        .subquery("summarised")
    )
    paid_since = sa.select(sa.func.count()).select_from(recent.subquery()).scalar_subquery()
    return (
        sa.select(
            (paid_since + summarised.c.n).label("sub_channel_customers_30d"),
            sa.func.coalesce(summarised.c.farmed, 0).label("farmed_30d"),
            until.scalar_subquery().label("channel_until"),
        )
        .select_from(summarised)
        .subquery("one_and_done")
    )


def _own_share(event: RiskEvent) -> dict[str, int]:
    """What the event adds to each of its own transaction features: they are read from the log
    before the event is written. ``kind != 'refund'`` is false in SQL for a NULL kind, and so
    here."""
    payment = _is_payment(event)
    return {
        "customer_count_24h": 1,
        "device_count_24h": 1,
        "card_count_24h": 1,
        "partner_count_1h": 1,
        "merchant_count_1h": 1,
        "merchant_sum_24h": event.amount if payment else 0,
        "round_sum_24h": event.amount if payment and event.round_amount else 0,
        "week_count": 1,
        "week_nights": int(event.night),
        "merchant_night_txns_today": 1,
        "plate_fuelings_today": int(payment),
        "customer_merchant_refunds_24h": 1,
        "sub_channel_customers_30d": int(payment and event.customer_id is not None),
        "farmed_30d": 0,
        SUSPENDED: 0,
    }


def _is_payment(event: RiskEvent) -> bool:
    return event.kind is not None and event.kind != "refund"


def _suspended() -> Any:
    """Whether the event's sub-channel is suspended (every event through it is then blocked)."""
    return (
        select(sa.func.count())
        .select_from(_SUSPENDED)
        .where(
            _SUSPENDED.c.partner_id == _KEY["partner"],
            _SUSPENDED.c.sub_channel == _KEY["sub_channel"],
        )
        .scalar_subquery()
    )


_Shape = tuple[bool, bool, bool, bool, bool, bool, bool, bool]


def _shape(event: RiskEvent) -> _Shape:
    return (
        bool(event.customer_id),
        bool(event.device_id),
        bool(event.card_id),
        event.night,
        bool(event.plate_no),
        event.kind == "refund" and bool(event.customer_id),
        bool(event.sub_channel),
        _is_payment(event) and event.customer_id is not None,
    )


@functools.cache
def _transaction_statement(shape: _Shape) -> Any:
    """The one statement of scalar subqueries (each on its own index) for the transactions of
    one shape: built once per process, so a payment pays only for its parameters."""
    customer, device, card, night, plate, refund, sub_channel, mine = shape
    parts: dict[str, Any] = {}
    for name, column, key, present, since in (
        ("customer_count_24h", _E.c.customer_id, "customer", customer, "day_ago"),
        ("device_count_24h", _E.c.device_id, "device", device, "day_ago"),
        ("card_count_24h", _E.c.card_id, "card", card, "day_ago"),
        ("partner_count_1h", _E.c.partner_id, "partner", True, "hour_ago"),
    ):
        if present:
            parts[name] = _txn_count(*_since(column, key, since))
    if plate:
        parts["plate_fuelings_today"] = _txn_count(
            _E.c.plate_no == _KEY["plate"],
            _E.c.kind != "refund",
            _E.c.occurred_at >= _AT["midnight"],
            _E.c.occurred_at <= _AT["at"],
        )
    if refund:
        parts["customer_merchant_refunds_24h"] = _count_of(
            _E.c.kind == "refund",
            _E.c.merchant == _KEY["merchant"],
            *_since(_E.c.customer_id, "customer", "day_ago"),
        )
    derived = _merchant_week(night)
    if sub_channel:
        parts[SUSPENDED] = _suspended()
        derived = derived.join(_one_and_done(mine), sa.true())
    return select(*(v.label(k) for k, v in parts.items()), *derived.exported_columns).select_from(
        derived
    )


def _transaction_params(event: RiskEvent) -> dict[str, Any]:
    at = event.occurred_at
    return {
        "at": at,
        "hour_ago": at - HOUR,
        "day_ago": at - DAY,
        "week_ago": at - WEEK,
        "month_ago": at - MONTH,
        "midnight": local_midnight(at),
        **merchant_hours.window_params(at, at - WEEK, at - DAY),
        "customer": event.customer_id,
        "device": event.device_id,
        "card": event.card_id,
        "partner": event.partner_id,
        "merchant": event.merchant,
        "plate": event.plate_no,
        "sub_channel": event.sub_channel,
    }


_BOUNDARIES = ("sealed_since", "sealed_until", "channel_until")


async def _read_with_sums(
    session: AsyncSession,
    event: RiskEvent,
    statement: Any,
    params: Mapping[str, Any],
    need: tuple[datetime, datetime],
) -> dict[str, Any]:
    """A features statement's row for an event (ADR 0023), read again after moving the
    merchant's filled hours to cover ``need``, or the sub-channel's boundary to the last
    sealed hour, when either lags (the first event of each hour there). A late event, one in
    an hour already filled, is added to the merchant's sums here, in the transaction that
    logs it; a sub-channel whose boundary lies after the event is summarised afresh."""
    got, marks = await _read(session, statement, params)
    found = (marks["sealed_since"], marks["sealed_until"])
    merchant, sub_channel, at = event.merchant, event.sub_channel, event.occurred_at
    lagged = False
    if merchant is not None and not merchant_hours.covers(*found, *need):
        await merchant_hours.seal(session, merchant, found, need)
        lagged = True
    until, sealed = marks.get("channel_until"), merchant_hours.sealed_before(at)
    if sub_channel and "channel_until" in marks and (until is None or not sealed <= until <= at):
        await channel_customers.seal(session, sub_channel, until, at, sealed)
        lagged = True
    if lagged:
        got, marks = await _read(session, statement, params)
    hour = merchant_hours.floor_hour(at)
    if merchant is not None and merchant_hours.covers(
        marks["sealed_since"], marks["sealed_until"], hour, hour + HOUR
    ):
        await merchant_hours.add_late(session, event)
    return got


async def _read(
    session: AsyncSession, statement: Any, params: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A features statement's row: the features, and the boundaries of what is summed."""
    got = dict((await session.execute(statement, params)).one()._mapping)
    return got, {k: got.pop(k) for k in _BOUNDARIES if k in got}


def _sealed_range() -> list[Any]:
    """The merchant's filled hours ``[since, until)``, as two scalar subqueries."""
    sealed = merchant_hours.SEALED.c
    return [
        select(sealed[name])
        .where(sealed.merchant == _KEY["merchant"])
        .scalar_subquery()
        .label(f"sealed_{name}")
        for name in ("since", "until")
    ]


async def transaction_features(
    session: AsyncSession, event: RiskEvent
) -> tuple[dict[str, Any], bool]:
    """The features of a transaction about to be logged, read in ONE prepared statement with
    the event added in Python, and whether its sub-channel is suspended (same round trip): this
    runs inline on every payment (docs/performance.md)."""
    payload = event.payload
    params = _transaction_params(event)
    got = await _read_with_sums(
        session,
        event,
        _transaction_statement(_shape(event)),
        params,
        (params["week_start"], params["sealed"]),
    )
    own = _own_share(event)
    got = {k: int(v or 0) + own[k] for k, v in got.items()}
    suspended = got.pop(SUSPENDED, 0) > 0
    volume, week = got.pop("merchant_sum_24h"), got.pop("week_count")
    round_sum, week_nights = got.pop("round_sum_24h"), got.pop("week_nights")
    customers, farmed = got.pop("sub_channel_customers_30d", 0), got.pop("farmed_30d", 0)
    features: dict[str, Any] = {
        "amount": event.amount,
        "round_amount": event.round_amount,
        "is_night": event.night,
        "litres_ml": int(payload.get("litres_ml") or 0),
        "tank_capacity_ml": int(float(payload.get("tank_capacity_l") or 0) * 1000),
        "customer_count_24h": 0,
        "device_count_24h": 0,
        "card_count_24h": 0,
        "partner_count_1h": 0,
        "merchant_night_txns_today": 0,
        **got,
        "merchant_sum_24h": volume,
        "merchant_round_share_24h": round(round_sum / volume, 4) if volume else 0.0,
        "merchant_night_share_7d": round(week_nights / week, 4) if week else 0.0,
    }
    if event.sub_channel:
        features["sub_channel_customers_30d"] = customers
        features["sub_channel_one_and_done_share"] = (
            round(farmed / customers, 4) if customers else 0.0
        )
    return features, suspended


def _count_of(*where: Any) -> Any:
    """``COUNT(*)`` of logged events of any type matching ``where``, as a scalar subquery."""
    return select(sa.func.count()).select_from(_E).where(*where).scalar_subquery()


@functools.cache
def _release_statement(sub_channel: bool) -> Any:
    """The merchant's escrow flow (releases and what came in, but refunds) today and over the
    30 days before today, each from the sums of its sealed hours plus the events since the
    last one (ADR 0023); its first event; and the range of its filled hours."""
    at = _E.c.occurred_at
    raw = (
        sa.select(at, _E.c.amount)
        .where(
            _E.c.merchant == _KEY["merchant"],
            merchant_hours.summed_types(),
            merchant_hours.in_flow(),
            at >= _AT["sealed"],
            at <= _AT["at"],
        )
        .subquery("raw")
    )
    h = merchant_hours.HOURS.c
    today_events, today_hours = raw.c.occurred_at >= _AT["midnight"], h.hour >= _AT["midnight"]
    statement = _events_and_sums(
        {
            "today": sum_when(today_events, raw.c.amount),
            "before": sum_when(sa.not_(today_events), raw.c.amount),
        },
        {
            "today": sum_when(today_hours, h.flow_sum),
            "before": sum_when(sa.not_(today_hours), h.flow_sum),
        },
        "month_start",
    )
    first = select(sa.func.min(at)).where(_E.c.merchant == _KEY["merchant"])
    extra = [first.scalar_subquery().label("first")]
    if sub_channel:
        extra.append(_suspended().label(SUSPENDED))
    return statement.add_columns(*extra)


async def release_features(session: AsyncSession, event: RiskEvent) -> tuple[dict[str, Any], bool]:
    """The merchant's money out of (releases) and into (top-ups) escrow today vs. its daily mean
    over the 30 days before today (over its days of history when it has fewer), for a release
    about to be logged, and whether its sub-channel is suspended, in one statement."""
    at = event.occurred_at
    midnight = local_midnight(at)
    month_start, sealed = midnight - MONTH, merchant_hours.sealed_before(at)
    params = {
        "at": at,
        "midnight": midnight,
        "month_start": month_start,
        "sealed": sealed,
        "merchant": event.merchant,
        "partner": event.partner_id,
        "sub_channel": event.sub_channel,
    }
    row = await _read_with_sums(
        session,
        event,
        _release_statement(bool(event.sub_channel)),
        params,
        (month_start, sealed),
    )
    first = _as_moment(row["first"])
    first = at if first is None or first > at else first
    own = event.amount if event.kind != "refund" else 0
    return {
        "amount": event.amount,
        "merchant_amount_today": int(row["today"] or 0) + own,
        "merchant_daily_mean_30d": daily_mean(int(row["before"] or 0), first, midnight),
        "merchant_history_days": _days_since(first, at),
    }, bool(row.get(SUSPENDED))


def daily_mean(total: int, first: datetime, midnight: datetime) -> float:
    """A 30-day total as a daily mean over the days the merchant had before today (at least
    one, at most 30): a merchant younger than 30 days is not diluted by days it did not exist."""
    days = min(30, max(1, math.ceil((midnight - first).total_seconds() / 86_400)))
    return round(total / days, 2)


def scenario_features(event: RiskEvent) -> dict[str, Any]:
    return scenario_features_of(event.scenario, event.payload)


def scenario_features_of(scenario: str | None, payload: Mapping[str, Any]) -> dict[str, Any]:
    adapter = adapter_for(scenario) if scenario else None
    return dict(adapter.risk_features(payload)) if adapter is not None else {}


async def compute(session: AsyncSession, event: RiskEvent) -> tuple[dict[str, Any], bool]:
    """All features of a transaction or release about to be logged (the fixed set for its type,
    then the scenario's) and whether its sub-channel is suspended, read in one round trip.
    Openings are scored a chunk at a time (:func:`chunk_opening_features`)."""
    features = dict(DEFAULTS[event.event_type])
    if event.event_type == EventType.TRANSACTION:
        computed, suspended = await transaction_features(session, event)
    else:
        computed, suspended = await release_features(session, event)
    return features | computed | scenario_features(event), suspended
