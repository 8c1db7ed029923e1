"""`gateway accounts import`: an ops-assisted upload opened with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from gateway.cli import main
from gateway.settings import Settings
from tests.conftest import StaffFactory
from tests.customers.support import people
from tests.partners.support import onboard


async def test_import_opens_the_file(
    client: Any, staff: StaffFactory, settings: Settings, tmp_path: Path
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    rows = people(90, 3)
    lines = ["external_ref,name,id_number,phone"] + [
        f"{r['external_ref']},{r['name']},{r['id_number']},{r['phone']}" for r in rows
    ]
    lines.append("bad-1,张三,110105199003070000,13800138000")
    file = tmp_path / "owners.csv"
    file.write_text("\n".join(lines), encoding="utf-8")
    env = {
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_SECRET_KEY": settings.secret_key or "",
        "GATEWAY_PII_KEY": settings.pii_key or "",
    }
    args = [
        "accounts",
        "import",
        str(file),
        "--partner",
        partner.partner_id,
        "--scenario",
        "community",
    ]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "completed_with_errors: 3 opened, 0 existing, 1 rejected" in result.output

    refused = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        [*args[:3], "--partner", partner.partner_id, "--scenario", "fuel"],
        env=env,
    )
    assert refused.exit_code == 1
    assert "scenario_not_granted" in refused.output
