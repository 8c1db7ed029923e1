"""Finance's side of utilities: reconcile a biller's day from the biller's own file."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, post
from litestar.di import Provide
from litestar.params import JSONBody

from gateway.deps import DbSession, Staff
from gateway.scenarios.utilities.billing_day import reconcile_billing_day
from gateway.scenarios.utilities.client import pool_of
from gateway.schemas import Strict
from gateway.settlement.routes import reconciliation_read
from gateway.settlement.schemas import ReconciliationRead
from gateway.staff.guards import require_role
from gateway.staff.models import Role


class BillerDayCreate(Strict):
    biller_id: str
    business_date: date


@post(
    "/admin/v1/reconciliation/biller-files",
    tags=["settlement"],
    status_code=201,
    summary="Fetch a utility biller's daily file and match it against the gateway's day",
    dependencies={"staff": Provide(require_role(Role.FINANCE))},
)
async def reconcile_biller_file(
    request: Request[Any, Any, Any],
    data: JSONBody[BillerDayCreate],
    db_session: DbSession,
    staff: Staff,
) -> ReconciliationRead:
    pool = pool_of(request.app.state.services)
    file = await reconcile_billing_day(db_session, pool, data.biller_id, data.business_date)
    return reconciliation_read(file)


ADMIN_ROUTES = [reconcile_biller_file]
