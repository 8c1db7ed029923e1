"""Risk tables: versioned rules, the event log with computed features, decisions, hits, cases.

The event log keeps every assessed event with its payload and the features it was scored on, so a
backtest replays exactly what the engine saw. Key columns (phone, device, ID, plate, card,
merchant…) are copied out of the payload and indexed so feature queries stay on an index.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class EventType(StrEnum):
    ACCOUNT_OPENING = "account_opening"
    TRANSACTION = "transaction"
    RELEASE = "release"


class RuleStatus(StrEnum):
    DRAFT = "draft"
    SHADOW = "shadow"
    PUBLISHED = "published"
    RETIRED = "retired"


class Severity(StrEnum):
    REVIEW = "review"
    BLOCK = "block"


class Outcome(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class SubjectType(StrEnum):
    CUSTOMER = "customer"
    SUB_CHANNEL = "sub_channel"
    MERCHANT = "merchant"
    PARTNER = "partner"


class CaseStatus(StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    CLOSED = "closed"


class HoldStatus(StrEnum):
    HELD = "held"
    RELEASED = "released"


class RiskRule(SQLModel, table=True):
    """One version of a rule; a change is a new version (draft → shadow → published)."""

    __tablename__ = "risk_rules"
    __table_args__ = (sa.Index("ix_risk_rules_event_type_status", "event_type", "status"),)

    id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    event_type: str = Field(max_length=32)
    description: str = Field(sa_type=sa.Text)
    expression: str = Field(sa_type=sa.Text)
    severity: str = Field(max_length=16)
    weight: int = 10
    subject: str = Field(max_length=16)
    status: str = Field(max_length=16)
    author: str = Field(max_length=120)
    published_by: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RiskRuleset(SQLModel, table=True):
    """A published rule set: each publish makes a new version; decisions record it."""

    __tablename__ = "risk_rulesets"

    version: int = Field(primary_key=True)
    rules: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    published_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def _keyed(name: str, key: str, *more: str) -> sa.Index:
    """An index of the events that HAVE ``key`` (``WHERE key IS NOT NULL``).

    Every event fills only some keys (an opening has no merchant, plate, card, customer or
    transaction; a payment no phone or ID index), and a full index takes an entry for every
    NULL too: eleven index entries per logged event, most of them NULL keys no query asks for
    (``key = :value`` never matches NULL). Both engines use a partial ``IS NOT NULL`` index for
    an equality or ``IN`` on its key.
    """
    present = sa.text(f"{key} IS NOT NULL")
    return sa.Index(name, key, *more, postgresql_where=present, sqlite_where=present)


class RiskEvent(SQLModel, table=True):
    """Every assessed event, with the keys features are computed over."""

    __tablename__ = "risk_events"
    __table_args__ = (
        _keyed("ix_risk_events_phone", "phone_index", "occurred_at"),
        _keyed("ix_risk_events_device", "device_id", "occurred_at"),
        _keyed("ix_risk_events_id_index", "id_index", "occurred_at"),
        sa.Index("ix_risk_events_partner", "partner_id", "occurred_at"),
        _keyed("ix_risk_events_sub_channel", "sub_channel", "event_type", "occurred_at"),
        _keyed("ix_risk_events_merchant", "merchant", "occurred_at"),
        _keyed("ix_risk_events_plate", "plate_no", "occurred_at"),
        _keyed("ix_risk_events_card", "card_id", "occurred_at"),
        _keyed("ix_risk_events_customer", "customer_id", "occurred_at"),
        _keyed("ix_risk_events_txn_id", "txn_id"),
        sa.Index("ix_risk_events_type_time", "event_type", "occurred_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    event_type: str = Field(max_length=32)
    kind: str | None = Field(default=None, max_length=40)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    partner_id: str = Field(max_length=40)
    scenario: str | None = Field(default=None, max_length=40)
    sub_channel: str | None = Field(default=None, max_length=80)
    merchant: str | None = Field(default=None, max_length=80)
    customer_id: str | None = Field(default=None, max_length=40)
    phone_index: str | None = Field(default=None, max_length=64)
    id_index: str | None = Field(default=None, max_length=64)
    device_id: str | None = Field(default=None, max_length=128)
    plate_no: str | None = Field(default=None, max_length=16)
    card_id: str | None = Field(default=None, max_length=64)
    batch_id: str | None = Field(default=None, max_length=40)
    amount: int = Field(default=0, sa_type=sa.BigInteger)
    round_amount: bool = False
    night: bool = False
    txn_id: str | None = Field(default=None, max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    features: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class RiskDecision(SQLModel, table=True):
    __tablename__ = "risk_decisions"

    id: str = Field(primary_key=True, max_length=40)
    event_id: str = Field(foreign_key="risk_events.id", max_length=40, index=True)
    event_type: str = Field(max_length=32)
    outcome: str = Field(max_length=16)
    ruleset_version: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RiskHit(SQLModel, table=True):
    """A rule that fired on a decision, with the feature values that fired it.

    ``mode`` says whether it acted (``published``), was only recorded (``shadow``) or was
    silenced for its subject (``snoozed``).
    """

    __tablename__ = "risk_hits"
    __table_args__ = (sa.Index("ix_risk_hits_rule", "rule_id", "mode"),)

    decision_id: str = Field(primary_key=True, foreign_key="risk_decisions.id", max_length=40)
    rule_id: str = Field(primary_key=True, max_length=64)
    rule_version: int
    mode: str = Field(max_length=16)
    severity: str = Field(max_length=16)
    subject_type: str = Field(max_length=16)
    subject_id: str = Field(max_length=80)
    case_id: str | None = Field(default=None, max_length=40, index=True)
    values: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RiskCase(SQLModel, table=True):
    """One open case per subject: ``open_subject`` is set while open and unique."""

    __tablename__ = "risk_cases"
    __table_args__ = (sa.Index("ix_risk_cases_queue", "status", "priority"),)

    id: str = Field(primary_key=True, max_length=40)
    subject_type: str = Field(max_length=16)
    subject_id: str = Field(max_length=80)
    open_subject: str | None = Field(default=None, max_length=100, unique=True)
    partner_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default=CaseStatus.OPEN.value, max_length=16)
    priority: int = 0
    hits: int = 0
    assignee: str | None = Field(default=None, max_length=120)
    outcome: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, sa_type=sa.Text)
    closed_by: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RiskCaseAction(SQLModel, table=True):
    """An action a decision took; ``pending`` ones wait for their consumer (clawbacks)."""

    __tablename__ = "risk_case_actions"

    id: str = Field(primary_key=True, max_length=40)
    case_id: str = Field(foreign_key="risk_cases.id", max_length=40, index=True)
    action: str = Field(max_length=40)
    status: str = Field(max_length=16)
    target: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    actor: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RiskSnooze(SQLModel, table=True):
    __tablename__ = "risk_snoozes"
    __table_args__ = (sa.Index("ix_risk_snoozes_lookup", "rule_id", "subject_type", "subject_id"),)

    id: str = Field(primary_key=True, max_length=40)
    rule_id: str = Field(max_length=64)
    subject_type: str = Field(max_length=16)
    subject_id: str = Field(max_length=80)
    until: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(sa_type=sa.Text)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RiskHold(SQLModel, table=True):
    """A transaction held out of settlement while its case is open (read by settlement)."""

    __tablename__ = "risk_holds"
    __table_args__ = (sa.Index("ix_risk_holds_partner_status", "partner_id", "status"),)

    txn_id: str = Field(primary_key=True, max_length=40)
    case_id: str = Field(foreign_key="risk_cases.id", max_length=40, index=True)
    partner_id: str = Field(max_length=40)
    amount: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default=HoldStatus.HELD.value, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    released_by: str | None = Field(default=None, max_length=120)


class SuspendedSubChannel(SQLModel, table=True):
    """A sub-channel a case decision suspended: every event through it is then blocked."""

    __tablename__ = "risk_suspended_sub_channels"

    partner_id: str = Field(primary_key=True, max_length=40)
    sub_channel: str = Field(primary_key=True, max_length=80)
    case_id: str = Field(foreign_key="risk_cases.id", max_length=40)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MerchantHour(SQLModel, table=True):
    """A merchant's transactions (and its escrow flow: transactions and releases but refunds)
    in one sealed hour, summed (ADR 0023): a payment reads a week of these, a release 30 days,
    instead of the events. Only hours inside the merchant's :class:`MerchantSealed` range are
    authoritative; an hour with no events has no row."""

    __tablename__ = "risk_merchant_hours"

    merchant: str = Field(primary_key=True, max_length=80)
    hour: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    count: int = 0
    nights: int = 0
    payment_sum: int = Field(default=0, sa_type=sa.BigInteger)
    round_sum: int = Field(default=0, sa_type=sa.BigInteger)
    flow_sum: int = Field(default=0, sa_type=sa.BigInteger)


class MerchantSealed(SQLModel, table=True):
    """The hours ``[since, until)`` whose :class:`MerchantHour` rows are filled for a merchant."""

    __tablename__ = "risk_merchant_sealed"

    merchant: str = Field(primary_key=True, max_length=80)
    since: datetime = Field(sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)


class ChannelCustomer(SQLModel, table=True):
    """A sub-channel's customer with its last two payments there before the sub-channel's
    :class:`ChannelSealed` boundary (ADR 0023): the one-and-done share counts these rows
    instead of grouping a month of payments per customer."""

    __tablename__ = "risk_channel_customers"
    __table_args__ = (sa.Index("ix_risk_channel_customers_last", "sub_channel", "last_at"),)

    sub_channel: str = Field(primary_key=True, max_length=80)
    customer_id: str = Field(primary_key=True, max_length=40)
    last_at: datetime = Field(sa_type=UTCDateTime)
    last_amount: int = Field(sa_type=sa.BigInteger)
    prev_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChannelSealed(SQLModel, table=True):
    """The moment before which a sub-channel's payments are in :class:`ChannelCustomer`."""

    __tablename__ = "risk_channel_sealed"

    sub_channel: str = Field(primary_key=True, max_length=80)
    until: datetime = Field(sa_type=UTCDateTime)
