"""Account-opening risk: the events of opening rows, scored in row order (DESIGN §6, §8).

A row's event carries the blind indexes of its phone and ID number (never the raw values), the
channel, and the partner's ``context`` (device, IP). A ``block`` rejects the row with
``risk_blocked``; a ``review`` opens it and opens or attaches a case on its channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.customers import service as customers
from gateway.customers.rules import RowError
from gateway.customers.service import Applicant, Candidate, Channel, Opening
from gateway.pii import PiiVault
from gateway.risk.engine import Verdict, assess_opening_events

RISK_BLOCKED = RowError("risk_blocked", "Refused by the risk engine.")


def opening_event(vault: PiiVault, channel: Channel, applicant: Applicant) -> dict[str, Any]:
    """The event of an applicant not checked yet, its blind indexes computed here."""
    return _event(
        channel,
        applicant,
        phone_index=customers.phone_index(vault, applicant.phone),
        id_index=customers.id_index(vault, applicant.id_number),
    )


def _event(
    channel: Channel, applicant: Applicant, *, phone_index: str, id_index: str
) -> dict[str, Any]:
    return {
        "partner_id": channel.partner_id,
        "scenario": channel.scenario,
        "sub_channel": channel.sub_channel,
        "campaign": channel.campaign,
        "batch_id": channel.batch_id,
        "phone_index": phone_index,
        "id_index": id_index,
        "referred": applicant.referral_code is not None,
        "context": applicant.context or {},
    }


async def assess_openings(
    session: AsyncSession, vault: PiiVault, channel: Channel, applicants: Sequence[Applicant]
) -> list[Verdict]:
    """One verdict per applicant, in order; each row's features count the earlier rows."""
    events = [opening_event(vault, channel, a) for a in applicants]
    return await assess_opening_events(session, events)


async def assess_candidates(
    session: AsyncSession, channel: Channel, candidates: Sequence[Candidate]
) -> list[Verdict]:
    """:func:`assess_openings` for rows that passed the rules (a batch chunk's), with the
    blind indexes they carry: each is an HMAC, computed once per row."""
    events = [
        _event(channel, c.applicant, phone_index=c.phone_index, id_index=c.index)
        for c in candidates
    ]
    return await assess_opening_events(session, events)


def rejected_opening(verdict: Verdict) -> Opening | None:
    """The row's outcome when the risk engine blocked it, else None (open it)."""
    return Opening("rejected", error=RISK_BLOCKED) if verdict.blocked else None
