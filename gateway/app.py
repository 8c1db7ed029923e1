"""The application factory: ``create_app(settings)`` → Litestar."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from redis.asyncio import Redis

from gateway import __version__, clock
from gateway.audit.routes import list_audit
from gateway.auth.front_door import partner_router, release_reservation, replay_response
from gateway.auth.nonces import DatabaseNonceStore, RedisNonceStore
from gateway.auth.oauth import token_endpoint
from gateway.channels import risk_links  # noqa: F401  (incentives listen to risk decisions)
from gateway.channels.campaigns import routes as campaign_routes
from gateway.channels.events import routes as channel_event_routes
from gateway.channels.lists import routes as channel_list_routes
from gateway.channels.reports import routes as channel_report_routes
from gateway.console import router as console
from gateway.customers import routes as customer_routes
from gateway.db import autocommit, create_engine, provide_session, session_factory
from gateway.errors import handle_exception
from gateway.idempotency.service import IdempotentReplay
from gateway.jobs.worker import Worker
from gateway.logging import configure_logging
from gateway.middleware import RequestContextMiddleware, stamp_request_id
from gateway.notifications import routes as notification_routes
from gateway.openapi_contract import DocumentedOpenAPIConfig
from gateway.ops.routes import health, ready
from gateway.partners import routes as partner_routes
from gateway.pii import PiiVault
from gateway.ratelimit import LimitStore, MemoryLimitStore, RedisLimitStore
from gateway.risk import routes as risk_routes
from gateway.scenarios.base import admin_routes as scenario_admin_routes
from gateway.scenarios.base import routers as scenario_routers
from gateway.services import open_services
from gateway.settings import Settings, get_settings
from gateway.settlement import routes as settlement_routes
from gateway.settlement.ledger.routes import get_trial_balance
from gateway.staff.routes import create_session


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def _limit_store(settings: Settings) -> tuple[LimitStore, Redis[bytes] | None]:
    if settings.redis_url:
        client = Redis.from_url(settings.redis_url)
        return RedisLimitStore(client), client
    return MemoryLimitStore(), None


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.resolved_log_format, settings.log_level)
    clock.shift_process(settings.clock_shift_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.autocommit_engine = autocommit(engine)
        app.state.limits, redis = _limit_store(settings)
        app.state.nonces = RedisNonceStore(redis) if redis else DatabaseNonceStore(engine)
        stop = asyncio.Event()
        worker_task = None
        try:
            async with open_services(settings, app.state.session_factory, vault) as services:
                app.state.services = services
                app.state.key_ring = services["key_ring"]
                if settings.workers_in_process:
                    worker = Worker(app.state.session_factory, settings, services)
                    worker_task = asyncio.create_task(worker.run_forever(stop))
                try:
                    yield
                finally:
                    stop.set()
                    if worker_task is not None:
                        await worker_task
        finally:
            if redis is not None:
                await redis.aclose()  # type: ignore[attr-defined]
            await engine.dispose()

    prometheus = PrometheusConfig(
        app_name="gateway", group_path=True, exclude=["/metrics", "/health"]
    )

    vault = PiiVault(settings.pii_key_bytes)

    def on_app_init(config: AppConfig) -> AppConfig:
        config.state.update({"settings": settings, "vault": vault})
        return config

    partner_api = partner_router(
        "/v1",
        [
            *partner_routes.PARTNER_ROUTES,
            *customer_routes.PARTNER_ROUTES,
            *notification_routes.PARTNER_ROUTES,
            *settlement_routes.PARTNER_ROUTES,
            *channel_report_routes.PARTNER_ROUTES,
            *channel_event_routes.PARTNER_ROUTES,
            *scenario_routers(),
        ],
    )
    sandbox_routes = [] if settings.core_banking_url else customer_routes.SANDBOX_ROUTES
    route_handlers: list[Any] = [
        health,
        ready,
        MetricsController,
        create_session,
        list_audit,
        get_trial_balance,
        token_endpoint,
        *partner_routes.PUBLIC_ROUTES,
        *partner_routes.ADMIN_ROUTES,
        *campaign_routes.ADMIN_ROUTES,
        *channel_report_routes.ADMIN_ROUTES,
        *channel_list_routes.ADMIN_ROUTES,
        *settlement_routes.ADMIN_ROUTES,
        *scenario_admin_routes(),
        *risk_routes.ADMIN_ROUTES,
        partner_api,
        *sandbox_routes,
        *console.routes(settings),
    ]
    return Litestar(
        route_handlers=route_handlers,
        dependencies={
            "db_session": Provide(provide_session),
            "vault": Provide(lambda: vault, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
        },
        exception_handlers={Exception: handle_exception, IdempotentReplay: replay_response},
        middleware=[RequestContextMiddleware(), prometheus.middleware],
        lifespan=[lifespan],
        after_exception=[release_reservation],
        before_send=[stamp_request_id],
        on_app_init=[on_app_init],
        template_config=console.template_config(),
        request_max_body_size=settings.body_limit,
        openapi_config=DocumentedOpenAPIConfig(
            title="Scenario-finance partner gateway",
            version=__version__,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory`` (multi-process serving)."""
    return create_app(get_settings())
