from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, post
from litestar.params import JSONBody

from gateway.deps import DbSession
from gateway.schemas import Strict
from gateway.staff import service


class SessionCreate(Strict):
    username: str
    password: str


class SessionRead(msgspec.Struct):
    token: str
    expires_in: int
    roles: list[str]


@post("/admin/v1/sessions", tags=["staff"], summary="Sign in with a local staff account")
async def create_session(
    request: Request[Any, Any, Any], data: JSONBody[SessionCreate], db_session: DbSession
) -> SessionRead:
    settings = request.app.state.settings
    user = await service.authenticate(
        db_session, request.app.state.limits, settings, data.username, data.password
    )
    return SessionRead(
        token=service.issue_token(settings, user),
        expires_in=settings.staff_token_ttl_seconds,
        roles=user.roles,
    )
