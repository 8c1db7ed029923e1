"""Request-scoped context: the request id (echoed as ``X-Request-ID``) bound into every log line.

Litestar runs route middleware only for matched routes, so the id is also ensured by the error
handler and stamped on every response by an app-level ``before_send`` hook (404s included).
"""

from __future__ import annotations

import re

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.ids import new_id

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def ensure_request_id(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        state["request_id"] = (
            incoming if _VALID_REQUEST_ID.match(incoming) else "req_" + new_id("evt")[4:]
        )
    return str(state["request_id"])


async def stamp_request_id(message: Message, scope: Scope) -> None:
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)["X-Request-ID"] = ensure_request_id(scope)


class RequestContextMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=ensure_request_id(scope))
        await next_app(scope, receive, send)
