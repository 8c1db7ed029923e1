"""Settlement of N transactions on PostgreSQL: the gateway's run against hand-written SQL doing
the same aggregate, inserts and marking, in the same process run, at N and N/10 (DESIGN §14).

    python -m bench.settlement --database-url postgresql+asyncpg://root@127.0.0.1:5432/bench_stl

The database is emptied and migrated first: give it one of its own. Data is loaded with COPY:
P partners, one scenario each, N payment transactions (a tenth refunds) of one business date,
each with its two-line ledger journal, exactly as ``collect``/``refund`` write them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import time
from datetime import UTC, date, datetime

import asyncpg
import structlog

from gateway import migrate
from gateway.db import create_engine, session_factory
from gateway.settings import Settings
from gateway.settlement import runs

DAY = date(2026, 11, 2)
AT = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)
SCENARIO = "community"
BPS = 30

MARK = """
UPDATE transactions SET settlement_id = 'stl_base_' || partner_id
WHERE settlement_id IS NULL AND business_date <= $1 AND status IN ('succeeded', 'reversed')
"""
BASELINE = """
INSERT INTO settlements (id, run_id, partner_id, scenario, business_date, seq, contract_version,
    fee_bps, count, gross, refunds, fees, subsidies, escrow, held, net, carried_in, payout,
    payout_status, payout_attempt, created_at)
SELECT settlement_id, $3, partner_id, scenario, $1, 1, 1, $2, COUNT(*),
       SUM(GREATEST(payable, 0)), SUM(GREATEST(-payable, 0)), SUM(fee), SUM(subsidy), 0, 0,
       SUM(payable - fee), 0, GREATEST(SUM(payable - fee), 0), 'pending', 0, now()
FROM (
    SELECT *, CASE WHEN payable > 0 THEN (payable * $2 + 5000) / 10000
                   WHEN payable < 0 THEN -((-payable * $2 + 5000) / 10000) ELSE 0 END AS fee
    FROM (
        SELECT t.settlement_id, t.partner_id, t.scenario,
               CASE WHEN t.kind = 'refund' THEN -t.subsidy ELSE t.subsidy END AS subsidy,
               SUM(CASE WHEN e.account LIKE 'partner_payable:%' THEN -e.amount ELSE 0 END)::bigint
                   AS payable
        FROM transactions t
        JOIN ledger_journals j ON j.txn_id = t.id
        JOIN ledger_entries e ON e.journal_id = j.id
        WHERE t.settlement_id LIKE 'stl_base_%'
        GROUP BY t.id
    ) owed
) per_txn
GROUP BY settlement_id, partner_id, scenario
"""


CHUNK = 100_000
TXN_COLUMNS = [
    "id",
    "partner_id",
    "scenario",
    "kind",
    "status",
    "amount",
    "subsidy",
    "refunded",
    "reference",
    "occurred_at",
    "business_date",
]
JOURNAL_COLUMNS = [
    "id",
    "reference",
    "kind",
    "txn_id",
    "partner_id",
    "scenario",
    "business_date",
    "occurred_at",
    "created_at",
]
Row = tuple[object, ...]


def _rows(
    rng: random.Random, ids: list[str], numbers: range, day: date, at: datetime
) -> tuple[list[Row], list[Row], list[Row]]:
    """Transactions ``numbers`` with their journals and two ledger lines each."""
    partners = len(ids)
    txns: list[Row] = []
    journals: list[Row] = []
    entries: list[Row] = []
    for i in numbers:
        pid = ids[i % partners]
        refund = (i // partners) % 10 == 9
        amount = rng.randint(1_00, 2_000_00)
        kind = "refund" if refund else "payment"
        txn_id, journal_id = f"txn_b{i:09d}", f"jnl_b{i:09d}"
        txns.append((txn_id, pid, SCENARIO, kind, "succeeded", amount, 0, 0, f"ref-{i}", at, day))
        journals.append(
            (journal_id, f"txn:{i}", f"{SCENARIO}.{kind}", txn_id, pid, SCENARIO, day, at, at)
        )
        payable = amount if refund else -amount
        entries.append((journal_id, 1, f"partner_payable:{pid}:{SCENARIO}", payable, at))
        entries.append((journal_id, 2, "customer_funds", -payable, at))
    return txns, journals, entries


async def copy_transactions(
    conn: asyncpg.Connection,
    rng: random.Random,
    partner_ids: list[str],
    n: int,
    *,
    day: date = DAY,
    at: datetime = AT,
) -> None:
    """COPY ``n`` settleable transactions of ``day`` spread over ``partner_ids`` (existing
    partners of the community scenario), each with its journal: payments, a tenth refunds."""
    for start in range(0, n, CHUNK):  # bounded memory: a million rows are 4 million tuples
        txns, journals, entries = _rows(
            rng, partner_ids, range(start, min(start + CHUNK, n)), day, at
        )
        await conn.copy_records_to_table("transactions", records=txns, columns=TXN_COLUMNS)
        await conn.copy_records_to_table(
            "ledger_journals", records=journals, columns=JOURNAL_COLUMNS
        )
        await conn.copy_records_to_table(
            "ledger_entries",
            records=entries,
            columns=["journal_id", "line", "account", "amount", "occurred_at"],
        )


async def load(dsn: str, partners: int, n: int, seed: int) -> None:
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "TRUNCATE settlement_held_items, settlements, settlement_runs, partner_contracts, "
            "ledger_entries, ledger_journals, transactions, jobs, partners, partner_applications "
            "CASCADE"
        )
        ids = [f"ptn_bench{p:05d}" for p in range(partners)]
        await conn.copy_records_to_table(
            "partner_applications",
            records=[
                (
                    f"pap_bench{p:05d}",
                    "approved",
                    "Bench Co",
                    "91110108551385082Q",
                    f'["{SCENARIO}"]',
                    "customer_referral",
                    "Bench Co",
                    '{"keys": []}',
                    "{}",
                    "x",
                    AT,
                )
                for p in range(partners)
            ],
            columns=[
                "id",
                "status",
                "legal_name",
                "uscc",
                "scenarios",
                "cooperation_mode",
                "settlement_account_name",
                "jwks",
                "scenario_profile",
                "pii",
                "created_at",
            ],
        )
        await conn.copy_records_to_table(
            "partners",
            records=[
                (
                    pid,
                    f"pap_bench{p:05d}",
                    "Bench Co",
                    "91110108551385082Q",
                    "active",
                    f'["{SCENARIO}"]',
                    "customer_referral",
                    "{}",
                    "Bench Co",
                    "x",
                    f"cli_bench{p}",
                    "x",
                    50.0,
                    200,
                    AT,
                    AT,
                )
                for p, pid in enumerate(ids)
            ],
            columns=[
                "id",
                "application_id",
                "legal_name",
                "uscc",
                "status",
                "scenarios",
                "cooperation_mode",
                "scenario_profile",
                "settlement_account_name",
                "pii",
                "client_id",
                "client_secret_hash",
                "rate_limit_per_second",
                "rate_limit_burst",
                "created_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "partner_contracts",
            records=[
                (
                    f"ctr_bench{p:05d}",
                    pid,
                    1,
                    f'{{"{SCENARIO}": {BPS}}}',
                    1,
                    "bounty",
                    date.min,
                    "bench",
                    AT,
                )
                for p, pid in enumerate(ids)
            ],
            columns=[
                "id",
                "partner_id",
                "version",
                "fee_bps",
                "cycle_days",
                "incentive_scheme",
                "effective_from",
                "created_by",
                "created_at",
            ],
        )
        await copy_transactions(conn, rng, ids, n)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE transactions SET settlement_id = NULL")
        await conn.execute(
            "DELETE FROM ledger_entries WHERE journal_id IN "
            "(SELECT id FROM ledger_journals WHERE txn_id IS NULL)"
        )
        await conn.execute("DELETE FROM ledger_journals WHERE txn_id IS NULL")
        await conn.execute("TRUNCATE settlement_held_items, settlements, settlement_runs, jobs")
        await conn.execute("VACUUM ANALYZE transactions")
    finally:
        await conn.close()


async def baseline(dsn: str) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO settlement_runs (id, business_date, status, active, requested_by, "
            "settlements, heartbeat_at, created_at) VALUES ('srn_base', $1, 'running', NULL, "
            "'bench', 0, now(), now())",
            DAY,
        )
        start = time.perf_counter()
        async with conn.transaction():
            await conn.execute(MARK, DAY)
            await conn.execute(BASELINE, DAY, BPS, "srn_base")
        return time.perf_counter() - start
    finally:
        await conn.close()


async def gateway_run(settings: Settings) -> tuple[float, int]:
    engine = create_engine(settings)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            run, _ = await runs.start_run(session, DAY, "bench", production=False)
            await session.commit()
        start = time.perf_counter()
        async with sessions() as session:
            done = await runs.execute_run(session, run.id)
            await session.commit()
        elapsed = time.perf_counter() - start
        return elapsed, done.settlements if done else 0
    finally:
        await engine.dispose()


async def measure(url: str, partners: int, n: int, seed: int) -> tuple[float, float]:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    await load(dsn, partners, n, seed)
    base = await baseline(dsn)
    await reset(dsn)
    settings = Settings(database_url=url)
    ours, made = await gateway_run(settings)
    conn = await asyncpg.connect(dsn)
    try:
        check = await conn.fetchval("SELECT count(*) FROM transactions WHERE settlement_id IS NULL")
    finally:
        await conn.close()
    if made != partners or check != 0:
        raise SystemExit(f"the gateway settled {made} groups and left {check} transactions")
    return ours, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not args.database_url.startswith("postgresql+asyncpg://"):
        raise SystemExit("bench.settlement measures PostgreSQL: give a postgresql+asyncpg:// URL")
    migrate.upgrade(args.database_url)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    results = {}
    for n in (args.transactions // 10, args.transactions):
        ours, base = asyncio.run(measure(args.database_url, args.partners, n, args.seed))
        results[n] = ours
        print(
            f"{n:>9,} transactions, {args.partners} partners: gateway {ours:6.2f} s "
            f"({n / ours:,.0f} txn/s)  hand-written SQL {base:6.2f} s  ratio {ours / base:4.2f}x"
        )
    small, large = sorted(results)
    print(f"slope: x{results[large] / results[small]:.1f} time for x{large // small} transactions")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
