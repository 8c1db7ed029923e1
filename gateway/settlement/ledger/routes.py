from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import Provide
from litestar.params import FromQuery

from gateway.deps import DbSession, Staff
from gateway.errors import FieldError, ValidationFailed
from gateway.money import CURRENCY
from gateway.settlement.ledger import service
from gateway.staff.guards import require_role
from gateway.staff.models import Role


class AccountBalanceRead(msgspec.Struct):
    account: str
    balance: int


class TrialBalanceRead(msgspec.Struct):
    as_of: datetime
    accounts: list[AccountBalanceRead]
    total: int
    currency: str = CURRENCY


def _is_rfc3339_with_offset(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


@get(
    "/admin/v1/ledger/trial-balance",
    tags=["ledger"],
    summary="Trial balance: every non-zero ledger balance as of a moment; the total is 0",
    dependencies={"staff": Provide(require_role(Role.FINANCE, Role.AUDITOR))},
)
async def get_trial_balance(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff: Staff,
    as_of: FromQuery[datetime | None] = None,
) -> TrialBalanceRead:
    """Balances include entries that occurred up to and including ``as_of`` (default: now).

    The query decoder would also take a bare number as Unix seconds (``as_of=-1451472688`` was
    1924); the contract's timestamps are RFC 3339, so the raw text is checked."""
    if as_of is not None and not _is_rfc3339_with_offset(request.query_params.get("as_of", "")):
        raise ValidationFailed(
            "as_of is an RFC 3339 timestamp with its offset, e.g. 2026-11-22T16:00:00Z.",
            errors=[FieldError("as_of", "invalid", "not an RFC 3339 timestamp with an offset")],
        )
    report = await service.trial_balance(db_session, as_of.astimezone(UTC) if as_of else None)
    return TrialBalanceRead(
        as_of=report.as_of,
        accounts=[AccountBalanceRead(account=a, balance=b) for a, b in report.balances.items()],
        total=report.total,
    )
