"""``python -m gateway.risk.simulate --seed 7 --customers 5000``: print recall and precision.

Scores the generated scenario through the real risk engine into a scratch SQLite database
(migrated in a temporary directory), or into ``--database-url``: give it an empty database of its
own, since the simulation writes risk events, decisions and cases there and reads the whole
event log for its features.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from collections.abc import Sequence

from gateway import migrate
from gateway.db import create_engine, session_factory
from gateway.logging import configure_logging
from gateway.pii import PiiVault
from gateway.risk.simulate import default_instances, generate, report, run
from gateway.settings import Settings


async def _score(url: str, args: argparse.Namespace) -> None:
    scenario = generate(args.seed, args.customers, instances=args.instances, days=args.days)
    counts = scenario.counts()
    print(
        f"seed {args.seed}: {args.customers:,} customers, "
        f"{args.instances or default_instances(args.customers)} instance(s) of each pattern, "
        f"{len(scenario.steps):,} steps ({', '.join(f'{n:,} {k}' for k, n in counts.items())})"
    )
    engine = create_engine(Settings(database_url=url))
    started = time.perf_counter()
    try:
        flags = await run(session_factory(engine), PiiVault(secrets.token_bytes(32)), scenario)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    print(f"scored through the engine in {elapsed:,.1f} s ({len(scenario.steps) / elapsed:,.0f}/s)")
    print()
    print(report(scenario, flags).render())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.risk.simulate", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--instances", type=int, help="of each pattern (default: 1 per 2,000)")
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--database-url", help="an empty database of its own (default: SQLite)")
    args = parser.parse_args(argv)
    configure_logging(level="WARNING")  # one risk.decided line per hit would bury the report
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/simulate.db"
        migrate.upgrade(url)
        asyncio.run(_score(url, args))


if __name__ == "__main__":
    main()
