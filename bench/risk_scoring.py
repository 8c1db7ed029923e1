"""Risk scoring of recorded events (DESIGN §14, backtest path), at N and N/10 in one run.

    python -m bench.risk_scoring [--events 20000] [--database-url URL]

Loads N recorded transaction events (merchants, customers, plates, round amounts, night hours,
refunds, over 30 days) into a scratch database (SQLite by default; give PostgreSQL a database of
its own: the risk tables are emptied). Then, in the same run:

- **baseline**: the features the default transaction rules read, computed for each event by one
  hand-written SQL query per feature (what a backtest costs without recorded features); they are
  stored on the events as the engine would have recorded them;
- **gateway**: the backtest path — recorded events read in pages and scored through the
  published rule set compiled into one CEL program (:class:`gateway.risk.rules.CompiledSet`);
- for scale, the same rules as one CEL program each over the nested ``event``/``features`` maps.

Prints events/s of each per CPU-second of this process (the machine is shared, so wall time is
printed beside it), the ratio, and the slope (CPU time at N ÷ at N/10; 10 is linear).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import cel
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway import migrate
from gateway.db import session_factory
from gateway.risk import ruleset
from gateway.risk.backtest import Recorded, recorded
from gateway.risk.engine import cel_event
from gateway.risk.features import DEFAULTS, is_night, is_round, local_midnight
from gateway.risk.models import EventType, RiskEvent
from gateway.risk.rules import compiled

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PAGE = 5_000

# One hand-written query per feature (positional binds; the same windows as the engine).
Q_ROUND_SHARE = sa.text(
    "SELECT COALESCE(SUM(CASE WHEN round_amount THEN amount ELSE 0 END), 0), "
    "COALESCE(SUM(amount), 0) FROM risk_events WHERE merchant = :m AND event_type = 'transaction'"
    " AND kind <> 'refund' AND occurred_at > :since AND occurred_at <= :at"
)
Q_PLATE_TODAY = sa.text(
    "SELECT COUNT(*) FROM risk_events WHERE plate_no = :p AND event_type = 'transaction'"
    " AND kind <> 'refund' AND occurred_at >= :midnight AND occurred_at <= :at"
)
Q_REFUNDS = sa.text(
    "SELECT COUNT(*) FROM risk_events WHERE customer_id = :c AND merchant = :m AND kind = 'refund'"
    " AND occurred_at > :since AND occurred_at <= :at"
)
Q_NIGHT = sa.text(
    "SELECT COUNT(*) FROM risk_events WHERE merchant = :m AND event_type = 'transaction' AND night"
    " AND occurred_at >= :midnight AND occurred_at <= :at"
)
Q_SUB_CUSTOMERS = sa.text(
    "SELECT COUNT(DISTINCT customer_id) FROM risk_events WHERE sub_channel = :s"
    " AND event_type = 'transaction' AND kind <> 'refund' AND customer_id IS NOT NULL"
    " AND occurred_at > :since AND occurred_at <= :at"
)
Q_SUB_FARMED = sa.text(
    "SELECT COUNT(*) FROM (SELECT customer_id FROM risk_events WHERE sub_channel = :s"
    " AND event_type = 'transaction' AND kind <> 'refund' AND customer_id IS NOT NULL"
    " AND occurred_at > :since AND occurred_at <= :at GROUP BY customer_id"
    " HAVING COUNT(*) = 1 AND MAX(amount) BETWEEN 10000 AND 12000 AND MAX(occurred_at) <= :dormant)"
    " AS farmed"
)


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    merchants = [f"mch_{i:04d}" for i in range(max(n // 200, 5))]
    subs = [f"cmt_{i:04d}" for i in range(max(n // 500, 3))]
    rows = []
    for i in range(n):
        at = NOW - timedelta(seconds=rng.randrange(0, 30 * 86_400))
        amount = (
            rng.choice([100_000, 200_000, 10_500])
            if rng.random() < 0.2
            else rng.randrange(500, 60_000)
        )
        merchant = rng.choice(merchants)
        kind = "refund" if rng.random() < 0.05 else "payment"
        plate = f"京A{rng.randrange(0, n // 20 + 1):05d}" if rng.random() < 0.3 else None
        rows.append(
            {
                "id": f"rev_bench{i:010d}",
                "event_type": EventType.TRANSACTION.value,
                "kind": kind,
                "occurred_at": at,
                "partner_id": "ptn_bench",
                "scenario": "fuel" if plate else "community",
                "sub_channel": rng.choice(subs),
                "merchant": merchant,
                "customer_id": f"cus_{rng.randrange(0, n // 3 + 1):07d}",
                "plate_no": plate,
                "amount": amount,
                "round_amount": is_round(amount),
                "night": is_night(at),
                "payload": {
                    "kind": kind,
                    "scenario": "fuel" if plate else "community",
                    "merchant": merchant,
                    "amount": amount,
                    "plate_no": plate or "",
                    "litres_ml": rng.randrange(5_000, 70_000) if plate else 0,
                    "tank_capacity_l": 60 if plate else 0,
                },
                "features": {},
            }
        )
    return rows


async def load(sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    async with sessions() as s:
        for table in ("risk_hits", "risk_decisions", "risk_events"):
            await s.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608  (fixed names)
        for start in range(0, len(rows), PAGE):
            await s.execute(sa.insert(RiskEvent), rows[start : start + PAGE])
        await ruleset.ensure_defaults(s)
        await s.commit()


async def store(sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    """Record the computed features on the events, as the engine does when it scores them."""
    async with sessions() as s:
        for start in range(0, len(rows), PAGE):
            await s.execute(
                sa.update(RiskEvent),
                [{"id": r["id"], "features": r["features"]} for r in rows[start : start + PAGE]],
            )
        await s.commit()


async def baseline(sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    """The features of every event by one hand-written query each (timed without storing)."""
    async with sessions() as s:
        for row in rows:
            at, payload = row["occurred_at"], row["payload"]
            midnight = local_midnight(at)
            day, month = at - timedelta(days=1), at - timedelta(days=30)
            rs, vol = (
                await s.execute(Q_ROUND_SHARE, {"m": row["merchant"], "since": day, "at": at})
            ).one()
            f = dict(DEFAULTS[EventType.TRANSACTION]) | {
                "amount": row["amount"],
                "round_amount": row["round_amount"],
                "is_night": row["night"],
                "litres_ml": payload["litres_ml"],
                "tank_capacity_ml": payload["tank_capacity_l"] * 1000,
                "merchant_round_share_24h": round(rs / vol, 4) if vol else 0.0,
            }
            if row["plate_no"]:
                f["plate_fuelings_today"] = await s.scalar(
                    Q_PLATE_TODAY, {"p": row["plate_no"], "midnight": midnight, "at": at}
                )
            if row["kind"] == "refund":
                f["customer_merchant_refunds_24h"] = await s.scalar(
                    Q_REFUNDS,
                    {"c": row["customer_id"], "m": row["merchant"], "since": day, "at": at},
                )
            if row["night"]:
                f["merchant_night_txns_today"] = await s.scalar(
                    Q_NIGHT, {"m": row["merchant"], "midnight": midnight, "at": at}
                )
            window = {"s": row["sub_channel"], "since": month, "at": at}
            customers = int(await s.scalar(Q_SUB_CUSTOMERS, window) or 0)
            farmed = int(
                await s.scalar(Q_SUB_FARMED, window | {"dormant": at - timedelta(days=7)}) or 0
            )
            f["sub_channel_customers_30d"] = customers
            f["sub_channel_one_and_done_share"] = round(farmed / customers, 4) if customers else 0.0
            row["features"] = f


async def _replay(
    sessions: async_sessionmaker[AsyncSession], score: Callable[[Recorded], int]
) -> int:
    hits = 0
    async with sessions() as s:
        async for page in recorded(s, EventType.TRANSACTION, NOW - timedelta(days=31), NOW + DAY):
            hits += sum(score(row) for row in page)
    return hits


async def gateway_path(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The backtest path: recorded events through the rule set's one compiled program."""
    async with sessions() as s:
        _, rules = await ruleset.active(s, EventType.TRANSACTION)
    program = compiled(rules)
    return await _replay(sessions, lambda row: sum(program.evaluate(cel_event(row), row.features)))


async def per_rule_path(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The same rules as one program each, over the same two nested maps (no flattening)."""
    async with sessions() as s:
        _, rules = await ruleset.active(s, EventType.TRANSACTION)
    programs = [cel.compile(r.expression) for r in rules]

    def score(row: Recorded) -> int:
        ctx = {"event": cel_event(row), "features": row.features}
        return sum(p.execute(ctx) is True for p in programs)

    return await _replay(sessions, score)


async def timed(step: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    """Wall seconds and this process's CPU seconds (the machine is shared: CPU time is the
    figure per core; SQLite's driver thread is in this process, so it is counted)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = await step()
    return time.perf_counter() - start, time.process_time() - cpu, result


async def run_size(url: str, n: int, seed: int) -> dict[str, float]:
    engine = create_async_engine(url)
    sessions = session_factory(engine)
    rows = generate(n, seed)
    await load(sessions, rows)
    base_s, base_cpu, _ = await timed(lambda: baseline(sessions, rows))
    await store(sessions, rows)
    gate_s, gate_cpu, hits = await timed(lambda: gateway_path(sessions))
    rule_s, rule_cpu, hits_per_rule = await timed(lambda: per_rule_path(sessions))
    await engine.dispose()
    assert hits == hits_per_rule, (hits, hits_per_rule)
    print(
        f"N={n:>7,} events/s (per CPU-second; wall in brackets): "
        f"gateway {n / gate_cpu:>9,.0f} ({n / gate_s:,.0f}) | "
        f"one program per rule {n / rule_cpu:>8,.0f} ({n / rule_s:,.0f}) | "
        f"baseline SQL per feature {n / base_cpu:>7,.0f} ({n / base_s:,.0f}) | "
        f"gateway/baseline {base_cpu / gate_cpu:.1f}x | {hits} hits"
    )
    return {"gateway": gate_cpu, "per_rule": rule_cpu, "baseline": base_cpu}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(migrate.upgrade, url)
        small = await run_size(url, args.events // 10, args.seed)
        big = await run_size(url, args.events, args.seed)
    for path in ("gateway", "per_rule", "baseline"):
        print(f"slope {path}: {big[path] / small[path]:.1f} (CPU time at N / at N/10; 10 = linear)")


if __name__ == "__main__":
    asyncio.run(main())
