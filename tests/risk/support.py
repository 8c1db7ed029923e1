"""Helpers for risk tests: events scored straight through the engine at chosen moments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.risk.engine import Verdict, assess, assess_opening_events
from gateway.risk.models import RiskEvent

# 2026-11-20 12:00 UTC is 20:00 in Shanghai (daytime); 17:00 UTC is 01:00 local (night).
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NIGHT = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


class _Timed(Protocol):
    @property
    def at(self) -> datetime: ...


P = TypeVar("P", bound=_Timed)


async def score(
    sessions: async_sessionmaker[AsyncSession], event_type: str, **event: Any
) -> Verdict:
    """Assess one event in its own committed unit of work."""
    event.setdefault("partner_id", "ptn_test")
    async with sessions() as s:
        verdict = await assess(s, event_type, event)
        await s.commit()
    return verdict


async def scored_features(
    sessions: async_sessionmaker[AsyncSession], event_type: str, **event: Any
) -> dict[str, Any]:
    """Assess one event in its own unit of work; the features it was logged with."""
    verdict = await score(sessions, event_type, **event)
    async with sessions() as s:
        features = await s.scalar(
            sa.select(RiskEvent.features).where(RiskEvent.id == verdict.event_id)  # type: ignore[arg-type]
        )
    assert features is not None
    return dict(features)


def near_hours(hours: int) -> st.SearchStrategy[int]:
    """Minutes from a start on the hour, within ``hours``, mostly on or near an hour's edge or
    the 15-minute seal (ADR 0023), so that window edges meet hour edges."""
    return st.builds(
        lambda hour, minute: hour * 60 + minute,
        st.integers(0, hours),
        st.sampled_from((0, 0, 1, 14, 15, 16, 59)),
    )


async def replays_match(
    stream: Sequence[P],
    in_order: bool,
    scored: Callable[[P], Awaitable[dict[str, Any]]],
    expected: Callable[[list[P], P], dict[str, Any]],
) -> None:
    """Score ``stream`` (sorted by ``at`` when ``in_order``) one event at a time; each event's
    features must equal ``expected`` over the events scored before it."""
    logged: list[P] = []
    for event in sorted(stream, key=lambda e: e.at) if in_order else stream:
        assert await scored(event) == expected(logged, event), event
        logged.append(event)


async def openings(
    sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]
) -> list[Verdict]:
    async with sessions() as s:
        verdicts = await assess_opening_events(s, [{"partner_id": "ptn_test"} | r for r in rows])
        await s.commit()
    return verdicts


def fired(verdict: Verdict, mode: str = "published") -> set[str]:
    return {h.rule for h in verdict.hits if h.mode == mode}


def ago(at: datetime, **delta: float) -> datetime:
    return at - timedelta(**delta)


# A block rule on one device id, for tests that need one row of a batch refused by risk.
BAD_DEVICE_RULE = {
    "id": "bad_device",
    "event_type": "account_opening",
    "description": "A device on the deny list.",
    "expression": "event.device_id == 'dev-bad'",
    "subject": "partner",
    "severity": "block",
}


async def publish_rule(client: Any, staff: Any, rule: dict[str, Any], tag: str) -> None:
    """Draft ``rule`` as an analyst and publish it as a risk lead (four eyes)."""
    analyst = await staff.token(f"analyst-{tag}", "risk_analyst")
    lead = await staff.token(f"lead-{tag}", "risk_lead")
    drafted = await client.post("/admin/v1/risk/rules", json=rule, headers=analyst)
    assert drafted.status_code == 201, drafted.text
    published = await client.post(f"/admin/v1/risk/rules/{rule['id']}/publish", headers=lead)
    assert published.status_code == 200, published.text
