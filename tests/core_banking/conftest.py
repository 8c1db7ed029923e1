"""Core-banking test helpers: a session, a clock moved by hand, people known by a hash."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.clock import SHANGHAI


def shanghai(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def person(n: int) -> str:
    """A stand-in for the gateway's blind index of a resident ID number."""
    return hashlib.sha256(f"person {n}".encode()).hexdigest()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as s:
        yield s
