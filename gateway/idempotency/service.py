"""Idempotency keys (DESIGN §4), stored in the database so they hold across replicas.

``begin`` reserves the key in its own short transaction (so a concurrent duplicate sees it at once
and gets 409); the handler's effects and the stored response then commit together in the request's
transaction (``complete``), so a crash can never leave an effect without its replayable response.
A reservation whose request died is taken over after its lease; a failed request releases its key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col, select

from gateway.db import UTCDateTime, table_of, utcnow
from gateway.errors import BadRequest, BusinessRuleViolation, Conflict
from gateway.idempotency.models import IdempotencyRecord
from gateway.ids import new_id

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
LEASE = timedelta(seconds=60)
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True, slots=True)
class Reservation:
    record_id: str
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class IdempotentReplay(Exception):
    """Raised before the handler runs when the stored response should be sent again."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


def check_key(value: str | None) -> str:
    if value is None:
        raise BadRequest(
            "Send an Idempotency-Key header with this request.", code="idempotency_key_missing"
        )
    if not _VALID_KEY.match(value):
        raise BadRequest(
            "The Idempotency-Key must be 1-255 visible ASCII characters.",
            code="idempotency_key_invalid",
        )
    return value


def money_reference(kind: str, partner_id: str, key: str) -> str:
    """The core-banking reference of the money a partner request moves: the same for every
    retry under one Idempotency-Key (so the core answers the first outcome), and short whatever
    the key's length, since core and transaction references are bounded (a key may be 255)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{kind}:{partner_id}:{digest}"


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}?{query}\n".encode())
    digest.update(body)
    return digest.hexdigest()


_RECORDS = table_of(IdempotencyRecord)
_RESERVE = sa.insert(_RECORDS)
# Built once, as _RESERVE: every signed POST stores its response (docs/performance.md).
_COMPLETE = (
    sa.update(_RECORDS)
    .where(
        _RECORDS.c.id == sa.bindparam("record"),
        _RECORDS.c.status == "in_flight",
        _RECORDS.c.locked_until == sa.bindparam("lease", type_=UTCDateTime()),
    )
    .values(
        status="completed",
        locked_until=None,
        response_status=sa.bindparam("response_status"),
        response_headers=sa.bindparam("response_headers"),
        response_body=sa.bindparam("response_body"),
    )
)


async def begin(
    sessions: async_sessionmaker[AsyncSession],
    autocommit_engine: AsyncEngine,
    partner_id: str,
    key: str,
    print_: str,
) -> Reservation:
    """Reserve ``key`` for this request, or raise replay / reuse / in-flight outcomes.

    The reservation is one INSERT on an autocommit connection (the common case, on every signed
    POST); only a key already on record takes the session path below.
    """
    for _ in range(3):
        now = utcnow()
        lease_until = now + LEASE
        record_id = new_id("idk")
        try:
            async with autocommit_engine.connect() as conn:
                await conn.execute(
                    _RESERVE,
                    {
                        "id": record_id,
                        "partner_id": partner_id,
                        "key": key,
                        "fingerprint": print_,
                        "status": "in_flight",
                        "locked_until": lease_until,
                        "created_at": now,
                        "expires_at": now + RETENTION,
                    },
                )
        except IntegrityError:
            pass
        else:
            return Reservation(record_id, lease_until)
        async with sessions() as session:
            existing = await session.scalar(
                select(IdempotencyRecord).where(
                    col(IdempotencyRecord.partner_id) == partner_id,
                    col(IdempotencyRecord.key) == key,
                )
            )
            if existing is None:
                continue
            if existing.expires_at <= now:
                await session.execute(
                    sa.delete(IdempotencyRecord).where(col(IdempotencyRecord.id) == existing.id)
                )
                await session.commit()
                continue
            if existing.fingerprint != print_:
                raise BusinessRuleViolation(
                    "This Idempotency-Key was used with a different request.",
                    code="idempotency_key_reused",
                )
            if existing.status == "completed":
                raise IdempotentReplay(
                    StoredResponse(
                        existing.response_status or 200,
                        dict(existing.response_headers or {}),
                        existing.response_body or b"",
                    )
                )
            if existing.locked_until and existing.locked_until > now:
                raise Conflict(
                    "A request with this Idempotency-Key is still in flight.",
                    code="idempotency_key_in_use",
                )
            taken = await session.execute(
                sa.update(IdempotencyRecord)
                .where(
                    col(IdempotencyRecord.id) == existing.id,
                    col(IdempotencyRecord.locked_until) == existing.locked_until,
                )
                .values(locked_until=lease_until)
            )
            await session.commit()
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return Reservation(existing.id, lease_until)
    raise Conflict(
        "A request with this Idempotency-Key is still in flight.", code="idempotency_key_in_use"
    )


async def complete(
    session: AsyncSession, reservation: Reservation, response: StoredResponse
) -> None:
    """Store the response in the request's own transaction (it commits with the effects)."""
    result = await session.execute(
        _COMPLETE,
        {
            "record": reservation.record_id,
            "lease": reservation.lease_until,
            "response_status": response.status,
            "response_headers": response.headers,
            "response_body": response.body,
        },
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "The request outlived its Idempotency-Key lease; retry it.",
            code="idempotency_key_in_use",
        )


async def release(sessions: async_sessionmaker[AsyncSession], reservation: Reservation) -> None:
    """Forget a reservation whose request failed, so a retry runs it afresh."""
    async with sessions() as session:
        await session.execute(
            sa.delete(IdempotencyRecord).where(
                col(IdempotencyRecord.id) == reservation.record_id,
                col(IdempotencyRecord.status) == "in_flight",
                col(IdempotencyRecord.locked_until) == reservation.lease_until,
            )
        )
        await session.commit()
