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
from gateway.demo.risk import suspicious_traffic, work_the_queue
from gateway.demo.settlement import reconcile_busiest_day, settle_each_day
from gateway.demo.utilities import utilities_month
from gateway.demo.world import PASSWORD, STAFF, World, at, ensure_staff, onboard_others
from gateway.handlers import register_all
from gateway.logging import configure_logging
from gateway.pii import PiiVault
from gateway.services import open_services
from gateway.settings import Settings

DAYS = 28
Step = tuple[str, Callable[[World], Awaitable[None]]]


def steps(customers: int) -> list[Step]:
    """The month's steps for about ``customers`` customers, a sixth to each community and to
    each other scenario."""
    share = max(customers // 6, 10)
    return [
        ("staff and partners", _people),
        ("smart community", lambda w: community_month(w, share)),
        ("contactless fuel", lambda w: fuel_month(w, share)),
        ("prepaid cards", lambda w: stored_value_month(w, share)),
        ("campus cards", lambda w: campus_month(w, share)),
        ("utility bills", lambda w: utilities_month(w, share)),
        ("suspicious traffic", suspicious_traffic),
        ("daily settlement", settle_each_day),
        ("reconciliation", reconcile_busiest_day),
        ("risk queue", work_the_queue),
    ]


async def _people(world: World) -> None:
    await ensure_staff(world)
    with travelled_to(at(world.first_day, 9)):
        await onboard_others(world)


async def run_demo(settings: Settings, seed: int, customers: int = 180) -> str:
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
    return (
        f"Demo month {world.first_day} – {yesterday} added (seed {seed}).\n"
        f"Sign in at {settings.public_url}/console/login with password '{PASSWORD}' as:\n{accounts}"
    )
