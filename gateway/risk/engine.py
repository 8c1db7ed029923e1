"""Inline scoring: compute the event's features, run the compiled rules, decide, log both.

``assess`` is what the rest of the gateway calls (payments, openings, stored-value releases):
it returns a :class:`Verdict` — ``allow``, ``review`` (a case is opened or attached; the caller
proceeds) or ``block`` (the caller refuses with 422 ``risk_blocked``). Shadow rules are scored and
recorded but never act; a snoozed rule is recorded as ``snoozed`` for its subject and does not
act either. Every decision stores the rule-set version and, per hit, the feature values the rule
read. A block raised inside a request rolls back with it, so a blocked payment or opening leaves
nothing written (its decision is logged by structlog only, ADR 0012).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.db import bulk_insert, insert_rows, table_of, utcnow
from gateway.errors import BusinessRuleViolation
from gateway.ids import new_id
from gateway.risk import cases, features, holds, ruleset
from gateway.risk.models import (
    EventType,
    Outcome,
    RiskDecision,
    RiskEvent,
    RiskHit,
    RiskSnooze,
    RuleStatus,
    Severity,
    SubjectType,
    SuspendedSubChannel,
)
from gateway.risk.rules import EVENT_DEFAULTS, CompiledRule, compiled

log = structlog.get_logger(__name__)
# Tables written by Core on every assessment: no ORM unit of work, bulk-insert bookkeeping or
# identity map for rows nothing in the request reads back.
_EVENTS = table_of(RiskEvent)
_DECISIONS = table_of(RiskDecision)
_HITS = table_of(RiskHit)
_LINK = (
    _EVENTS.update()
    .where(_EVENTS.c.id == sa.bindparam("event_id"))
    .values(txn_id=sa.bindparam("txn_id"))
)
SUB_CHANNEL_SUSPENDED = features.SUSPENDED


class RiskBlocked(BusinessRuleViolation):
    code = "risk_blocked"


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    version: int
    mode: str
    severity: str
    subject_type: str
    subject_id: str
    values: dict[str, Any]
    case_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    event_id: str
    decision_id: str
    ruleset_version: int
    hits: tuple[Hit, ...] = ()
    case_ids: tuple[str, ...] = ()
    reason: str | None = None
    txn_id: str | None = None  # the transaction the event was logged with, when known up front

    @property
    def blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK

    @property
    def case_id(self) -> str | None:
        return self.case_ids[0] if self.case_ids else None

    def raise_if_blocked(self) -> None:
        if self.blocked:  # which rule fired stays with the bank: partners could learn to evade
            raise RiskBlocked("Refused by the risk engine.")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    """A copy of ``value`` as its JSON column gives it back: what
    ``json.loads(json.dumps(value, default=str))`` gives (a datetime or Decimal as its
    ``str()``, a tuple as a list), so the rules read what is stored.

    JSON scalars, lists and dicts with text keys (every value of an opening row) are copied
    without encoding: the column encodes the row once, on insert, and a round trip here encoded
    each event twice. Anything else takes the round trip.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict and all(type(k) is str for k in value):
        return {k: v if type(v) in _SCALARS else _jsonable(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _jsonable(v) for v in value]
    return json.loads(json.dumps(value, default=str))


def _clip(value: Any, length: int) -> str | None:
    """A key column as text within its width (partners send device ids of any length)."""
    return None if value in (None, "") else str(value)[:length]


def event_row(event_type: str, event: Mapping[str, Any]) -> RiskEvent:
    return RiskEvent(**event_values(event_type, event))


def event_values(event_type: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """The log row of an event, as column values: its key columns and its payload (never raw
    PII). A chunk of openings is inserted from these without building ORM objects."""
    at = event.get("occurred_at") or utcnow()
    amount = int(event.get("amount") or 0)
    merchant = (
        event.get("merchant")
        or event.get("merchant_id")
        or event.get("station_id")
        or event.get("sub_channel")
        or event["partner_id"]
    )
    context = event.get("context") or {}
    payload = {
        k: v
        for k, v in event.items()
        if k not in ("occurred_at", "context", "txn_id") and v is not None
    }
    payload |= {k: v for k, v in context.items() if k in ("device_id", "ip", "user_agent")}
    payload["merchant"] = merchant
    return {
        "id": new_id("rev"),
        "event_type": event_type,
        "kind": event.get("kind"),
        "occurred_at": at,
        "partner_id": event["partner_id"],
        "scenario": event.get("scenario"),
        "sub_channel": event.get("sub_channel"),
        "merchant": _clip(merchant, 80) if event_type != EventType.ACCOUNT_OPENING else None,
        "customer_id": event.get("customer_id"),
        "phone_index": event.get("phone_index"),
        "id_index": event.get("id_index"),
        "device_id": _clip(payload.get("device_id"), 128),
        "plate_no": _clip(event.get("plate_no"), 16),
        "card_id": _clip(event.get("card_id"), 64),
        "batch_id": event.get("batch_id"),
        "amount": amount,
        "round_amount": features.is_round(amount),
        "night": features.is_night(at),
        "txn_id": event.get("txn_id"),
        "payload": _jsonable(payload),
        "features": {},
    }


class Logged(Protocol):
    """What scoring reads of a logged event (an ORM row, or a backtest's lighter record)."""

    @property
    def partner_id(self) -> str: ...
    @property
    def customer_id(self) -> str | None: ...
    @property
    def sub_channel(self) -> str | None: ...
    @property
    def merchant(self) -> str | None: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def features(self) -> dict[str, Any]: ...


def cel_event(row: Logged) -> dict[str, Any]:
    return cel_payload(row.payload)


def cel_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What a rule sees as ``event``: the payload over the defaults of every field."""
    return EVENT_DEFAULTS | {k: v for k, v in payload.items() if v is not None}


def subject_of(rule_subject: str, row: Logged) -> tuple[str, str]:
    """The case subject a rule's hit names; a missing sub-channel or customer falls back to
    the partner (the channel that sent the event)."""
    value = {
        SubjectType.CUSTOMER: row.customer_id,
        SubjectType.SUB_CHANNEL: row.sub_channel,
        SubjectType.MERCHANT: row.merchant,
        SubjectType.PARTNER: row.partner_id,
    }.get(SubjectType(rule_subject))
    if not value:
        return SubjectType.PARTNER.value, row.partner_id
    return rule_subject, str(value)


def evidence_values(rule: CompiledRule, row: Logged) -> dict[str, Any]:
    values = {f: row.features.get(f) for f in rule.features}
    values |= {f"event.{f}": row.payload.get(f, EVENT_DEFAULTS.get(f)) for f in rule.fields}
    return values


async def _snoozed(
    session: AsyncSession, candidates: Sequence[tuple[CompiledRule, str, str]], at: datetime
) -> set[tuple[str, str, str]]:
    if not candidates:
        return set()
    rows = await session.execute(
        select(RiskSnooze.rule_id, RiskSnooze.subject_type, RiskSnooze.subject_id).where(
            col(RiskSnooze.rule_id).in_({r.id for r, _, _ in candidates}),
            col(RiskSnooze.until) > at,
        )
    )
    return {(r, t, s) for r, t, s in rows.all()}


async def _suspended(session: AsyncSession, partner_id: str, sub_channel: str | None) -> bool:
    if not sub_channel:
        return False
    found = await session.get(SuspendedSubChannel, (partner_id, sub_channel))
    return found is not None


async def _decide(
    session: AsyncSession,
    row: RiskEvent,
    version: int,
    rules: Sequence[CompiledRule],
    *,
    suspended: bool,
    unlogged: Mapping[str, Any] | None = None,
) -> Verdict:
    """Run the rules on an event; write its decision and hits (Core inserts, no ORM objects:
    this runs on every payment). ``unlogged`` is the event's row when it is not logged yet; it
    is written with its decision, in one round trip on PostgreSQL (:func:`insert_rows`)."""
    fired = [
        r
        for r, hit in zip(
            rules, compiled(rules).evaluate(cel_event(row), row.features), strict=True
        )
        if hit
    ]
    located = [(r, *subject_of(r.subject, row)) for r in fired]
    snoozed = await _snoozed(
        session, [c for c in located if c[0].mode == RuleStatus.PUBLISHED], row.occurred_at
    )
    decision_id, now = new_id("rdc"), utcnow()
    outcome, hits, case_ids = Outcome.ALLOW, [], []
    for rule, subject_type, subject_id in located:
        mode = rule.mode
        if mode == RuleStatus.PUBLISHED and (rule.id, subject_type, subject_id) in snoozed:
            mode = "snoozed"
        case_id = None
        if mode == RuleStatus.PUBLISHED:
            case = await cases.open_or_attach(
                session,
                subject_type=subject_type,
                subject_id=subject_id,
                partner_id=row.partner_id,
                weight=rule.weight,
            )
            case_id = case.id
            if case_id not in case_ids:
                case_ids.append(case_id)
            if rule.severity == Severity.BLOCK:
                outcome = Outcome.BLOCK
            elif outcome is Outcome.ALLOW:
                outcome = Outcome.REVIEW
        hits.append(
            Hit(
                rule.id,
                rule.version,
                mode,
                rule.severity,
                subject_type,
                subject_id,
                evidence_values(rule, row),
                case_id,
            )
        )
    reason = None
    if suspended:
        outcome, reason = Outcome.BLOCK, SUB_CHANNEL_SUSPENDED
    decision = {
        "id": decision_id,
        "event_id": row.id,
        "event_type": row.event_type,
        "outcome": outcome.value,
        "ruleset_version": version,
        "created_at": now,
    }
    logged = [(_DECISIONS, decision)]
    await insert_rows(session, logged if unlogged is None else [(_EVENTS, unlogged), *logged])
    if hits:
        await session.execute(
            _HITS.insert(),
            [
                {
                    "decision_id": decision_id,
                    "rule_id": h.rule,
                    "rule_version": h.version,
                    "mode": h.mode,
                    "severity": h.severity,
                    "subject_type": h.subject_type,
                    "subject_id": h.subject_id,
                    "case_id": h.case_id,
                    "values": _jsonable(h.values),
                    "created_at": now,
                }
                for h in hits
            ],
        )
    if outcome is not Outcome.ALLOW:
        log.info(
            "risk.decided",
            event_type=row.event_type,
            outcome=outcome.value,
            rules=[h.rule for h in hits if h.mode == RuleStatus.PUBLISHED],
            decision_id=decision_id,
        )
    return Verdict(
        outcome, row.id, decision_id, version, tuple(hits), tuple(case_ids), reason, row.txn_id
    )


async def assess(session: AsyncSession, event_type: str, event: Mapping[str, Any]) -> Verdict:
    """Score one event inline: compute its features, decide, log the event with its decision
    (flush only).

    ``event`` carries ``partner_id`` and whatever the caller knows: ``scenario``, ``kind``,
    ``customer_id``, ``sub_channel``, ``merchant`` (else ``merchant_id``/``station_id``/the
    sub-channel), ``amount``, ``plate_no``, ``card_id``, ``litres_ml``, ``tank_capacity_l``,
    ``context`` (``device_id``, ``ip``), ``phone_index``/``id_index`` (blind indexes, never raw
    values), and optionally ``occurred_at`` and ``txn_id`` (the id the caller will give the
    transaction if the money moves: the event is logged with it, and
    :func:`attach_transaction` has nothing to link).
    """
    if EventType(event_type) is EventType.ACCOUNT_OPENING:
        return (await assess_opening_events(session, [event]))[0]
    version, rules = await ruleset.active(session, event_type)
    values = event_values(event_type, event)
    row = RiskEvent(**values)  # read by the features and rules; logged with its decision
    computed, suspended = await features.compute(session, row)
    row.features = values["features"] = _jsonable(computed)
    return await _decide(session, row, version, rules, suspended=suspended, unlogged=values)


async def assess_opening_events(
    session: AsyncSession, events: Sequence[Mapping[str, Any]]
) -> list[Verdict]:
    """Score the rows of one opening chunk in order; each row's features count the earlier rows.

    Set-based, like the chunk itself (ADR 0013). A chunk's events carry no ``occurred_at`` and
    are logged at one moment; their features come from a few grouped reads of the log plus the
    chunk's earlier rows, and the rows no rule fires on (nearly all) get their ``allow``
    decisions in one insert. A row a rule fires on, or on a suspended sub-channel, is decided on
    its own, cases and hits included. Events that do carry times (replays, tests) are scored a
    run of equal times at a time, in order.
    """
    if not events:
        return []
    version, rules = await ruleset.active(session, EventType.ACCOUNT_OPENING)
    verdicts: list[Verdict] = []
    for at, run in itertools.groupby(events, key=lambda e: e.get("occurred_at")):
        verdicts += await _assess_openings_at(session, at or utcnow(), list(run), version, rules)
    return verdicts


async def _assess_openings_at(
    session: AsyncSession,
    at: datetime,
    events: Sequence[Mapping[str, Any]],
    version: int,
    rules: Sequence[CompiledRule],
) -> list[Verdict]:
    rows = [event_values(EventType.ACCOUNT_OPENING, {**e, "occurred_at": at}) for e in events]
    computed = await features.chunk_opening_features(session, rows, at)
    for row, values in zip(rows, computed, strict=True):
        row["features"] = _jsonable(values)
    dialect = session.get_bind().dialect
    await session.execute(*bulk_insert(dialect, table_of(RiskEvent), rows))
    channels = {(r["partner_id"], r["sub_channel"]) for r in rows}
    suspended = {c: await _suspended(session, *c) for c in sorted(channels, key=str)}
    program = compiled(rules)
    verdicts: list[Verdict] = []
    quiet: list[dict[str, Any]] = []
    for row in rows:
        fired = any(program.evaluate(cel_payload(row["payload"]), row["features"]))
        if fired or suspended[(row["partner_id"], row["sub_channel"])]:
            verdicts.append(
                await _decide(
                    session,
                    RiskEvent(**row),
                    version,
                    rules,
                    suspended=suspended[(row["partner_id"], row["sub_channel"])],
                )
            )
            continue
        decision_id = new_id("rdc")
        quiet.append(
            {
                "id": decision_id,
                "event_id": row["id"],
                "event_type": row["event_type"],
                "outcome": Outcome.ALLOW.value,
                "ruleset_version": version,
                "created_at": at,
            }
        )
        verdicts.append(Verdict(Outcome.ALLOW, row["id"], decision_id, version))
    if quiet:
        await session.execute(*bulk_insert(dialect, table_of(RiskDecision), quiet))
    return verdicts


async def attach_transaction(
    session: AsyncSession,
    verdict: Verdict,
    *,
    txn_id: str,
    partner_id: str,
    amount: int,
    hold: bool = True,
) -> None:
    """After the money moved: link the event to its transaction (unless it was logged with it)
    and, on ``review``, hold the transaction out of settlement under its case
    (``risk.hold_placed``). Money going back to a customer (a refund) passes ``hold=False``: its
    case opens, but there is nothing to hold."""
    if verdict.txn_id != txn_id:
        await session.execute(_LINK, {"event_id": verdict.event_id, "txn_id": txn_id})
    if hold and verdict.outcome is Outcome.REVIEW and verdict.case_id is not None:
        await holds.place(
            session, txn_id=txn_id, case_id=verdict.case_id, partner_id=partner_id, amount=amount
        )
        await session.flush()


async def merchant_of(session: AsyncSession, txn_id: str) -> str | None:
    """The merchant a logged transaction was scored at (a refund goes back through it)."""
    merchant: str | None = await session.scalar(
        select(RiskEvent.merchant).where(col(RiskEvent.txn_id) == txn_id).limit(1)
    )
    return merchant
