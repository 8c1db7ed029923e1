"""Reusable staff dependencies: ``current_staff`` and ``require_role(...)``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from litestar import Request

from gateway.errors import Forbidden, Unauthorized
from gateway.staff.models import Role
from gateway.staff.service import StaffIdentity, verify_token


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_staff(request: Request[Any, Any, Any]) -> StaffIdentity:
    cached = request.scope.get("state", {}).get("staff")
    if isinstance(cached, StaffIdentity):
        return cached
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Sign in and send the staff token as a Bearer token.")
    identity = verify_token(request.app.state.settings, token)
    request.state.staff = identity
    return identity


def require_role(
    *roles: Role,
) -> Callable[[Request[Any, Any, Any]], Coroutine[Any, Any, StaffIdentity]]:
    """A dependency that yields the caller if it holds one of ``roles`` (admin holds all)."""

    async def guard(request: Request[Any, Any, Any]) -> StaffIdentity:
        staff = await current_staff(request)
        if not staff.has(*roles):
            raise Forbidden(
                f"This action needs one of the roles: {', '.join(r.value for r in roles)}.",
                code="role_required",
            )
        return staff

    return guard
