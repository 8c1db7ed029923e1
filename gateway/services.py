"""Long-lived collaborators shared by request handlers and job handlers.

``gateway serve`` and ``gateway worker`` build them the same way, so a job behaves the same in
whichever process claims it: the gateway's key ring (signing webhooks), the PII vault, one
outbound httpx client (webhooks, billers) and, when a bank core is configured, its HTTP client.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth.keys import load_key_ring
from gateway.core_banking import connect
from gateway.pii import PiiVault
from gateway.settings import Settings

OUTBOUND_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], vault: PiiVault
) -> AsyncIterator[dict[str, Any]]:
    async with sessions() as session:
        key_ring = await load_key_ring(session, vault)
        await session.commit()
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=OUTBOUND_TIMEOUT, follow_redirects=False)
        )
        core_http = (
            await stack.enter_async_context(connect(settings.core_banking_url))
            if settings.core_banking_url
            else None
        )
        yield {
            "key_ring": key_ring,
            "vault": vault,
            "http": http,
            "core_http": core_http,
            "settings": settings,
            # Adapters that own long-lived clients (the utilities scenario's biller clients)
            # create them on first use and close them with the process through this stack.
            "exit_stack": stack,
        }
