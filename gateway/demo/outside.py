"""The systems outside the bank that the demo's partners run, answered in process so the demo is
one command: each partner's webhook endpoint, and the utilities partner's biller (the sandbox
biller of ``gateway sandbox-biller``, the same app over an ASGI transport).

The gateway's side is untouched: webhooks are signed and POSTed by the delivery job through the
process's outbound client, and bills are queried and written off by the biller pool's client,
after the same SSRF check; only the transport under those clients is in-process. Both URLs are
loopback addresses a developer can serve later (``gateway sandbox-biller`` listens on 8200).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx

from gateway.scenarios.utilities.client import pool_of
from gateway.scenarios.utilities.sandbox import create_sandbox_biller_app
from gateway.services import OUTBOUND_TIMEOUT

PARTNER_ENDPOINTS = "http://127.0.0.1:8199"
SANDBOX_BILLER = "http://127.0.0.1:8200"
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def webhook_url(scenario: str) -> str:
    return f"{PARTNER_ENDPOINTS}/{scenario}/webhooks"


async def partner_endpoints(scope: Scope, receive: Receive, send: Send) -> None:
    """The partners' webhook receivers: read the delivery and acknowledge it (204)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def outside_world(services: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """``services`` with the outbound client and the biller pool routed to the in-process
    partner systems (anything else still goes to the network)."""
    biller = create_sandbox_biller_app()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Litestar's logging set it to INFO
    async with httpx.AsyncClient(
        timeout=OUTBOUND_TIMEOUT,
        follow_redirects=False,
        mounts={PARTNER_ENDPOINTS: httpx.ASGITransport(app=partner_endpoints)},
    ) as http:
        demo = {**services, "http": http}
        # Litestar's __call__ is typed with its own narrower ASGI event types than httpx expects.
        pool_of(demo, transport=httpx.ASGITransport(app=cast(Any, biller)))
        yield demo
