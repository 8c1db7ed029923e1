"""Finance in the console: run a day's settlement, see the payout, work reconciliation
exceptions with a note; auditors read, others are kept out."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory, run_jobs
from tests.console.support import Visitor
from tests.settlement.test_settlement import _day_of_payments, today


async def test_finance_runs_settlement_and_resolves_exceptions(
    app: Litestar, client: Any, staff: StaffFactory, sessions: Any
) -> None:
    partner, first = await _day_of_payments(client, app, staff, sessions)
    await staff.create("fin-console", "finance")
    await staff.create("aud-console", "auditor")
    await staff.create("ops-console", "ops_maker")
    async with Visitor(app) as fin, Visitor(app) as aud, Visitor(app) as ops:
        await fin.sign_in("fin-console")
        await fin.get("/console/settlements")
        ran = await fin.submit("/console/settlements/run", business_date=today())
        assert ran.status_code == 303
        await run_jobs(app)
        listed = await fin.get(f"/console/settlements?business_date={today()}")
        assert "536.71" in listed.text and "已付款" in listed.text

        body = f"reference,amount,occurred_at\nNOT-OURS,500,{today()}T10:00:00+08:00\n"
        sent = await partner.call(
            "POST",
            f"/v1/reconciliation-files?business_date={today()}",
            body.encode(),
            content_type="text/csv",
        )
        assert sent.status_code == 201, sent.text
        queue = await fin.get("/console/reconciliation")
        assert "NOT-OURS" in queue.text and "短款" in queue.text
        assert first in queue.text  # the day's transactions missing from the file: bank only

        await aud.sign_in("aud-console")
        read_only = await aud.get("/console/reconciliation")
        assert "NOT-OURS" in read_only.text and "/resolve" not in read_only.text

        exception_id = queue.text.split("/console/reconciliation/")[1].split("/resolve")[0]
        refused = await aud.submit(f"/console/reconciliation/{exception_id}/resolve", note="x")
        assert refused.status_code == 403
        done = await fin.submit(
            f"/console/reconciliation/{exception_id}/resolve", note="partner file corrected"
        )
        assert done.status_code == 303
        resolved = await fin.get("/console/reconciliation?status=resolved")
        assert "partner file corrected" in resolved.text

        await ops.sign_in("ops-console")
        assert (await ops.get("/console/settlements")).status_code == 403
