"""Typed settings read from ``GATEWAY_*`` environment variables (DESIGN §13).

In development the two secrets are generated once into a local key file so a newcomer needs no
configuration; in production they must come from the environment and must be strong.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from authlib.common.security import is_secure_transport
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
DEFAULT_BODY_LIMIT = 10 * 1024 * 1024
DEFAULT_BATCH_BODY_LIMIT = 64 * 1024 * 1024


class SettingsError(ValueError):
    """Raised when the configuration cannot be used (e.g. weak secrets in production)."""


def _decode_secret(value: str) -> bytes:
    """Accept a base64/base64url secret; anything else is taken as raw UTF-8 bytes."""
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (ValueError, TypeError):
        return value.encode()


def _is_weak(raw: bytes) -> bool:
    return len(raw) < MIN_SECRET_BYTES or len(set(raw)) < MIN_SECRET_BYTES // 2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./gateway.db"
    public_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    core_banking_url: str | None = None
    secret_key: str | None = None
    pii_key: str | None = None
    key_file: Path = Path(".gateway-keys.json")
    log_format: Literal["json", "console"] | None = None
    log_level: str = "INFO"

    body_limit: int = DEFAULT_BODY_LIMIT
    batch_body_limit: int = DEFAULT_BATCH_BODY_LIMIT
    # Rows a batch step screens, then opens as a set (one look-up, one core call, one insert per
    # table); ADR 0013, 0024.
    batch_chunk_size: int = Field(default=2000, ge=1, le=5000)
    # Transactions that open a batch step's screened rows side by side, on PostgreSQL (ADR 0024).
    batch_openers: int = Field(default=2, ge=1, le=16)
    db_pool_size: int = 20
    # Ping every pooled connection before use: one more round trip on every checkout (12% of the
    # signed read's CPU, docs/performance.md). Off by default: a connection found dead fails its
    # one request and SQLAlchemy then renews the whole pool; turn it on where a proxy or firewall
    # silently drops idle connections.
    db_pool_pre_ping: bool = False
    db_pool_recycle_seconds: int = 1800
    # How long each process may reuse a partner's status, rate limit and keys (ADR 0006);
    # changes committed by this process apply at once. 0 reads them on every call.
    partner_cache_seconds: float = Field(default=2.0, ge=0, le=60)

    workers_in_process: bool = True
    job_lease_seconds: int = 60
    job_poll_seconds: float = 0.5
    # Asia/Shanghai wall time of the scheduled settlement run for the previous business date.
    settlement_daily_at: time = time(1, 0)
    # Asia/Shanghai wall time of the daily purge of expired nonces and idempotency keys and of
    # succeeded jobs older than job_retention_days (gateway/ops/housekeeping.py).
    housekeeping_at: time = time(3, 30)
    job_retention_days: int = Field(default=14, ge=1)

    staff_token_ttl_seconds: int = 8 * 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 300

    # Console single sign-on (OpenID Connect, authorization code + PKCE); on when all three of
    # issuer, client id and client secret are set. The redirect defaults to the public URL's
    # ``/console/login/oidc/callback``, which is what the identity provider must allow.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = None

    ssrf_allowlist: list[str] = Field(default_factory=list)

    # Business time this many seconds ahead of the wall clock, in every server and worker
    # (gateway.clock.shift_process): benchmarks pin the hour of day with it. Refused in production.
    clock_shift_seconds: int = 0

    @model_validator(mode="after")
    def _check_public_url(self) -> Settings:
        """Partners' token requests go to this URL, and OAuth 2 needs https: Authlib refuses any
        other URL except loopback (or with ``AUTHLIB_INSECURE_TRANSPORT`` set, for a development
        network). Refused here at startup rather than on every token request."""
        if not is_secure_transport(self.public_url.rstrip("/") + "/v1/oauth/token"):
            raise SettingsError(
                "GATEWAY_PUBLIC_URL must be https (or a loopback http URL for local development)"
            )
        return self

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.env == "production":
            if self.clock_shift_seconds:
                raise SettingsError("GATEWAY_CLOCK_SHIFT_SECONDS must be 0 in production")
            for name in ("secret_key", "pii_key"):
                value = getattr(self, name)
                if not value:
                    raise SettingsError(f"GATEWAY_{name.upper()} is required in production")
                if _is_weak(_decode_secret(value)):
                    raise SettingsError(
                        f"GATEWAY_{name.upper()} is too weak: use at least "
                        f"{MIN_SECRET_BYTES} random bytes, base64-encoded"
                    )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @property
    def oidc_redirect(self) -> str:
        return (
            self.oidc_redirect_url or self.public_url.rstrip("/") + "/console/login/oidc/callback"
        )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_log_format(self) -> Literal["json", "console"]:
        if self.log_format:
            return self.log_format
        return "json" if self.is_production else "console"

    @cached_property
    def secret_key_bytes(self) -> bytes:
        return self._secret("secret_key")

    @cached_property
    def pii_key_bytes(self) -> bytes:
        return self._secret("pii_key")

    def _secret(self, name: Literal["secret_key", "pii_key"]) -> bytes:
        value = getattr(self, name)
        if value:
            return _decode_secret(value)
        return _dev_keys(self.key_file)[name]


def _dev_keys(path: Path) -> dict[str, bytes]:
    """Read (or create once) the development key file; never used in production."""
    if not path.exists():
        keys = {
            n: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            for n in ("secret_key", "pii_key")
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(keys, fh)
    stored = json.loads(path.read_text())
    return {name: _decode_secret(stored[name]) for name in ("secret_key", "pii_key")}


def get_settings() -> Settings:
    return Settings()
