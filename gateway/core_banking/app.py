"""The sandbox core as its own ASGI app, speaking the same wire protocol as a bank's core.

It lets the HTTP client be tested end to end against a real server, and gives a bank's integrators
a working reference of the protocol. ``export_openapi`` renders ``openapi/core-banking.json``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Litestar, Request, Response
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from gateway.core_banking.port import CoreBankingRejected, ReferenceConflict
from gateway.core_banking.routes import ROUTES
from gateway.db import create_engine, provide_session, session_factory
from gateway.errors import handle_exception, problem_response
from gateway.middleware import RequestContextMiddleware, stamp_request_id
from gateway.settings import Settings

PROTOCOL_VERSION = "1.0.0"


def _refused(request: Request[Any, Any, Any], exc: CoreBankingRejected) -> Response[Any]:
    """On the wire a refused instruction is the caller's mistake (409 for a reused reference,
    else 422 with the reason), not the 502 it means when it escapes a gateway route."""
    status = 409 if isinstance(exc, ReferenceConflict) else 422
    return problem_response(request, status, exc.reason, exc.detail)


def create_sandbox_core_app(database_url: str) -> Litestar:
    """The standalone sandbox core on ``database_url`` (already migrated; it owns its sessions
    and commits per request, like the gateway)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        # Only the engine options are read; the sandbox core is never a production service.
        engine = create_engine(Settings(env="development", database_url=database_url))
        app.state.session_factory = session_factory(engine)
        try:
            yield
        finally:
            await engine.dispose()

    return Litestar(
        route_handlers=ROUTES,
        dependencies={"db_session": Provide(provide_session)},
        exception_handlers={CoreBankingRejected: _refused, Exception: handle_exception},
        middleware=[RequestContextMiddleware()],
        before_send=[stamp_request_id],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Core-banking protocol (sandbox core)",
            version=PROTOCOL_VERSION,
            path="/schema",
        ),
        debug=False,
    )


def export_openapi() -> str:
    """The protocol's OpenAPI document as committed in ``openapi/core-banking.json``."""
    schema = create_sandbox_core_app("sqlite+aiosqlite://").openapi_schema.to_schema()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
