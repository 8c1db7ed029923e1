"""Geometry of the channel dashboard's cohort heat map and acquisition chart.

The templates draw SVG from these plain numbers, so the charts need no front-end build or chart
library, are in the page as it is served (and in its screenshots), and their figures can be read
from the markup (``data-*`` attributes) by tests and assistive tools alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.channels.reports.service import AcquisitionRow, CohortRow
from gateway.console.i18n import N_

# The milestones of a cohort in the order customers reach them: the heat map's columns.
COHORT_STAGES = (
    ("activated", "activation_rate", N_("Activated")),
    ("effective", "effective_rate", N_("Effective")),
    ("retained_30d", "retention_30d_rate", N_("Retained 30 days")),
    ("retained_90d", "retention_90d_rate", N_("Retained 90 days")),
)
CELL_W, CELL_H = 120, 30
COHORT_LABEL = 150  # px for "2026-06 · 11" left of the cells
HEAD = 24  # px for the column titles

# One colour per channel in the stacked bars (cycled after eight), readable on white.
PALETTE = ("#0b4f8a", "#e07b00", "#2a9d8f", "#b42318", "#6a4c93", "#5c8001", "#c2185b", "#52606d")
PLOT_H = 200
BAR_W, BAR_GAP = 40, 20
AXIS_W, AXIS_H, TOP = 40, 44, 18


@dataclass(frozen=True, slots=True)
class Cell:
    cohort: str
    stage: str
    count: int
    rate: float | None
    x: int
    y: int
    fill: str
    dark: bool  # white text on a dark cell


@dataclass(frozen=True, slots=True)
class HeatMap:
    cells: list[Cell]
    rows: list[tuple[str, int, int]]  # cohort, its openings, y
    columns: list[tuple[str, int]]  # a stage's title and the x of its column
    width: int
    height: int
    cell_w: int = CELL_W
    cell_h: int = CELL_H
    label_w: int = COHORT_LABEL


def heat_fill(rate: float | None) -> str:
    """Darker blue for a larger share; grey when the cohort is empty."""
    if rate is None:
        return "#e4e7eb"
    return f"hsl(210, 65%, {round(96 - rate * 60)}%)"


def cohort_heat_map(rows: list[CohortRow]) -> HeatMap:
    cells, labels = [], []
    for i, row in enumerate(rows):
        y = HEAD + i * CELL_H
        labels.append((row.cohort, row.opened, y))
        for j, (count_field, rate_field, _) in enumerate(COHORT_STAGES):
            rate: float | None = getattr(row, rate_field)
            cells.append(
                Cell(
                    cohort=row.cohort,
                    stage=count_field,
                    count=int(getattr(row, count_field)),
                    rate=rate,
                    x=COHORT_LABEL + j * CELL_W,
                    y=y,
                    fill=heat_fill(rate),
                    dark=rate is not None and rate >= 0.5,
                )
            )
    columns = [(title, COHORT_LABEL + j * CELL_W) for j, (_, _, title) in enumerate(COHORT_STAGES)]
    width = COHORT_LABEL + len(COHORT_STAGES) * CELL_W + 2
    return HeatMap(cells, labels, columns, width, HEAD + len(rows) * CELL_H + 2)


@dataclass(frozen=True, slots=True)
class Segment:
    period: str
    key: str
    value: int
    x: int
    y: int
    height: int
    colour: str


@dataclass(frozen=True, slots=True)
class StackedBars:
    segments: list[Segment]
    periods: list[tuple[str, int, int, int]]  # period, total, x of its bar, y of its top
    legend: list[tuple[str, str]]  # channel, colour
    ticks: list[tuple[int, int]]  # value, y
    width: int
    height: int
    base: int  # y of the axis
    bar_w: int = BAR_W
    axis_w: int = AXIS_W


def acquisition_chart(rows: list[AcquisitionRow]) -> StackedBars:
    """One bar per period, stacked by channel, scaled to the busiest period."""
    periods = sorted({r.period for r in rows})
    keys = sorted({r.key or "—" for r in rows})
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    counts = {(r.period, r.key or "—"): r.opened for r in rows}
    totals = {p: sum(counts.get((p, k), 0) for k in keys) for p in periods}
    top = max(totals.values(), default=0) or 1
    base = TOP + PLOT_H
    segments, bars = [], []
    for i, period in enumerate(periods):
        x = AXIS_W + BAR_GAP + i * (BAR_W + BAR_GAP)
        y = base
        for key in keys:
            value = counts.get((period, key), 0)
            if not value:
                continue
            height = round(value * PLOT_H / top)
            y -= height
            segments.append(Segment(period, key, value, x, y, height, colours[key]))
        bars.append((period, totals[period], x, y))
    ticks = [(0, base), (top, TOP)]
    if top % 2 == 0 and top > 2:
        ticks.insert(1, (top // 2, base - PLOT_H // 2))
    width = AXIS_W + BAR_GAP + len(periods) * (BAR_W + BAR_GAP) + 40
    return StackedBars(
        segments, bars, list(colours.items()), ticks, max(width, 320), base + AXIS_H, base
    )
