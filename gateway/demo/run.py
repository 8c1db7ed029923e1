"""The demo's steps in order, with a progress display, and what it prints at the end."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.clock import business_date_of, now, travelled_to
from gateway.db import create_engine, session_factory
from gateway.demo.campus import campus_month
from gateway.demo.community import community_month
from gateway.demo.merchants import fuel_month, stored_value_month
from gateway.demo.outside import outside_world
from gateway.demo.patterns import plant_patterns
from gateway.demo.risk import work_the_queue
from gateway.demo.settlement import reconcile_busiest_day, settle_each_day
from gateway.demo.utilities import utilities_month
from gateway.demo.world import PASSWORD, STAFF, World, at, ensure_staff, onboard_others
from gateway.handlers import register_all
from gateway.logging import configure_logging
from gateway.pii import PiiVault
from gateway.services import open_services
from gateway.settings import Settings

DAYS = 28
ACTIVE = 20  # customers per scenario share who trade in the month
Step = tuple[str, Callable[[World], Awaitable[None]]]


def steps(customers: int, active: int = ACTIVE) -> list[Step]:
    """The month's steps for about ``customers`` customers, a sixth to each community and to
    each other scenario, opened in batches (and by referral); ``active`` of each share trade
    through the month, one by one as the partners' requests would (openings are set-based,
    payments are not: the month's length is in the payments)."""
    share = max(customers // 6, 10)
    busy = min(active, share)
    return [
        ("staff and partners", _people),
        ("smart community", lambda w: community_month(w, share, busy)),
        ("contactless fuel", lambda w: fuel_month(w, share, busy)),
        ("prepaid cards", lambda w: stored_value_month(w, share, busy)),
        ("campus cards", lambda w: campus_month(w, share, busy)),
        ("utility bills", lambda w: utilities_month(w, share, busy)),
        ("fraud patterns", plant_patterns),
        ("daily settlement", settle_each_day),
        ("reconciliation", reconcile_busiest_day),
        ("risk queue", work_the_queue),
    ]


async def _people(world: World) -> None:
    await ensure_staff(world)
    with travelled_to(at(world.first_day, 9)):
        await onboard_others(world)


async def run_demo(settings: Settings, seed: int, customers: int = 3_000) -> str:
    configure_logging(settings.resolved_log_format, "ERROR")  # the progress display speaks
    register_all()
    engine = create_engine(settings)
    sessions = session_factory(engine)
    vault = PiiVault(settings.pii_key_bytes)
    yesterday = business_date_of(now()) - timedelta(days=1)
    try:
        async with (
            open_services(settings, sessions, vault) as opened,
            outside_world(opened) as services,
        ):
            world = World(
                settings=settings,
                sessions=sessions,
                vault=vault,
                services=services,
                rng=random.Random(seed),  # noqa: S311  (a reproducible demo, not a secret)
                seed=seed,
                first_day=yesterday - timedelta(days=DAYS - 1),
                days=DAYS,
                note=lambda _: None,
            )
            plan = steps(customers)
            columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
            with Progress(*columns) as progress:
                task = progress.add_task("demo", total=len(plan))
                world.note = lambda message: progress.console.print(f"  {message}")
                for label, step in plan:
                    progress.update(task, description=label)
                    await step(world)
                    progress.advance(task)
    finally:
        await engine.dispose()
    accounts = "\n".join(
        f"  {name:<22} {', '.join(r.value for r in roles)}" for name, roles in STAFF.items()
    )
    by_scenario = ", ".join(f"{n:,} {key}" for key, n in sorted(world.opened.items()))
    return (
        f"Demo month {world.first_day} – {yesterday} added (seed {seed}): "
        f"{sum(world.opened.values()):,} customers opened ({by_scenario}).\n"
        f"Sign in at {settings.public_url}/console/login with password '{PASSWORD}' as:\n{accounts}"
    )
