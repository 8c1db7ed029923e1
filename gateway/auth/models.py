from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class UsedNonce(SQLModel, table=True):
    """Single-use values (signature nonces, client-assertion ``jti``) until they expire.

    ``scope`` namespaces them: ``sig:<partner_id>`` for signature nonces, ``jti:<client_id>`` for
    client assertions. The primary key makes "first use wins" a database invariant across replicas.
    """

    __tablename__ = "used_nonces"

    scope: str = Field(primary_key=True, max_length=120)
    nonce: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class GatewaySigningKey(SQLModel, table=True):
    """The gateway's own signing keys (access tokens, webhooks), published in its JWKS.

    ``private_jwk`` is sealed with the PII vault. Rotation: a ``next`` key is published before it
    becomes ``active``; ``retired`` keys stay published until tokens signed with them expire.
    """

    __tablename__ = "gateway_signing_keys"

    kid: str = Field(primary_key=True, max_length=80)
    status: str = Field(max_length=16, index=True)
    public_jwk: dict[str, Any] = Field(sa_type=sa.JSON)
    private_jwk: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
