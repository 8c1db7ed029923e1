"""The channel funnel report over N customers on PostgreSQL: p95 latency of the gateway's report
(``gateway.channels.reports.service.funnel`` through the project's own session) next to the same
GROUP BY hand-written on the driver, at N/10 and N, and the slope (DESIGN §14).

    python -m bench.funnel --database-url postgresql+asyncpg://root@127.0.0.1:5432/bench_funnel

The database is emptied and migrated first: give it one of its own. Customers and their milestone
rows are loaded with COPY: P partners, 4 scenarios, S sub-channels, C campaigns, openings spread
over a year, about 60% activated, 30% effective, 20% / 10% retained, 5% flagged.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg
import structlog

from gateway import migrate
from gateway.channels.reports.service import GroupBy, funnel
from gateway.db import create_engine, session_factory
from gateway.settings import Settings

START = datetime(2025, 12, 1, 2, 0, tzinfo=UTC)
SCENARIOS = ("community", "fuel", "campus", "utilities")
MILESTONE_COLUMNS = [
    "customer_id",
    "partner_id",
    "scenario",
    "sub_channel",
    "campaign",
    "referrer_id",
    "referral_code",
    "opened_at",
    "opened_date",
    "cohort_week",
    "cohort_month",
    "activation_days",
    "effective_min_amount",
    "activated_at",
    "window_amount",
    "effective_at",
    "retained_30d",
    "retained_90d",
    "last_active_at",
    "referred",
    "flagged",
    "incentive_accrued",
    "incentive_clawed_back",
    "incentive_held",
    "value_tier",
    "inactive_notified_at",
    "dormant_notified_at",
    "updated_at",
]
BASELINE = """
SELECT partner_id, count(*), count(activated_at), count(effective_at),
       sum(CASE WHEN retained_30d THEN 1 ELSE 0 END), sum(CASE WHEN retained_90d THEN 1 ELSE 0 END),
       sum(referred), sum(CASE WHEN flagged THEN 1 ELSE 0 END), sum(incentive_accrued),
       sum(incentive_clawed_back)
FROM channel_milestones GROUP BY partner_id ORDER BY partner_id
"""


def _rows(n: int, partners: int, subs: int, campaigns: int, seed: int) -> tuple[list, list]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    customers, milestones = [], []
    for i in range(n):
        cid = f"cus_b{i:010d}"
        pid = f"ptn_b{i % partners:05d}"
        opened = START + timedelta(seconds=rng.randrange(365 * 86400))
        day = opened.date()
        activated = opened + timedelta(days=rng.randrange(20)) if rng.random() < 0.6 else None
        effective = activated + timedelta(days=1) if activated and rng.random() < 0.5 else None
        customers.append((cid, f"i{i}", f"p{i}", "x", "x", "x", "x", date(1990, 1, 1), pid, opened))
        milestones.append(
            (
                cid,
                pid,
                SCENARIOS[i % 4],
                f"sub{rng.randrange(subs):05d}",
                f"cmp_b{rng.randrange(campaigns):04d}" if rng.random() < 0.5 else None,
                None,
                f"R{i:011d}",
                opened,
                day,
                day - timedelta(days=day.weekday()),
                day.strftime("%Y-%m"),
                30,
                10_000,
                activated,
                12_000 if effective else 0,
                effective,
                bool(activated) and rng.random() < 0.33,
                bool(activated) and rng.random() < 0.17,
                activated,
                1 if rng.random() < 0.05 else 0,
                rng.random() < 0.05,
                2_000 if effective else 0,
                2_000 if effective and rng.random() < 0.02 else 0,
                0,
                None,
                None,
                None,
                opened,
            )
        )
    return customers, milestones


async def load(dsn: str, n: int, partners: int, subs: int, campaigns: int, seed: int) -> None:
    customers, milestones = _rows(n, partners, subs, campaigns, seed)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE channel_milestones, customers CASCADE")
        await conn.copy_records_to_table(
            "customers",
            records=customers,
            columns=[
                "id",
                "id_index",
                "phone_index",
                "name",
                "id_number",
                "phone",
                "account_no",
                "birth_date",
                "acquired_by",
                "created_at",
            ],
        )
        await conn.copy_records_to_table(
            "channel_milestones", records=milestones, columns=MILESTONE_COLUMNS
        )
        await conn.execute("VACUUM ANALYZE channel_milestones")
    finally:
        await conn.close()


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


async def measure(url: str, runs: int) -> dict[str, tuple[float, float]]:
    """p95 and median seconds per report shape, the gateway's and the baseline's."""
    out: dict[str, tuple[float, float]] = {}
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    base = []
    for _ in range(runs):
        start = time.perf_counter()
        await conn.fetch(BASELINE)
        base.append(time.perf_counter() - start)
    await conn.close()
    out["baseline (partner, all dates)"] = (p95(base), statistics.median(base))
    engine = create_engine(Settings(database_url=url))
    sessions = session_factory(engine)
    shapes = {
        "partner, all dates": (GroupBy.PARTNER, None, None),
        "sub_channel, all dates": (GroupBy.SUB_CHANNEL, None, None),
        "campaign, one month": (GroupBy.CAMPAIGN, date(2026, 3, 1), date(2026, 3, 31)),
    }
    try:
        for name, (group_by, date_from, date_to) in shapes.items():
            samples = []
            for _ in range(runs):
                async with sessions() as session:
                    start = time.perf_counter()
                    await funnel(session, group_by, date_from=date_from, date_to=date_to)
                    samples.append(time.perf_counter() - start)
            out[name] = (p95(samples), statistics.median(samples))
    finally:
        await engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--sub-channels", type=int, default=2_000)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not args.database_url.startswith("postgresql+asyncpg://"):
        raise SystemExit("bench.funnel measures PostgreSQL: give a postgresql+asyncpg:// URL")
    migrate.upgrade(args.database_url)
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    results: dict[int, dict[str, tuple[float, float]]] = {}
    for n in (args.customers // 10, args.customers):
        started = time.perf_counter()
        asyncio.run(load(dsn, n, args.partners, args.sub_channels, args.campaigns, args.seed))
        loaded = time.perf_counter() - started
        results[n] = asyncio.run(measure(args.database_url, args.runs))
        print(f"{n:>9,} customers (loaded by COPY in {loaded:5.1f} s), {args.runs} runs each:")
        for name, (q95, median) in results[n].items():
            print(f"    {name:<32} p95 {q95 * 1000:7.1f} ms   median {median * 1000:7.1f} ms")
    small, large = sorted(results)
    for name in results[large]:
        ratio = results[large][name][0] / results[small][name][0]
        print(f"slope {name:<32} x{ratio:4.1f} p95 for x{large // small} customers")


if __name__ == "__main__":
    main()
