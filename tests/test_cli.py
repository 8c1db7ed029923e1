"""The ``gateway`` command line."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from click.testing import CliRunner

from gateway.cli import main, render_openapi
from gateway.db import create_engine, session_factory
from gateway.settings import Settings
from gateway.staff.service import by_oidc_subject


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_SECRET_KEY": settings.secret_key or "",
        "GATEWAY_PII_KEY": settings.pii_key or "",
    }


def test_users_add_creates_a_user_once(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    args = [
        "users",
        "add",
        "alice",
        "--role",
        "ops_maker",
        "--role",
        "auditor",
        "--password",
        "long-enough-pw",
    ]
    first = runner.invoke(main, args, env=cli_env)
    assert first.exit_code == 0, first.output
    assert "created alice" in first.output
    again = runner.invoke(main, args, env=cli_env)
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_users_add_links_an_sso_subject(cli_env: dict[str, str], settings: Settings) -> None:
    args = ["users", "add", "carol", "--role", "risk_analyst", "--password", "long-enough-pw"]
    result = CliRunner().invoke(main, [*args, "--oidc-subject", "idp|carol"], env=cli_env)
    assert result.exit_code == 0, result.output

    async def subject() -> str | None:
        engine = create_engine(settings)
        try:
            async with session_factory(engine)() as session:
                user = await by_oidc_subject(session, "idp|carol")
                return None if user is None else user.username
        finally:
            await engine.dispose()

    assert asyncio.run(subject()) == "carol"


def test_users_add_rejects_unknown_role_and_short_password(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    bad_role = runner.invoke(
        main, ["users", "add", "bob", "--role", "king", "--password", "long-enough-pw"], env=cli_env
    )
    assert bad_role.exit_code == 1
    assert "roles must be among" in bad_role.output
    short = runner.invoke(
        main, ["users", "add", "bob", "--role", "finance", "--password", "short"], env=cli_env
    )
    assert short.exit_code == 1


def test_production_refuses_weak_secrets() -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["db", "upgrade"],
        env={"GATEWAY_ENV": "production", "GATEWAY_SECRET_KEY": "password", "GATEWAY_PII_KEY": "x"},
    )
    assert result.exit_code == 1
    assert "too weak" in result.output


def test_production_refuses_a_shifted_clock() -> None:
    strong = secrets.token_urlsafe(32)
    result = CliRunner().invoke(
        main,
        ["db", "upgrade"],
        env={
            "GATEWAY_ENV": "production",
            "GATEWAY_SECRET_KEY": strong,
            "GATEWAY_PII_KEY": strong,
            "GATEWAY_CLOCK_SHIFT_SECONDS": "3600",
        },
    )
    assert result.exit_code == 1
    assert "GATEWAY_CLOCK_SHIFT_SECONDS must be 0 in production" in result.output


def test_a_public_url_oauth_cannot_serve_is_refused_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Authlib refuses token requests to a plain-http URL (other than loopback); the gateway says
    so when it starts rather than answering every token request with a 500."""
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    runner = CliRunner()
    refused = runner.invoke(
        main, ["db", "upgrade"], env={"GATEWAY_PUBLIC_URL": "http://gateway.internal:8000"}
    )
    assert refused.exit_code == 1
    assert "GATEWAY_PUBLIC_URL must be https" in refused.output
    for url in ("https://gateway.example.com", "http://127.0.0.1:8000", "http://localhost:8000"):
        Settings(public_url=url)  # accepted


def test_openapi_export_is_deterministic(tmp_path: object) -> None:
    first = render_openapi()
    assert first == render_openapi()
    assert "/admin/v1/sessions" in json.loads(first)["paths"]
