"""Report shapes (DESIGN §7): each report's rows are the service's rows as they are (one
declaration of the contract's fields, shared with the CSV), inside the report's envelope."""

from __future__ import annotations

import msgspec

from gateway.channels.reports.service import CohortRow, ConversionRow, FunnelRow


class FunnelReport(msgspec.Struct):
    group_by: str
    date_from: str | None = msgspec.field(name="from")
    date_to: str | None = msgspec.field(name="to")
    data: list[FunnelRow]
    currency: str = "CNY"


class CohortReport(msgspec.Struct):
    period: str
    data: list[CohortRow]


class ConversionReport(msgspec.Struct):
    group_by: str
    data: list[ConversionRow]
