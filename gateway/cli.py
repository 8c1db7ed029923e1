"""The ``gateway`` command (DESIGN §13)."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click
import uvicorn

from gateway import clock, migrate
from gateway.db import create_engine, session_factory
from gateway.errors import GatewayError
from gateway.settings import Settings, SettingsError, get_settings

OPENAPI_PATH = Path("openapi/openapi.json")
WORKER_GC_ALLOCATIONS = 10_000


def _settings() -> Settings:
    try:
        return get_settings()
    except (SettingsError, ValueError) as e:
        raise click.ClickException(str(e)) from e


@click.group()
def main() -> None:
    """Scenario-finance partner gateway."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option("--demo", is_flag=True, help="Add a demo month first (as `gateway demo`).")
def serve(host: str, port: int, workers: int, demo: bool) -> None:
    """Serve the API, the console and (by default) the job workers."""
    settings = _settings()
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    if demo:
        _demo(settings, seed=1, customers=DEMO_CUSTOMERS)
    uvicorn.run(
        "gateway.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="warning",
    )


@main.command()
def worker() -> None:
    """Run job workers only (scale-out: any number of these beside the servers)."""
    from gateway.handlers import register_all  # noqa: PLC0415
    from gateway.jobs.worker import Worker  # noqa: PLC0415  (keeps `gateway --help` fast)
    from gateway.logging import configure_logging  # noqa: PLC0415
    from gateway.pii import PiiVault  # noqa: PLC0415
    from gateway.services import open_services  # noqa: PLC0415

    register_all()

    settings = _settings()
    clock.shift_process(settings.clock_shift_seconds)
    # A chunk builds thousands of dicts that live until it commits. Collected every 700
    # allocations (the default), the youngest generation promoted them while still in use, and
    # they set off full collections of the whole heap: 3.5 s of a 100,000-row batch's 65 s of
    # worker CPU, 1.1 s at 10,000 allocations (docs/performance.md).
    gc.set_threshold(WORKER_GC_ALLOCATIONS, *gc.get_threshold()[1:])

    async def run() -> None:
        configure_logging(settings.resolved_log_format, settings.log_level)
        engine = create_engine(settings)
        sessions = session_factory(engine)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with open_services(
                settings, sessions, PiiVault(settings.pii_key_bytes)
            ) as services:
                await Worker(sessions, settings, services).run_forever(stop)
        finally:
            await engine.dispose()

    asyncio.run(run())


@main.command("sandbox-core")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=int)
def sandbox_core(host: str, port: int) -> None:
    """Serve the sandbox core bank over the core-banking protocol (for the HTTP path)."""
    from gateway.core_banking.app import create_sandbox_core_app  # noqa: PLC0415
    from gateway.logging import configure_logging  # noqa: PLC0415

    settings = _settings()
    configure_logging(settings.resolved_log_format, settings.log_level)
    clock.shift_process(settings.clock_shift_seconds)
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    uvicorn.run(
        create_sandbox_core_app(settings.database_url), host=host, port=port, log_level="warning"
    )


@main.command("sandbox-biller")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8200, show_default=True, type=int)
def sandbox_biller(host: str, port: int) -> None:
    """Serve a sandbox utility biller over the biller protocol (docs/integration/billers.md)."""
    from gateway.scenarios.utilities.sandbox import create_sandbox_biller_app  # noqa: PLC0415

    uvicorn.run(create_sandbox_biller_app(), host=host, port=port, log_level="warning")


@main.group()
def accounts() -> None:
    """Customer accounts."""


@accounts.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--partner", "partner_id", required=True, help="The partner the customers come through."
)
@click.option("--scenario", required=True)
@click.option("--sub-channel", default=None)
@click.option("--campaign", default=None)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Open the accounts now, with progress.",
)
def accounts_import(
    file: Path,
    partner_id: str,
    scenario: str,
    sub_channel: str | None,
    campaign: str | None,
    wait: bool,
) -> None:
    """Open a CSV or XLSX file of customers as an account batch (ops-assisted upload)."""
    from gateway.accounts_import import import_file  # noqa: PLC0415

    settings = _settings()
    try:
        summary = asyncio.run(
            import_file(
                settings,
                file.name,
                file.read_bytes(),
                partner_id,
                scenario,
                sub_channel,
                campaign,
                wait=wait,
            )
        )
    except GatewayError as e:
        raise click.ClickException(f"{e.code}: {e.detail}") from e
    click.echo(summary)


DEMO_CUSTOMERS = 3_000


def _demo(settings: Settings, seed: int, customers: int) -> None:
    from gateway.demo.run import run_demo  # noqa: PLC0415

    try:
        click.echo(asyncio.run(run_demo(settings, seed, customers)))
    except GatewayError as e:
        raise click.ClickException(f"{e.code}: {e.detail}") from e


@main.command()
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same month.")
@click.option("--customers", default=DEMO_CUSTOMERS, show_default=True, type=int)
def demo(seed: int, customers: int) -> None:
    """Add a realistic month of activity across the scenarios (demo staff: demo_*)."""
    settings = _settings()
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    _demo(settings, seed, customers)


@main.command()
@click.option("--date", "business_date", required=True, type=click.DateTime(["%Y-%m-%d"]))
def settle(business_date: Any) -> None:
    """Settle everything up to the end of a business date, then pay out (with progress)."""
    from gateway.settlement.command import settle as run_settle  # noqa: PLC0415

    try:
        click.echo(asyncio.run(run_settle(_settings(), business_date.date())))
    except GatewayError as e:
        raise click.ClickException(f"{e.code}: {e.detail}") from e


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (alembic upgrade)."""
    migrate.upgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (``base`` empties the schema)."""
    migrate.downgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def users() -> None:
    """Staff accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--oidc-subject",
    default=None,
    help="The identity provider's `sub` for this person: console single sign-on (ADR 0018).",
)
def users_add(
    username: str, roles: tuple[str, ...], password: str, oidc_subject: str | None
) -> None:
    """Create a local staff account."""
    from gateway.staff.service import add_user  # noqa: PLC0415

    settings = _settings()

    async def run() -> str:
        engine = create_engine(settings)
        try:
            async with session_factory(engine)() as session:
                user = await add_user(
                    session, username, list(roles), password, oidc_subject=oidc_subject
                )
                await session.commit()
                return user.id
        finally:
            await engine.dispose()

    try:
        user_id = asyncio.run(run())
    except GatewayError as e:
        detail = "; ".join(f"{err.field}: {err.message}" for err in e.errors) or e.detail
        raise click.ClickException(detail) from e
    click.echo(f"created {username} ({user_id}) with roles {', '.join(sorted(set(roles)))}")


@main.group()
def openapi() -> None:
    """The exported OpenAPI document."""


def render_core_banking_openapi() -> str:
    from gateway.core_banking.app import export_openapi  # noqa: PLC0415

    return export_openapi()


def render_openapi() -> str:
    from gateway.app import create_app  # noqa: PLC0415

    app = create_app(Settings(env="development", workers_in_process=False))
    return (
        json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    )


@openapi.command("export")
@click.option("--output", type=click.Path(path_type=Path), default=OPENAPI_PATH, show_default=True)
def openapi_export(output: Path) -> None:
    """Write the OpenAPI documents: the gateway's and, beside it, the core-banking protocol's.

    CI fails when the committed copies drift.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_openapi(), encoding="utf-8")
    core = output.with_name("core-banking.json")
    core.write_text(render_core_banking_openapi(), encoding="utf-8")
    click.echo(f"wrote {output} and {core}")


if __name__ == "__main__":
    sys.exit(main())
