"""The console's cookie session, its role guard and its CSRF protection.

The session cookie holds the same signed, expiring staff token the API hands out
(:func:`gateway.staff.service.issue_token`), so any replica can verify it and there is no
server-side session store. Forms are protected by Litestar's double-submit CSRF middleware,
mounted on the console router only: the API takes bearer tokens, which a browser never sends on
its own, so it needs none.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie

from gateway.errors import Unauthorized
from gateway.settings import Settings
from gateway.staff.guards import require_role
from gateway.staff.models import Role
from gateway.staff.service import StaffIdentity, verify_token

PREFIX = "/console"
SESSION_COOKIE = "console_session"
CSRF_COOKIE = "console_csrf"
LANG_MAX_AGE = 365 * 24 * 3600


def cookie_secure(settings: Settings) -> bool:
    """Secure cookies unless the gateway is served over plain http (local development, tests)."""
    return settings.is_production or settings.public_url.startswith("https://")


def console_cookie(settings: Settings, key: str, value: str, max_age: int) -> Cookie:
    """A console cookie: HttpOnly, SameSite=Lax, scoped to ``/console`` (``max_age=0`` clears)."""
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=PREFIX,
        secure=cookie_secure(settings),
        httponly=True,
        samesite="lax",
    )


def session_cookie(settings: Settings, token: str) -> Cookie:
    return console_cookie(settings, SESSION_COOKIE, token, settings.staff_token_ttl_seconds)


def signed_in(request: Request[Any, Any, Any]) -> StaffIdentity:
    """Verify the session cookie and cache the identity where ``current_staff`` looks first."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("Sign in to use the console.", code="signed_out")
    identity = verify_token(request.app.state.settings, token)
    request.state.staff = identity
    return identity


def console_staff(
    *roles: Role,
) -> Callable[[Request[Any, Any, Any]], Coroutine[Any, Any, StaffIdentity]]:
    """The console's ``staff`` dependency: the cookie's identity, checked by ``require_role``."""
    check = require_role(*roles) if roles else None

    async def dependency(request: Request[Any, Any, Any]) -> StaffIdentity:
        identity = signed_in(request)
        return await check(request) if check else identity

    return dependency


def csrf_config(settings: Settings) -> CSRFConfig:
    secret = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway console csrf v1"
    ).derive(settings.secret_key_bytes)
    return CSRFConfig(
        secret=secret.hex(),
        cookie_name=CSRF_COOKIE,
        cookie_path=PREFIX,
        cookie_secure=cookie_secure(settings),
        cookie_httponly=True,  # the token reaches forms through the page, never through JS
        cookie_samesite="lax",
    )
