"""The partner row and keys the front door checks, kept briefly in each process.

Every signed call needs the caller's status, rate limit and keys. Reading them costs a pooled
connection and a query per call; at the partner API's rates most calls find them here instead.
An entry lives ``GATEWAY_PARTNER_CACHE_SECONDS`` (2 s by default; 0 turns the cache off) and is
dropped as soon as this process commits a change to the partner or its keys, so suspension,
termination and key rotation act at once on the replica that made them and within that many
seconds on the others (ADR 0006). A signature naming a key the entry does not know reloads it
first, so a partner's newly registered key works on its first use everywhere.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from gateway.partners.models import Partner, PartnerKey
from gateway.partners.service import load_caller

Caller = tuple[Partner, list[PartnerKey]]

_CHANGED = "callers_changed"


class CallerCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Caller]] = {}

    async def get(
        self, engine: AsyncEngine, partner_id: str, ttl_seconds: float, *, fresh: bool = False
    ) -> Caller | None:
        """The partner and all its keys; ``fresh`` skips the cached entry."""
        now = time.monotonic()
        entry = self._entries.get(partner_id)
        if entry is not None and not fresh and now - entry[0] < ttl_seconds:
            return entry[1]
        async with engine.connect() as conn:
            caller = await load_caller(conn, partner_id)
        if caller is not None and ttl_seconds > 0:
            self._entries[partner_id] = (now, caller)
        return caller

    def forget(self, partner_id: str) -> None:
        self._entries.pop(partner_id, None)


# One per process: what it holds is keyed by partner id, and every change this process commits
# to a partner or its keys must reach it, whichever app or session made the change.
callers = CallerCache()


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Partner):
            session.info.setdefault(_CHANGED, set()).add(obj.id)
        elif isinstance(obj, PartnerKey):
            session.info.setdefault(_CHANGED, set()).add(obj.partner_id)


@event.listens_for(Session, "after_commit")
def _forget_changed(session: Session) -> None:
    for partner_id in session.info.pop(_CHANGED, ()):
        callers.forget(partner_id)


@event.listens_for(Session, "after_rollback")
def _drop_notes(session: Session) -> None:
    session.info.pop(_CHANGED, None)
