"""The demo's steps in order, with a progress display, and what it prints at the end."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.clock import business_date_of, now, travelled_to
from gateway.db import create_engine, session_factory
from gateway.demo.community import community_month
from gateway.demo.merchants import fuel_month, stored_value_month
from gateway.demo.settlement import reconcile_busiest_day, settle_each_day
from gateway.demo.world import PASSWORD, STAFF, World, at, ensure_staff, onboard_others
from gateway.handlers import register_all
from gateway.logging import configure_logging
from gateway.pii import PiiVault
from gateway.services import open_services
from gateway.settings import Settings

DAYS = 28
Step = tuple[str, Callable[[World], Awaitable[None]]]


def steps(customers: int) -> list[Step]:
    per_community = max(customers // 4, 10)
    drivers = max(customers // 4, 6)
    members = max(customers // 4, 6)
    return [
        ("staff and partners", _people),
        ("smart community", lambda w: community_month(w, per_community)),
        ("contactless fuel", lambda w: fuel_month(w, drivers)),
        ("prepaid cards", lambda w: stored_value_month(w, members)),
        ("daily settlement", settle_each_day),
        ("reconciliation", reconcile_busiest_day),
    ]


async def _people(world: World) -> None:
    await ensure_staff(world)
    with travelled_to(at(world.first_day, 9)):
        await onboard_others(world)


async def run_demo(settings: Settings, seed: int, customers: int = 400) -> str:
    configure_logging(settings.resolved_log_format, "ERROR")  # the progress display speaks
    register_all()
    engine = create_engine(settings)
    sessions = session_factory(engine)
    vault = PiiVault(settings.pii_key_bytes)
    yesterday = business_date_of(now()) - timedelta(days=1)
    try:
        async with open_services(settings, sessions, vault) as services:
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
