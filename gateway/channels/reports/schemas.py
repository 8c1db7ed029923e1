"""Report shapes (DESIGN §7): funnel rows carry exactly the contract's fields."""

from __future__ import annotations

import msgspec


class FunnelRowRead(msgspec.Struct):
    key: str | None
    opened: int
    activated: int
    effective: int
    retained_30d: int
    retained_90d: int
    referred: int
    flagged: int
    incentive_accrued: int
    incentive_clawed_back: int
    cost_per_effective: int | None


class FunnelReport(msgspec.Struct):
    group_by: str
    date_from: str | None = msgspec.field(name="from")
    date_to: str | None = msgspec.field(name="to")
    data: list[FunnelRowRead]
    currency: str = "CNY"


class CohortRowRead(msgspec.Struct):
    cohort: str
    opened: int
    activated: int
    effective: int
    retained_30d: int
    retained_90d: int
    referred: int
    activation_rate: float | None
    effective_rate: float | None
    retention_30d_rate: float | None
    retention_90d_rate: float | None


class CohortReport(msgspec.Struct):
    period: str
    data: list[CohortRowRead]


class ConversionRowRead(msgspec.Struct):
    key: str | None
    opened: int
    activated: int
    effective: int
    retained_30d: int
    retained_90d: int
    referring: int
    opened_to_activated: float | None
    activated_to_effective: float | None
    effective_to_retained_30d: float | None
    retained_30d_to_retained_90d: float | None
    retained_90d_to_referring: float | None


class ConversionReport(msgspec.Struct):
    group_by: str
    data: list[ConversionRowRead]
