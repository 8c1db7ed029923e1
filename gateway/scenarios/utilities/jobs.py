"""Jobs of the utilities scenario: pending payments resolved by asking the biller, and (imported
from :mod:`.autodebit`) the auto-debit checks and debits."""

from __future__ import annotations

from typing import Any

import structlog

from gateway.core_banking import core_banking_for
from gateway.jobs import JobContext, job_handler
from gateway.scenarios.utilities import autodebit, service
from gateway.scenarios.utilities.client import pool_of

log = structlog.get_logger(__name__)
__all__ = ["autodebit", "resolve_payment"]


async def _unresolved(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The biller never answered: the payment stays pending, for ops and reconciliation."""
    log.error("utilities.payment_unresolved", payment_id=payload["payment_id"])


@job_handler(service.RESOLVE_JOB, on_dead=_unresolved)
async def resolve_payment(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.resolve(
        ctx.session,
        ctx.services["vault"],
        core_banking_for(ctx.session, ctx.services.get("core_http")),
        pool_of(ctx.services),
        payload["payment_id"],
    )
