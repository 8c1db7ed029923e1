"""Request and response shapes of the risk admin API (DESIGN §8)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from gateway.schemas import Strict

EventTypeName = Literal["account_opening", "transaction", "release"]
SeverityName = Literal["review", "block"]
SubjectName = Literal["customer", "sub_channel", "merchant", "partner"]
ActionName = Literal[
    "release_hold",
    "hold_settlement",
    "clawback_incentives",
    "suspend_sub_channel",
    "suspend_partner",
]
Moment = Annotated[datetime, Meta(tz=True, description="RFC 3339 with an offset")]
Expression = Annotated[str, Meta(min_length=1, max_length=4000, description="CEL, boolean")]
Weight = Annotated[int, Meta(ge=0, le=1000, description="priority a hit adds to its case")]


class RuleCreate(Strict):
    id: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{2,63}$")]
    event_type: EventTypeName
    description: Annotated[str, Meta(min_length=1, max_length=2000)]
    expression: Expression
    subject: SubjectName
    severity: SeverityName = "review"
    weight: Weight = 10

    def draft_values(self) -> dict[str, Any]:
        """The first draft's columns, as ``ruleset.create_draft`` takes them."""
        return msgspec.structs.asdict(self)


class RuleUpdate(Strict):
    """A new draft version; what is left out is kept from the latest version."""

    expression: Expression
    description: Annotated[str, Meta(min_length=1, max_length=2000)] | UnsetType = UNSET
    severity: SeverityName | UnsetType = UNSET
    weight: Weight | UnsetType = UNSET
    subject: SubjectName | UnsetType = UNSET


class RuleStats(msgspec.Struct):
    hits: int
    shadow_hits: int
    cases: int
    closed_cases: int
    confirmed_fraud: int
    precision: float | None


class RuleRead(msgspec.Struct):
    id: str
    version: int
    event_type: str
    description: str
    expression: str
    severity: str
    weight: int
    subject: str
    status: str
    author: str
    published_by: str | None
    created_at: datetime
    published_at: datetime | None
    published_version: int | None
    stats: RuleStats


class PublishRead(msgspec.Struct):
    rule: RuleRead
    ruleset_version: int


class BacktestCreate(Strict):
    from_: Moment = msgspec.field(name="from")
    to: Moment


class SubjectRef(msgspec.Struct):
    type: SubjectName
    id: Annotated[str, Meta(min_length=1, max_length=80)]


class BacktestHit(msgspec.Struct):
    event_id: str
    occurred_at: str
    subject: SubjectRef
    values: dict[str, Any]


class BacktestRead(msgspec.Struct):
    rule: str
    version: int
    status: str
    from_: datetime = msgspec.field(name="from")
    to: datetime = msgspec.field(name="to")
    evaluated: int = 0
    hits: int = 0
    errors: int = 0
    subjects: int = 0
    published_hits: int | None = None
    sample: list[BacktestHit] = msgspec.field(default_factory=list)


class SnoozeCreate(Strict):
    rule: Annotated[str, Meta(min_length=1, max_length=64)]
    subject: SubjectRef
    until: Moment
    reason: Annotated[str, Meta(min_length=1, max_length=2000)]


class SnoozeRead(msgspec.Struct):
    id: str
    rule: str
    subject: SubjectRef
    until: datetime
    reason: str
    created_by: str
    created_at: datetime


class AssignCreate(Strict):
    assignee: Annotated[str, Meta(min_length=1, max_length=120)] | None = None


class DecideCreate(Strict):
    outcome: Literal["fraud", "not_fraud"]
    note: Annotated[str, Meta(max_length=4000)] | None = None
    actions: list[ActionName] = msgspec.field(default_factory=list)


class EvidenceRead(msgspec.Struct):
    rule: str
    version: int
    mode: str
    severity: str
    values: dict[str, Any]
    decision_id: str
    outcome: str
    ruleset_version: int
    event_id: str
    event_type: str
    occurred_at: datetime
    partner_id: str
    customer_id: str | None
    transaction_id: str | None


class RelatedRead(msgspec.Struct):
    customers: list[str]
    partners: list[str]
    transactions: list[str]
    shared: dict[str, int]


class ActionRead(msgspec.Struct):
    action: str
    status: str
    target: dict[str, Any]
    actor: str
    created_at: datetime


class CaseRead(msgspec.Struct):
    id: str
    subject: SubjectRef
    status: str
    priority: int
    hits: int
    rules: list[str]
    evidence: list[EvidenceRead]
    assignee: str | None
    outcome: str | None
    note: str | None
    related: RelatedRead | None
    holds: list[str]
    actions: list[ActionRead]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
