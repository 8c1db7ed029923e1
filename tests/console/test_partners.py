"""Partners in the console: lifecycle actions by checkers, visible in the audit log."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory
from tests.console.support import Visitor
from tests.partners.support import onboard


async def test_suspend_reactivate_terminate_and_audit(
    app: Litestar, client: Any, staff: StaffFactory
) -> None:
    partner = await onboard(client, staff)
    await staff.create("chk2", "ops_checker", "auditor")
    await staff.create("mk2", "ops_maker")
    path = f"/console/partners/{partner.partner_id}"
    async with Visitor(app) as chk, Visitor(app) as mk:
        await mk.sign_in("mk2")
        page = await mk.get(path)
        assert "community" not in page.text or "社区物业" in page.text
        assert f"{path}/suspend" not in page.text  # makers see no lifecycle actions
        assert (await mk.submit(f"{path}/suspend", reason="x")).status_code == 403

        await chk.sign_in("chk2")
        page = await chk.get(path)
        assert "scenario:community" in page.text
        suspended = await chk.submit(f"{path}/suspend", reason="风险排查")
        assert suspended.status_code == 303
        page = await chk.get(path)
        assert "已暂停" in page.text
        assert "风险排查" in page.text
        assert (await chk.submit(f"{path}/reactivate")).status_code == 303
        rotated = await chk.submit(f"{path}/rotate-secret")
        assert rotated.status_code == 200
        assert partner.client_id in rotated.text
        assert (await chk.submit(f"{path}/terminate", reason="合作结束")).status_code == 303
        assert (await chk.submit(f"{path}/reactivate")).status_code == 409

        log = await chk.get(f"/console/audit?subject_id={partner.partner_id}")
        for action in ("partner.suspended", "partner.active", "partner.terminated"):
            assert action in log.text
        only = await chk.get("/console/audit?action=partner.terminated&actor=staff:chk2")
        assert "partner.suspended" not in only.text
        assert "partner.terminated" in only.text
        bad_day = await chk.get("/console/audit?from=yesterday")
        assert bad_day.status_code == 422
        today = await chk.get("/console/audit?from=2000-01-01&to=2000-01-02")
        assert "partner.terminated" not in today.text
