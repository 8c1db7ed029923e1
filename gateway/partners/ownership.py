"""Object isolation: every partner-facing lookup goes through :func:`owned`.

A partner asking for another partner's object gets the same 404 as for an object that does not
exist, so ids cannot be probed (DESIGN §4).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

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
    obj = await session.get(model, object_id, with_for_update=for_update)
    owner: Any = getattr(obj, "partner_id", None)
    if obj is None or owner != partner_id:
        raise NotFound(f"No such {model.__name__.lower()}.")
    return obj
