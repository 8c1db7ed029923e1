"""Features: SQL over the risk event log, plus the scenario adapter's own ``risk_features``.

Every feature is computed as of the event's own moment and counts the event itself (it is in the
log before its features are read), so a batch row counts the earlier rows of its batch. Each
event type has a fixed set of feature names with zero defaults, so a rule never meets a missing
key. Windows: velocity over 1 h / 24 h / 30 days; "today" and "night" (00:00–05:00) are
Asia/Shanghai local time. Baselines (hourly median, 30-day daily mean) come with the subject's
history in days, which the rules use to stay silent for the first 7 days.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.clock import SHANGHAI
from gateway.db import one_of
from gateway.risk.models import EventType, RiskEvent
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


def _within(column: Any, value: Any, at: datetime, window: timedelta) -> list[Any]:
    return [
        column == value,
        col(RiskEvent.occurred_at) > at - window,
        col(RiskEvent.occurred_at) <= at,
    ]


async def _count(session: AsyncSession, *where: Any) -> int:
    return int(
        await session.scalar(select(sa.func.count()).select_from(RiskEvent).where(*where)) or 0
    )


def _hour_bucket(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.date_trunc("hour", col(RiskEvent.occurred_at))
    return sa.func.strftime("%Y-%m-%d %H", col(RiskEvent.occurred_at))


def channel_of(partner_id: str, sub_channel: str | None) -> list[Any]:
    """An opening's channel: its sub-channel, or the partner's openings without one."""
    if sub_channel:
        return [col(RiskEvent.sub_channel) == sub_channel]
    return [col(RiskEvent.partner_id) == partner_id, col(RiskEvent.sub_channel).is_(None)]


async def _first_seen(session: AsyncSession, *where: Any) -> datetime | None:
    first = await session.scalar(select(sa.func.min(col(RiskEvent.occurred_at))).where(*where))
    if isinstance(first, str):  # SQLite's MIN() comes back untyped
        first = datetime.fromisoformat(first)
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return first


def _days_since(first: datetime | None, at: datetime) -> float:
    return 0.0 if first is None else round((at - first).total_seconds() / 86_400, 3)


async def channel_baseline(
    session: AsyncSession, partner_id: str, sub_channel: str | None, at: datetime
) -> dict[str, float]:
    """The sub-channel's opening baseline: median openings per active hour over the 7 days
    before the current hour, and its history in days. Stable within one batch chunk."""
    bucket = _hour_bucket(session)
    counts = (
        await session.execute(
            select(sa.func.count())
            .where(
                *channel_of(partner_id, sub_channel),
                col(RiskEvent.event_type) == EventType.ACCOUNT_OPENING.value,
                col(RiskEvent.occurred_at) > at - WEEK - HOUR,
                col(RiskEvent.occurred_at) <= at - HOUR,
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
        select(column, col(RiskEvent.id_index))
        .where(
            one_of(session.get_bind().dialect, column, values),
            col(RiskEvent.event_type) == EventType.ACCOUNT_OPENING.value,
            col(RiskEvent.occurred_at) > at - MONTH,
            col(RiskEvent.occurred_at) <= at,
            col(RiskEvent.id_index).is_not(None),
        )
        .group_by(column, col(RiskEvent.id_index))
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
    ids_by_phone = await _ids_by(session, col(RiskEvent.phone_index), phones, at)
    ids_by_device = await _ids_by(session, col(RiskEvent.device_id), devices, at)
    opening = col(RiskEvent.event_type) == EventType.ACCOUNT_OPENING.value
    recent = [col(RiskEvent.occurred_at) > at - HOUR, col(RiskEvent.occurred_at) <= at]
    channel_counts: dict[tuple[str, str | None], int] = {}
    partner_counts: dict[str, int] = {}
    baselines: dict[tuple[str, str | None], dict[str, float]] = {}
    out: list[dict[str, Any]] = []
    for row in rows:
        partner_id = row["partner_id"]
        channel = (partner_id, row["sub_channel"])
        if channel not in channel_counts:
            channel_counts[channel] = await _count(session, opening, *channel_of(*channel), *recent)
            baselines[channel] = await channel_baseline(session, *channel, at)
        if partner_id not in partner_counts:
            partner_counts[partner_id] = await _count(
                session, opening, col(RiskEvent.partner_id) == partner_id, *recent
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


def _add(seen: dict[str, set[str]], key: str | None, id_index: str | None) -> int:
    """Record this row's ID number under ``key``; the distinct count so far (0 without a key)."""
    if not key:
        return 0
    ids = seen.setdefault(key, set())
    if id_index:
        ids.add(id_index)
    return len(ids)


def _txn_count(*where: Any) -> Any:
    """``COUNT(*)`` of logged transactions matching ``where``, as a scalar subquery."""
    return _count_of(col(RiskEvent.event_type) == EventType.TRANSACTION.value, *where)


def _txn_sum(value: Any, *where: Any) -> Any:
    return (
        select(sa.func.coalesce(sa.func.sum(value), 0))
        .where(col(RiskEvent.event_type) == EventType.TRANSACTION.value, *where)
        .scalar_subquery()
    )


def _merchant_day(event: RiskEvent) -> dict[str, Any]:
    """24-hour volume and its round amounts, the hour's count, tonight's count and the week's
    night share at the merchant."""
    at, merchant = event.occurred_at, col(RiskEvent.merchant)
    payment = col(RiskEvent.kind) != "refund"
    day = [*_within(merchant, event.merchant, at, DAY), payment]
    week = _within(merchant, event.merchant, at, WEEK)
    parts = {
        "merchant_count_1h": _txn_count(*_within(merchant, event.merchant, at, HOUR)),
        "merchant_sum_24h": _txn_sum(col(RiskEvent.amount), *day),
        "round_sum_24h": _txn_sum(
            sa.case((col(RiskEvent.round_amount), col(RiskEvent.amount)), else_=0), *day
        ),
        "week_count": _txn_count(*week),
        "week_nights": _txn_count(*week, col(RiskEvent.night)),
    }
    if event.night:
        parts["merchant_night_txns_today"] = _txn_count(
            merchant == event.merchant,
            col(RiskEvent.night),
            col(RiskEvent.occurred_at) >= local_midnight(at),
            col(RiskEvent.occurred_at) <= at,
        )
    return parts


def _one_and_done(event: RiskEvent) -> dict[str, Any]:
    """Customers of the sub-channel over 30 days, and how many of them paid only once, just over
    the effective threshold, more than a week ago (then went dormant): incentive farming."""
    if not event.sub_channel:
        return {}
    at = event.occurred_at
    per_customer = (
        select(
            col(RiskEvent.customer_id),
            sa.func.count().label("n"),
            sa.func.max(col(RiskEvent.amount)).label("amount"),
            sa.func.max(col(RiskEvent.occurred_at)).label("last"),
        )
        .where(
            *_within(col(RiskEvent.sub_channel), event.sub_channel, at, MONTH),
            col(RiskEvent.event_type) == EventType.TRANSACTION.value,
            col(RiskEvent.kind) != "refund",
            col(RiskEvent.customer_id).is_not(None),
        )
        .group_by(col(RiskEvent.customer_id))
        .subquery()
    )
    farmed = sa.case(
        (
            sa.and_(
                per_customer.c.n == 1,
                per_customer.c.amount >= EFFECTIVE_MIN,
                per_customer.c.amount <= JUST_OVER,
                per_customer.c.last <= at - WEEK,
            ),
            1,
        ),
        else_=0,
    )
    return {
        "sub_channel_customers_30d": select(sa.func.count())
        .select_from(per_customer)
        .scalar_subquery(),
        "farmed_30d": select(sa.func.coalesce(sa.func.sum(farmed), 0))
        .select_from(per_customer)
        .scalar_subquery(),
    }


async def transaction_features(session: AsyncSession, event: RiskEvent) -> dict[str, Any]:
    """The features of a logged transaction, read in ONE statement of scalar subqueries (each
    on its own index): this runs inline on every payment, where one round trip per feature
    cost more than the rest of the request (docs/performance.md)."""
    at, payload = event.occurred_at, event.payload
    parts: dict[str, Any] = {}
    for name, column, value, window in (
        ("customer_count_24h", col(RiskEvent.customer_id), event.customer_id, DAY),
        ("device_count_24h", col(RiskEvent.device_id), event.device_id, DAY),
        ("card_count_24h", col(RiskEvent.card_id), event.card_id, DAY),
        ("partner_count_1h", col(RiskEvent.partner_id), event.partner_id, HOUR),
    ):
        if value:
            parts[name] = _txn_count(*_within(column, value, at, window))
    parts |= _merchant_day(event)
    if event.plate_no:
        parts["plate_fuelings_today"] = _txn_count(
            col(RiskEvent.plate_no) == event.plate_no,
            col(RiskEvent.kind) != "refund",
            col(RiskEvent.occurred_at) >= local_midnight(at),
            col(RiskEvent.occurred_at) <= at,
        )
    if event.kind == "refund" and event.customer_id:
        parts["customer_merchant_refunds_24h"] = _count_of(
            col(RiskEvent.kind) == "refund",
            col(RiskEvent.merchant) == event.merchant,
            *_within(col(RiskEvent.customer_id), event.customer_id, at, DAY),
        )
    parts |= _one_and_done(event)
    row = (await session.execute(select(*(v.label(k) for k, v in parts.items())))).one()
    got = {k: int(v or 0) for k, v in row._mapping.items()}
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
    return features


def _count_of(*where: Any) -> Any:
    """``COUNT(*)`` of logged events of any type matching ``where``, as a scalar subquery."""
    return select(sa.func.count()).select_from(RiskEvent).where(*where).scalar_subquery()


async def release_features(session: AsyncSession, event: RiskEvent) -> dict[str, Any]:
    """The merchant's money out of (releases) and into (top-ups) escrow today vs. its 30-day
    daily mean before today."""
    at, merchant = event.occurred_at, event.merchant
    midnight = local_midnight(at)
    flow = [
        col(RiskEvent.merchant) == merchant,
        col(RiskEvent.event_type).in_([EventType.RELEASE.value, EventType.TRANSACTION.value]),
        sa.or_(col(RiskEvent.kind).is_(None), col(RiskEvent.kind) != "refund"),
    ]
    amount = sa.func.coalesce(sa.func.sum(col(RiskEvent.amount)), 0)
    today = await session.scalar(
        select(amount).where(
            *flow, col(RiskEvent.occurred_at) >= midnight, col(RiskEvent.occurred_at) <= at
        )
    )
    before = await session.scalar(
        select(amount).where(
            *flow,
            col(RiskEvent.occurred_at) >= midnight - MONTH,
            col(RiskEvent.occurred_at) < midnight,
        )
    )
    return {
        "amount": event.amount,
        "merchant_amount_today": int(today or 0),
        "merchant_daily_mean_30d": round(int(before or 0) / 30, 2),
        "merchant_history_days": _days_since(
            await _first_seen(session, col(RiskEvent.merchant) == merchant), at
        ),
    }


def scenario_features(event: RiskEvent) -> dict[str, Any]:
    return scenario_features_of(event.scenario, event.payload)


def scenario_features_of(scenario: str | None, payload: Mapping[str, Any]) -> dict[str, Any]:
    adapter = adapter_for(scenario) if scenario else None
    return dict(adapter.risk_features(payload)) if adapter is not None else {}


async def compute(session: AsyncSession, event: RiskEvent) -> dict[str, Any]:
    """All features of a logged transaction or release: the fixed set for its type, then the
    scenario's. Openings are scored a chunk at a time (:func:`chunk_opening_features`)."""
    features = dict(DEFAULTS[event.event_type])
    if event.event_type == EventType.TRANSACTION:
        features |= await transaction_features(session, event)
    else:
        features |= await release_features(session, event)
    return features | scenario_features(event)
