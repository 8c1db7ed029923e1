"""The gateway's own signing keys: access tokens and webhook signatures, published as a JWKS.

Keys live in the database (private half sealed with the PII vault) so every replica signs with the
same key and verifies tokens any replica issued. Each process loads the key ring at start-up; a
new key is published (status ``next``) before it becomes ``active`` so verifiers see it first;
statuses: ``next`` → ``active`` → ``published`` → ``retired`` (only the last is unpublished).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import KeySet, OKPKey
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.auth.models import GatewaySigningKey
from gateway.db import utcnow
from gateway.pii import PiiVault

ALGORITHM = "Ed25519"
_SEAL_CONTEXT = "gateway_signing_keys.private_jwk"
# pg_advisory_xact_lock key serialising the first start of a deployment ("gatewayk" in ASCII).
_FIRST_KEY_LOCK = 0x676174657761796B


@dataclass(frozen=True)
class KeyRing:
    """The active private key plus every published public key."""

    kid: str
    private: OKPKey
    public: KeySet

    def jwks(self) -> dict[str, Any]:
        return dict(self.public.as_dict(private=False))

    def private_jwk(self) -> dict[str, Any]:
        return {**self.private.as_dict(private=True), "kid": self.kid}


def _new_key(vault: PiiVault, status: str) -> GatewaySigningKey:
    key = OKPKey.generate_key("Ed25519", parameters={"use": "sig", "alg": ALGORITHM})
    kid = key.thumbprint()
    return GatewaySigningKey(
        kid=kid,
        status=status,
        public_jwk={**key.as_dict(private=False), "kid": kid},
        private_jwk=vault.encrypt(json.dumps(key.as_dict(private=True)), context=_SEAL_CONTEXT),
        activated_at=utcnow() if status == "active" else None,
    )


async def load_key_ring(session: AsyncSession, vault: PiiVault) -> KeyRing:
    """Load the ring, creating the first key when there is none (first start of a deployment).

    Replicas and workers that start together on a fresh PostgreSQL database would each create a
    key of their own, sign with it and publish only it (a token from one replica was refused by
    another); a transaction-scoped advisory lock makes the later starters wait for the first key
    and load it. The caller's commit releases the lock. SQLite's single writer already refuses a
    second concurrent first key.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIRST_KEY_LOCK)))
    rows = list(
        (
            await session.scalars(
                select(GatewaySigningKey).where(col(GatewaySigningKey.status) != "retired")
            )
        ).all()
    )
    if not any(r.status == "active" for r in rows):
        first = _new_key(vault, "active")
        session.add(first)
        await session.flush()
        rows.append(first)
    active = max(
        (r for r in rows if r.status == "active"), key=lambda r: r.activated_at or r.created_at
    )
    private = OKPKey.import_key(
        json.loads(vault.decrypt(active.private_jwk, context=_SEAL_CONTEXT))
    )
    public = KeySet([OKPKey.import_key(r.public_jwk) for r in rows])
    return KeyRing(kid=active.kid, private=private, public=public)


async def rotate(session: AsyncSession, vault: PiiVault) -> str:
    """Publish a new key as ``next``, or promote an existing ``next`` to ``active``.

    Run it once, wait longer than caches of the JWKS live, run it again: the old active key becomes
    ``published`` (still verifiable) until an operator retires it after its tokens expired (15 min).
    """
    pending = await session.scalar(
        select(GatewaySigningKey).where(col(GatewaySigningKey.status) == "next")
    )
    if pending is None:
        key = _new_key(vault, "next")
        session.add(key)
        await session.flush()
        return key.kid
    await session.execute(
        sa.update(GatewaySigningKey)
        .where(col(GatewaySigningKey.status) == "active")
        .values(status="published")
    )
    pending.status = "active"
    pending.activated_at = utcnow()
    await session.flush()
    return pending.kid
