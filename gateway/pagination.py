"""Cursor pagination (DESIGN §3): ``?limit=`` (default 50, max 500) and ``?cursor=``.

Ids are time-sortable, so a page is "rows after this id in id order"; the cursor is the last id
of the page, base64url-encoded so clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, Generic, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from gateway.errors import FieldError, ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    data: list[T]
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            errors=[FieldError("cursor", "invalid", "unknown cursor")],
        ) from e
    if not raw or not raw.isascii():
        raise ValidationFailed(errors=[FieldError("cursor", "invalid", "unknown cursor")])
    return raw


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            errors=[FieldError("limit", "out_of_range", f"limit must be between 1 and {MAX_LIMIT}")]
        )
    return limit


async def paginate(
    session: AsyncSession,
    stmt: sa.Select[Any],
    order_column: Mapped[Any],
    *,
    limit: int,
    cursor: str | None,
    key: Callable[[Any], str | int] = attrgetter("id"),
) -> tuple[Sequence[Any], str | None]:
    """Run ``stmt`` ordered by ``order_column`` (a unique id or row number) and return one page.

    ``key`` reads the ordering value from a row; integer keys (row numbers) round-trip as ints.
    """
    check_limit(limit)
    if cursor:
        after = decode_cursor(cursor)
        if sa.inspect(order_column).type.python_type is int:
            if not after.isdigit():
                raise ValidationFailed(errors=[FieldError("cursor", "invalid", "unknown cursor")])
            stmt = stmt.where(order_column > int(after))
        else:
            stmt = stmt.where(order_column > after)
    rows = (await session.scalars(stmt.order_by(order_column).limit(limit + 1))).all()
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(str(key(rows[-1])))
    return rows, None
