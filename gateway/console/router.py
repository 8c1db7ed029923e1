"""What the app factory mounts: console routes (pages behind CSRF, static files) and templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import PathType

from gateway.console import applications, audit, auth, channels, partners, risk, rules, settlement
from gateway.console.errors import render_error
from gateway.console.pages import HTMX_DIST, template_config
from gateway.console.session import PREFIX, csrf_config
from gateway.settings import Settings

__all__ = ["routes", "template_config"]

STATIC = Path(__file__).parent / "static"


def routes(settings: Settings) -> list[Any]:
    """The console router plus its static files (htmx only when ``npm ci`` has installed it)."""
    pages = Router(
        path=PREFIX,
        route_handlers=[
            *auth.ROUTES,
            *applications.ROUTES,
            *partners.ROUTES,
            *risk.ROUTES,
            *rules.ROUTES,
            *settlement.ROUTES,
            *channels.ROUTES,
            *audit.ROUTES,
        ],
        middleware=[DefineMiddleware(CSRFMiddleware, config=csrf_config(settings))],
        exception_handlers={Exception: render_error},
        include_in_schema=False,
    )
    static_dirs: list[PathType] = [STATIC, *([HTMX_DIST] if HTMX_DIST.is_dir() else [])]
    static = create_static_files_router(
        path=f"{PREFIX}/static", directories=static_dirs, name="console.static"
    )
    return [pages, static]
