"""A biller's day reconciled (DESIGN §9, §10): the gateway fetches the biller's daily file, and
settlement's reconciliation matches it against the gateway's transactions of that day, parking
every difference in suspense for finance. A ``reversal`` row counts negative."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import FieldError, ValidationFailed
from gateway.scenarios.utilities.client import BillerPool
from gateway.scenarios.utilities.reconciliation import parse_file
from gateway.scenarios.utilities.service import biller_for
from gateway.settlement.models import ReconciliationFile
from gateway.settlement.reconciliation import FileLine, reconcile


async def reconcile_billing_day(
    session: AsyncSession, pool: BillerPool, biller_id: str, business_date: date
) -> ReconciliationFile:
    config = await biller_for(session, biller_id, biller_id)
    client = await pool.client_for(config)
    parsed = parse_file(await client.reconciliation_file(business_date))
    if not parsed.ok:
        raise ValidationFailed(
            "The biller's file has invalid lines.",
            errors=[FieldError(f"line {e.line}", e.code, e.message) for e in parsed.errors[:100]],
        )
    lines = [
        FileLine(r.reference, r.amount if r.type == "pay" else -r.amount, r.occurred_at)
        for r in parsed.rows
    ]
    return await reconcile(session, biller_id, "biller", business_date, lines)
