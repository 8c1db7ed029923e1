"""The partner guide's example, run as a partner would run it, against a real server process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import LiveServer
from tests.factories import keypair
from tests.partners.support import application_body

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "partners" / "example_client.py"
PASSWORD = "e2e-long-password"


def test_example_client_gets_a_token_and_signs_calls(
    live_server: LiveServer, tmp_path: Path
) -> None:
    live_server.cli("users", "add", "maker", "--role", "ops_maker", "--password", PASSWORD)
    live_server.cli("users", "add", "checker", "--role", "ops_checker", "--password", PASSWORD)
    private, public = keypair("ed25519", kid="partner-key-1")
    with httpx.Client(base_url=live_server.url) as http:
        app_id = http.post("/v1/partner-applications", json=application_body(public)).json()["id"]

        def staff(name: str) -> dict[str, str]:
            token = http.post(
                "/admin/v1/sessions", json={"username": name, "password": PASSWORD}
            ).json()["token"]
            return {"Authorization": f"Bearer {token}"}

        http.post(
            f"/admin/v1/partner-applications/{app_id}/review",
            json={"recommendation": "approve"},
            headers=staff("maker"),
        ).raise_for_status()
        creds = http.post(
            f"/admin/v1/partner-applications/{app_id}/approve", json={}, headers=staff("checker")
        )
        creds.raise_for_status()

    key_file = tmp_path / "private.jwk.json"
    key_file.write_text(json.dumps(private))
    env = {
        **live_server.env,
        "GATEWAY_URL": live_server.url,
        "PARTNER_CLIENT_ID": creds.json()["client_id"],
        "PARTNER_PRIVATE_JWK": str(key_file),
        "PARTNER_WEBHOOK_URL": "http://localhost:9/hooks",
    }
    run = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert creds.json()["partner_id"] in run.stdout
    assert "webhook: http://localhost:9/hooks" in run.stdout
