"""The channel dashboard: the funnel of a scripted population as a table and as SVG bars, by
each grouping and date range, the CSV export, and who may read it."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar

from tests.channels.test_funnel import population  # noqa: F401  (the scripted population)
from tests.conftest import StaffFactory
from tests.console.support import Visitor

DASHBOARD = "/console/channels"


def _bars(html: str) -> dict[tuple[str, str], int]:
    found = re.findall(r'data-key="([^"]*)" data-stage="([^"]+)" data-value="(\d+)"', html)
    return {(key, stage): int(value) for key, stage, value in found}


def _widths(html: str) -> dict[tuple[str, str], int]:
    found = re.findall(r'width="(\d+)" height="12" data-key="([^"]*)" data-stage="([^"]+)"', html)
    return {(key, stage): int(width) for width, key, stage in found}


async def test_funnel_table_and_chart_by_grouping_and_dates(
    app: Litestar,
    staff: StaffFactory,
    population: Any,  # noqa: F811
) -> None:
    ids, pa, pb, pc = population
    await staff.create("cm-console", "channel_manager")
    await staff.create("ana-chan", "risk_analyst")
    async with Visitor(app) as cm:
        await cm.sign_in("cm-console")
        page = await cm.get(DASHBOARD)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "渠道漏斗" in page.text and '<svg id="funnel-chart"' in page.text
        bars = _bars(page.text)
        assert len(bars) == 3 * 5  # three partners, five stages
        assert [bars[(pa.partner_id, s)] for s in ("opened", "activated", "effective")] == [5, 4, 2]
        assert bars[(pa.partner_id, "retained_30d")] == 2
        assert bars[(pb.partner_id, "effective")] == 3
        assert bars[(pc.partner_id, "effective")] == 2
        widths = _widths(page.text)
        assert widths[(pa.partner_id, "opened")] == 520  # the largest bar fills the plot
        assert widths[(pb.partner_id, "opened")] == 312  # 3 of 5
        assert widths[(pa.partner_id, "retained_90d")] == 104  # 1 of 5
        row = page.text.split(f'<th scope="row">{pa.partner_id}</th>')[1].split("</tr>")[0]
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert cells == ["5", "4", "2", "2", "1", "1", "1", "40.00", "20.00", "10.00"]

        by_sub = await cm.get(f"{DASHBOARD}?group_by=sub_channel", headers={"HX-Request": "true"})
        assert "<html" not in by_sub.text
        bars = _bars(by_sub.text)
        assert {k for k, _ in bars} == {"c1", "c2", "s1", "m1"}
        assert (bars[("c1", "opened")], bars[("c1", "effective")]) == (3, 1)

        by_campaign = _bars((await cm.get(f"{DASHBOARD}?group_by=campaign")).text)
        assert by_campaign[(ids["campaign"], "opened")] == 2 and by_campaign[("—", "opened")] == 9

        week = await cm.get(f"{DASHBOARD}?group_by=partner&from=2026-06-08&to=2026-06-14")
        assert _bars(week.text) == {
            (pa.partner_id, "opened"): 2,
            (pa.partner_id, "activated"): 1,
            (pa.partner_id, "effective"): 0,
            (pa.partner_id, "retained_30d"): 1,
            (pa.partner_id, "retained_90d"): 0,
        }
        assert 'value="2026-06-08"' in week.text
        empty = await cm.get(f"{DASHBOARD}?from=2027-01-01&to=2027-01-31")
        assert "<svg id" not in empty.text and "没有在此期间开立的客户" in empty.text
        blank = await cm.get(f"{DASHBOARD}?group_by=partner&from=&to=")  # as the form sends it
        assert len(_bars(blank.text)) == 15
        assert (await cm.get(f"{DASHBOARD}?from=June")).status_code == 422
        backwards = await cm.get(f"{DASHBOARD}?from=2026-06-09&to=2026-06-01")
        assert backwards.status_code == 422

        csv = await cm.get(f"{DASHBOARD}?group_by=scenario&format=csv")
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.strip().splitlines()[1].startswith("community,11,10,7,2,1,1,1,")

    async with Visitor(app) as ana:
        await ana.sign_in("ana-chan")
        assert (await ana.get(DASHBOARD)).status_code == 403


def _cells(html: str) -> dict[tuple[str, str], tuple[int, str]]:
    found = re.findall(
        r'data-cohort="([^"]+)" data-stage="([^"]+)" data-count="(\d+)" data-rate="([^"]*)"', html
    )
    return {(cohort, stage): (int(count), rate) for cohort, stage, count, rate in found}


def _segments(html: str) -> dict[tuple[str, str], tuple[int, int]]:
    found = re.findall(
        r'height="(\d+)" fill="[^"]+" data-period="([^"]+)" data-key="([^"]*)" '
        r'data-value="(\d+)"',
        html,
    )
    return {(period, key): (int(value), int(h)) for h, period, key, value in found}


async def test_cohort_heat_map_and_acquisition_chart_with_their_csv(
    app: Litestar,
    staff: StaffFactory,
    population: Any,  # noqa: F811
) -> None:
    _, pa, pb, pc = population
    await staff.create("cm-charts", "channel_manager")
    async with Visitor(app) as cm:
        await cm.sign_in("cm-charts")
        page = await cm.get(DASHBOARD)
        assert "按开户月份的客户群" in page.text and "获客趋势" in page.text
        # June 2026: 11 opened, 10 activated, 7 effective, 2 retained 30 days, 1 retained 90
        assert _cells(page.text) == {
            ("2026-06", "activated"): (10, "0.9091"),
            ("2026-06", "effective"): (7, "0.6364"),
            ("2026-06", "retained_30d"): (2, "0.1818"),
            ("2026-06", "retained_90d"): (1, "0.0909"),
        }
        assert "90.9%" in page.text and "9.1%" in page.text and "2026-06 · 开户 11 人" in page.text
        # week of 1 June: three openings at each partner; week of 8 June: two at A
        segments = _segments(page.text)
        assert segments == {
            ("2026-06-01", pa.partner_id): (3, 67),
            ("2026-06-01", pb.partner_id): (3, 67),
            ("2026-06-01", pc.partner_id): (3, 67),
            ("2026-06-08", pa.partner_id): (2, 44),
        }
        assert re.search(r'data-total="2026-06-01">9<', page.text)
        assert re.search(r'data-total="2026-06-08">2<', page.text)

        # one bar for June stacked by sub-channel: its 11 openings fill the plot's 200 px
        by_month = await cm.get(f"{DASHBOARD}?group_by=sub_channel&period=month")
        assert _segments(by_month.text) == {
            ("2026-06", "c1"): (3, 55),
            ("2026-06", "c2"): (2, 36),
            ("2026-06", "m1"): (3, 55),
            ("2026-06", "s1"): (3, 55),
        }
        week = _cells((await cm.get(f"{DASHBOARD}?from=2026-06-08&to=2026-06-14")).text)
        assert week[("2026-06", "activated")] == (1, "0.5")
        assert (await cm.get(f"{DASHBOARD}?period=day")).status_code == 422

        cohorts = await cm.get(f"{DASHBOARD}/cohorts.csv?from=&to=")
        assert cohorts.headers["content-type"].startswith("text/csv")
        lines = cohorts.text.strip().splitlines()
        assert lines[0].startswith("cohort,opened,activated,effective")
        assert lines[1].startswith("2026-06,11,10,7,2,1,")
        acquired = await cm.get(f"{DASHBOARD}/acquisition.csv?group_by=partner&period=week")
        assert acquired.text.strip().splitlines() == [
            "period,key,opened",
            *sorted(f"2026-06-01,{p.partner_id},3" for p in (pa, pb, pc)),
            f"2026-06-08,{pa.partner_id},2",
        ]
        assert 'href="/console/channels/acquisition.csv?group_by=partner&amp;period=week' in (
            page.text
        )
    async with Visitor(app) as outsider:
        await staff.create("ana-charts", "risk_analyst")
        await outsider.sign_in("ana-charts")
        assert (await outsider.get(f"{DASHBOARD}/cohorts.csv")).status_code == 403
