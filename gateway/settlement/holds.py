"""Which transactions settlement must hold back (risk holds; wired when the risk engine lands)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.scenarios.models import Transaction


def held_transactions() -> SelectOfScalar[str]:
    return select(col(Transaction.id)).where(sa.false())
