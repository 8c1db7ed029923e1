"""Imports every table so the metadata is complete (Alembic, tests). Core contexts only."""

from gateway.audit.models import AuditRecord
from gateway.auth.models import GatewaySigningKey, UsedNonce
from gateway.channels.campaigns.models import Campaign, CampaignCustomerMonth
from gateway.channels.incentives.models import ChannelIncentive, ChannelIncentiveMonth  # noqa: F401
from gateway.channels.lifecycle.models import (  # noqa: F401
    ChannelAppliedTransaction,
    ChannelEvent,
    ChannelMilestone,
)
from gateway.core_banking.models import SandboxAccount, SandboxMovement  # noqa: F401
from gateway.customers.models import (
    AccountBatch,
    AccountBatchItem,
    Customer,
    CustomerLink,
    Touchpoint,
)
from gateway.idempotency.models import IdempotencyRecord
from gateway.jobs.models import Job
from gateway.notifications.models import Event, WebhookDelivery
from gateway.partners.models import Partner, PartnerApplication, PartnerKey
from gateway.risk.models import (
    RiskCase,
    RiskCaseAction,
    RiskDecision,
    RiskEvent,
    RiskHit,
    RiskHold,
    RiskRule,
    RiskRuleset,
    RiskSnooze,
    SuspendedSubChannel,
)
from gateway.scenarios.models import Transaction
from gateway.settlement.ledger.models import LedgerEntry, LedgerJournal
from gateway.settlement.models import (  # noqa: F401
    PartnerContract,
    ReconciliationException,
    ReconciliationFile,
    Settlement,
    SettlementHeldItem,
    SettlementRun,
)
from gateway.staff.models import StaffUser

__all__ = [
    "AccountBatch",
    "AccountBatchItem",
    "AuditRecord",
    "Campaign",
    "CampaignCustomerMonth",
    "Customer",
    "CustomerLink",
    "Event",
    "GatewaySigningKey",
    "IdempotencyRecord",
    "Job",
    "LedgerEntry",
    "LedgerJournal",
    "Partner",
    "PartnerApplication",
    "PartnerKey",
    "RiskCase",
    "RiskCaseAction",
    "RiskDecision",
    "RiskEvent",
    "RiskHit",
    "RiskHold",
    "RiskRule",
    "RiskRuleset",
    "RiskSnooze",
    "StaffUser",
    "SuspendedSubChannel",
    "Touchpoint",
    "Transaction",
    "UsedNonce",
    "WebhookDelivery",
]
