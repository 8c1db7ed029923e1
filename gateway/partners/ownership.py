"""Object isolation: every partner-facing lookup goes through :func:`owned`.

A partner asking for another partner's object gets the same 404 as for an object that does not
exist, so ids cannot be probed (DESIGN §4).
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.db import table_of
from gateway.errors import NotFound

M = TypeVar("M", bound=SQLModel)


async def owned(
    session: AsyncSession,
    model: type[M],
    object_id: str,
    partner_id: str,
    *,
    for_update: bool = False,
) -> M:
    """Load ``model`` by id if it belongs to ``partner_id`` (its ``partner_id`` column)."""
    stmt = _by_id(model)
    obj: M | None = await session.scalar(
        stmt.with_for_update() if for_update else stmt, {"id": object_id}
    )
    owner: Any = getattr(obj, "partner_id", None)
    if obj is None or owner != partner_id:
        raise NotFound(f"No such {model.__name__.lower()}.")
    return obj


@functools.cache
def _by_id(model: type[M]) -> SelectOfScalar[M]:
    """``SELECT … WHERE id = :id``, built once per model: every partner call that names an object
    loads it here, and ``session.get`` builds its statement on every call."""
    return select(model).where(table_of(model).c.id == sa.bindparam("id"))
