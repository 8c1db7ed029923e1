"""Business time (DESIGN §3): business dates are Asia/Shanghai dates; a day closes at 24:00."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_offset: ContextVar[timedelta] = ContextVar("clock_offset", default=timedelta(0))


def now() -> datetime:
    """The current UTC moment, as the code running in this context sees it."""
    return datetime.now(UTC) + _offset.get()


@contextmanager
def travelled_to(moment: datetime) -> Iterator[None]:
    """Run as if it were ``moment``: only code in this context (and tasks it starts) sees the
    shifted clock. The demo replays a month this way; nothing else shifts time."""
    token = _offset.set(moment - datetime.now(UTC))
    try:
        yield
    finally:
        _offset.reset(token)


def business_date_of(moment: datetime) -> date:
    """The business date of a timezone-aware moment."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given for a business date")
    return moment.astimezone(SHANGHAI).date()
