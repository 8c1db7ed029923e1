"""Business time (DESIGN §3): business dates are Asia/Shanghai dates; a day closes at 24:00."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_offset: ContextVar[timedelta] = ContextVar("clock_offset", default=timedelta(0))
_shift = timedelta(0)  # the whole process's, from GATEWAY_CLOCK_SHIFT_SECONDS


def now() -> datetime:
    """The current UTC moment, as the code running in this context sees it."""
    return datetime.now(UTC) + _shift + _offset.get()


def shift_process(seconds: int) -> None:
    """Run this whole process's business time ``seconds`` ahead of the wall clock (behind when
    negative); ``GATEWAY_CLOCK_SHIFT_SECONDS``, applied by every server and worker at start.

    Benchmarks use it to run at the same hour of the Shanghai day whenever they are started, so
    time-of-day rules (``night_burst``) meet the same traffic each time. Only business time
    moves: token lifetimes and the signature window keep the wall clock partners sign with.
    """
    global _shift  # noqa: PLW0603  (one value per process, set at start)
    _shift = timedelta(seconds=seconds)


@contextmanager
def travelled_to(moment: datetime) -> Iterator[None]:
    """Run as if it were ``moment``: only code in this context (and tasks it starts) sees the
    shifted clock. The demo replays a month this way; the only other shift is the whole
    process's (:func:`shift_process`), and the travel lands on ``moment`` whatever it is."""
    token = _offset.set(moment - datetime.now(UTC) - _shift)
    try:
        yield
    finally:
        _offset.reset(token)


def business_date_of(moment: datetime) -> date:
    """The business date of a timezone-aware moment."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given for a business date")
    return moment.astimezone(SHANGHAI).date()
