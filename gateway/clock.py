"""Business time (DESIGN §3): business dates are Asia/Shanghai dates; a day closes at 24:00."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def business_date_of(moment: datetime) -> date:
    """The business date of a timezone-aware moment."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given for a business date")
    return moment.astimezone(SHANGHAI).date()
