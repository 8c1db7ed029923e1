"""Job handlers register by kind; a handler must be idempotent (it may run more than once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler receives: its own session (committed with the job's completion), and the
    session factory for work that must commit on its own (see :mod:`gateway.customers.batches`)."""

    session: AsyncSession
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    job_id: str
    attempt: int
    services: dict[str, Any]


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    handler: Handler
    backoff: Sequence[timedelta]
    on_dead: Handler | None = None


DEFAULT_BACKOFF = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
_HANDLERS: dict[str, HandlerSpec] = {}


def job_handler(
    kind: str, *, backoff: Sequence[timedelta] = DEFAULT_BACKOFF, on_dead: Handler | None = None
) -> Callable[[Handler], Handler]:
    """Register a handler for ``kind``; ``on_dead`` runs in the dead-lettering transaction when
    the job gives up, so the owner of the work records the failure where users look for it."""

    def register(fn: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind].handler is not fn:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        _HANDLERS[kind] = HandlerSpec(fn, tuple(backoff), on_dead)
        return fn

    return register


def handler_for(kind: str) -> HandlerSpec | None:
    return _HANDLERS.get(kind)


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job is dead-lettered at once."""
