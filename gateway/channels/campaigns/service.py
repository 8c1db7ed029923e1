"""Campaign logic: create and change campaigns, pick the one that funds a payment, and draw or
return its subsidy without ever taking a budget below zero (DESIGN §7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from msgspec import UnsetType
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway import audit
from gateway.channels.campaigns.models import (
    DEFAULT_ACTIVATION_DAYS,
    DEFAULT_EFFECTIVE_MIN_AMOUNT,
    Campaign,
    CampaignCustomerMonth,
    CampaignStatus,
    ProductType,
    SubsidyType,
)
from gateway.channels.campaigns.schemas import CampaignCreate, CampaignUpdate, SubsidyRule
from gateway.clock import business_date_of
from gateway.db import UTCDateTime, dialect_insert, utcnow
from gateway.errors import FieldError, NotFound, ValidationFailed
from gateway.ids import has_prefix, new_id
from gateway.money import Fen, mul_div_half_up
from gateway.partners.service import get_partner
from gateway.scenarios.base import is_credit_excluded, known_keys
from gateway.staff.service import StaffIdentity

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Grant:
    """What a payment got from a campaign; ``campaign_id`` is None when nothing was granted."""

    campaign_id: str | None
    amount: Fen


NO_GRANT = Grant(campaign_id=None, amount=0)
# Products that are credit: never marketed, granted or opened to campus students (DESIGN §9).
CREDIT_PRODUCTS = frozenset({ProductType.CREDIT_CARD.value, ProductType.CONSUMER_LOAN.value})


async def is_credit_campaign(session: AsyncSession, campaign_ref: str | None) -> bool:
    """Whether an opening's ``campaign`` names a credit-card or consumer-loan campaign.

    Openings name their campaign by id; a label that names no campaign is not a credit one.
    """
    if not campaign_ref or not has_prefix(campaign_ref, "cmp"):
        return False
    campaign = await session.get(Campaign, campaign_ref)  # once a batch chunk: the identity map
    return campaign is not None and campaign.product_type in CREDIT_PRODUCTS


# -- staff: create, list, change ---------------------------------------------------------------


def _create_errors(data: CampaignCreate) -> list[FieldError]:
    """Every rule a new campaign breaks, so the form can show them all at once."""
    errors: list[FieldError] = []
    if data.scenario not in known_keys():
        errors.append(FieldError("scenario", "scenario_unknown", "Not a known scenario key."))
    if data.ends_at <= data.starts_at:
        errors.append(FieldError("ends_at", "ends_before_start", "Must be after starts_at."))
    subsidy = data.subsidy
    if subsidy is not None:
        if data.product_type is not ProductType.PAYMENT:
            # A subsidy lowers what a payment costs; a credit campaign paying it would market
            # credit to everyone who pays, campus students included (DESIGN §9 campus).
            errors.append(
                FieldError("subsidy", "subsidy_payment_only", "Only payment campaigns subsidise.")
            )
        if subsidy.type is SubsidyType.PER_LITRE and data.scenario != "fuel":
            errors.append(
                FieldError("subsidy.type", "per_litre_fuel_only", "per_litre is for fuel only.")
            )
        if subsidy.type is SubsidyType.PERCENT and subsidy.value > 100:
            errors.append(FieldError("subsidy.value", "out_of_range", "A percent is 1 to 100."))
    return errors


async def create_campaign(
    session: AsyncSession, data: CampaignCreate, staff: StaffIdentity
) -> Campaign:
    errors = _create_errors(data)
    if errors:
        raise ValidationFailed("The campaign did not validate.", errors=errors)
    if data.partner_id is not None:
        partner = await get_partner(session, data.partner_id)
        if data.scenario not in partner.scenarios:
            raise ValidationFailed(
                "The partner does not run this scenario.",
                errors=[FieldError("scenario", "scenario_not_enabled", "Not the partner's.")],
            )
    rule = data.effective_rule
    subsidy = data.subsidy
    campaign = Campaign(
        id=new_id("cmp"),
        name=data.name,
        scenario=data.scenario,
        partner_id=data.partner_id,
        product_type=data.product_type.value,
        budget=data.budget,
        subsidy_type=subsidy.type.value if subsidy else None,
        subsidy_value=subsidy.value if subsidy else None,
        cap_per_txn=subsidy.cap_per_txn if subsidy else None,
        cap_per_customer_month=subsidy.cap_per_customer_month if subsidy else None,
        # The rule in force is fixed when the campaign is made, not read from a default later.
        activation_days=rule.activation_days if rule else DEFAULT_ACTIVATION_DAYS,
        effective_min_amount=rule.min_amount if rule else DEFAULT_EFFECTIVE_MIN_AMOUNT,
        starts_at=data.starts_at.astimezone(UTC),
        ends_at=data.ends_at.astimezone(UTC),
        created_by=staff.actor,
    )
    session.add(campaign)
    audit.record(
        session,
        actor=staff.actor,
        action="campaign.created",
        subject_type="campaign",
        subject_id=campaign.id,
        after=_summary(campaign),
    )
    await session.flush()
    log.info("campaign.created", campaign_id=campaign.id, scenario=campaign.scenario)
    return campaign


def _summary(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "scenario": campaign.scenario,
        "partner_id": campaign.partner_id,
        "product_type": campaign.product_type,
        "status": campaign.status,
        "budget": campaign.budget,
        "subsidy_type": campaign.subsidy_type,
        "subsidy_value": campaign.subsidy_value,
        "cap_per_txn": campaign.cap_per_txn,
        "cap_per_customer_month": campaign.cap_per_customer_month,
        "starts_at": campaign.starts_at.isoformat(),
        "ends_at": campaign.ends_at.isoformat(),
    }


def campaigns_query(
    *,
    scenario: str | None,
    partner_id: str | None,
    product_type: ProductType | None,
    status: CampaignStatus | None,
) -> SelectOfScalar[Campaign]:
    stmt = select(Campaign)
    if scenario is not None:
        stmt = stmt.where(col(Campaign.scenario) == scenario)
    if partner_id is not None:
        stmt = stmt.where(col(Campaign.partner_id) == partner_id)
    if product_type is not None:
        stmt = stmt.where(col(Campaign.product_type) == product_type.value)
    if status is not None:
        stmt = stmt.where(col(Campaign.status) == status.value)
    return stmt


async def get_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    """Read fresh from the database: ``spent`` moves by bulk UPDATEs the identity map misses."""
    campaign = await session.scalar(
        select(Campaign)
        .where(col(Campaign.id) == campaign_id)
        .execution_options(populate_existing=True)
    )
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


async def _locked(session: AsyncSession, campaign_id: str) -> Campaign:
    """The campaign, held until commit. Writing first takes the row lock on PostgreSQL and the
    database write lock on SQLite (which has no FOR UPDATE), so no draw can move ``spent``
    between the checks of a change and its write."""
    touched = await session.scalar(
        sa.update(Campaign)
        .where(col(Campaign.id) == campaign_id)
        .values(updated_at=utcnow())
        .returning(col(Campaign.id))
        .execution_options(synchronize_session=False)
    )
    if touched is None:
        raise NotFound("No such campaign.")
    return await get_campaign(session, campaign_id)


async def update_campaign(
    session: AsyncSession, campaign_id: str, data: CampaignUpdate, staff: StaffIdentity
) -> Campaign:
    """Pause or resume, set the budget, move the end; the budget never drops below ``spent``."""
    if all(isinstance(v, UnsetType) for v in (data.status, data.budget, data.ends_at)):
        raise ValidationFailed(
            "Send at least one of status, budget, ends_at.",
            errors=[FieldError("body", "empty", "Nothing to change.")],
        )
    campaign = await _locked(session, campaign_id)
    errors: list[FieldError] = []
    if not isinstance(data.budget, UnsetType) and data.budget < campaign.spent:
        errors.append(
            FieldError("budget", "budget_below_spent", f"{campaign.spent} fen is already spent.")
        )
    if not isinstance(data.ends_at, UnsetType) and data.ends_at <= campaign.starts_at:
        errors.append(FieldError("ends_at", "ends_before_start", "Must be after starts_at."))
    if errors:
        raise ValidationFailed("The change did not validate.", errors=errors)
    before = _summary(campaign)
    if not isinstance(data.status, UnsetType):
        campaign.status = data.status.value
    if not isinstance(data.budget, UnsetType):
        campaign.budget = data.budget
    if not isinstance(data.ends_at, UnsetType):
        campaign.ends_at = data.ends_at.astimezone(UTC)
    audit.record(
        session,
        actor=staff.actor,
        action="campaign.updated",
        subject_type="campaign",
        subject_id=campaign.id,
        before=before,
        after=_summary(campaign),
    )
    await session.flush()
    log.info("campaign.updated", campaign_id=campaign.id, status=campaign.status)
    return campaign


# -- payments: pick a campaign, draw and return subsidies ------------------------------------


def _active_campaign() -> SelectOfScalar[Campaign]:
    at = sa.bindparam("at", type_=UTCDateTime())
    partner = sa.bindparam("partner", type_=sa.String())
    return (
        select(Campaign)
        .where(
            col(Campaign.scenario) == sa.bindparam("scenario"),
            col(Campaign.status) == CampaignStatus.ACTIVE.value,
            col(Campaign.subsidy_type).is_not(None),
            col(Campaign.starts_at) <= at,
            col(Campaign.ends_at) > at,
            col(Campaign.spent) < col(Campaign.budget),
            sa.or_(col(Campaign.partner_id) == partner, col(Campaign.partner_id).is_(None)),
        )
        .order_by(col(Campaign.partner_id).is_(None), col(Campaign.id).desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


_ACTIVE_CAMPAIGN = _active_campaign()  # built once: every subsidised payment asks


async def active_campaign(
    session: AsyncSession, *, partner_id: str, scenario: str, at: datetime
) -> Campaign | None:
    """The campaign that funds a payment's subsidy: running at ``at`` with budget left; the
    partner's own campaign beats a scenario-wide one, and the newest wins a tie."""
    params = {"scenario": scenario, "at": at, "partner": partner_id}
    return await session.scalar(_ACTIVE_CAMPAIGN, params)


def subsidy_rule(campaign: Campaign) -> SubsidyRule | None:
    """The campaign's subsidy as one typed value (its four columns are all set or all null)."""
    if (
        campaign.subsidy_type is None
        or campaign.subsidy_value is None
        or campaign.cap_per_txn is None
        or campaign.cap_per_customer_month is None
    ):
        return None
    return SubsidyRule(
        type=SubsidyType(campaign.subsidy_type),
        value=campaign.subsidy_value,
        cap_per_txn=campaign.cap_per_txn,
        cap_per_customer_month=campaign.cap_per_customer_month,
    )


def subsidy_for(rule: SubsidyRule, amount: Fen, litres_ml: int | None = None) -> Fen:
    """A payment's subsidy before the monthly cap and the budget: by type, half-up to the fen,
    then capped per transaction and by the payment itself (nobody is paid to pay)."""
    if amount <= 0 or (litres_ml is not None and litres_ml < 0):
        raise ValueError("a subsidy needs a positive amount and non-negative litres")
    if rule.type is SubsidyType.PERCENT:
        raw = mul_div_half_up(amount, rule.value, 100)
    elif rule.type is SubsidyType.PER_LITRE:
        if litres_ml is None:
            raise ValueError("a per-litre subsidy needs litres_ml")
        raw = mul_div_half_up(litres_ml, rule.value, 1000)
    else:
        raw = rule.value
    return min(raw, rule.cap_per_txn, amount)


def month_of(at: datetime) -> str:
    """The Asia/Shanghai calendar month a monthly cap counts in, ``YYYY-MM``."""
    return business_date_of(at).strftime("%Y-%m")


def _month_key(campaign_id: str, customer_id: str, at: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(CampaignCustomerMonth.campaign_id) == campaign_id,
        col(CampaignCustomerMonth.customer_id) == customer_id,
        col(CampaignCustomerMonth.month) == month_of(at),
    )


async def _lock_month(
    session: AsyncSession, campaign_id: str, customer_id: str, at: datetime
) -> Fen:
    """Create or lock the customer's month row and say what it has used.

    ``INSERT … ON CONFLICT DO UPDATE SET used = used RETURNING used`` is one statement on both
    engines: it locks the row on PostgreSQL (so two payments of one customer take turns at the
    monthly cap) and takes the write lock on SQLite before anything is read.
    """
    used = col(CampaignCustomerMonth.used)
    stmt = dialect_insert(session.get_bind().dialect.name, CampaignCustomerMonth).values(
        campaign_id=campaign_id, customer_id=customer_id, month=month_of(at), used=0
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            col(CampaignCustomerMonth.campaign_id),
            col(CampaignCustomerMonth.customer_id),
            col(CampaignCustomerMonth.month),
        ],
        set_={"used": used},
    )
    return int(await session.scalar(stmt.returning(used)) or 0)


async def _take_from_budget(session: AsyncSession, campaign_id: str, wanted: Fen) -> Fen:
    """Add up to ``wanted`` to ``spent`` without passing the budget; what was taken.

    The UPDATE only matches while ``spent + wanted <= budget``; PostgreSQL re-checks that after
    waiting for a concurrent draw's row lock, so a budget is never overdrawn. When it does not
    match, try again with what is left; each miss means other draws took budget meanwhile.
    """
    spent, budget = col(Campaign.spent), col(Campaign.budget)
    while wanted > 0:
        taken = await session.scalar(
            sa.update(Campaign)
            .where(col(Campaign.id) == campaign_id, spent + wanted <= budget)
            .values(spent=spent + wanted)
            .returning(col(Campaign.id))
            .execution_options(synchronize_session=False)
        )
        if taken is not None:
            return wanted
        left = await session.scalar(select(budget - spent).where(col(Campaign.id) == campaign_id))
        wanted = min(wanted, int(left or 0))
    return 0


async def draw_subsidy(
    session: AsyncSession,
    *,
    campaign: Campaign | None,
    customer_id: str,
    amount: Fen,
    litres_ml: int | None = None,
    at: datetime,
) -> Grant:
    """Take a payment's subsidy from ``campaign`` in the caller's transaction (flush only).

    Capped by the rule, what is left of the customer's month and what is left of the budget:
    when the budget runs out the payment proceeds with whatever was left, possibly nothing.
    ``litres_ml`` is needed for a per-litre subsidy. The campaign row stays locked until the
    caller commits, so keep the rest of that transaction short.
    """
    rule = subsidy_rule(campaign) if campaign is not None else None
    if campaign is None or rule is None:
        return NO_GRANT
    if campaign.product_type in CREDIT_PRODUCTS and await is_credit_excluded(session, customer_id):
        # Creating one is refused (``subsidy_payment_only``); this holds whatever the data says.
        log.info("campaign.credit_excluded", campaign_id=campaign.id)
        return NO_GRANT
    wanted = subsidy_for(rule, amount, litres_ml)
    if wanted == 0:
        return NO_GRANT
    used = await _lock_month(session, campaign.id, customer_id, at)
    wanted = min(wanted, rule.cap_per_customer_month - used)
    granted = await _take_from_budget(session, campaign.id, wanted) if wanted > 0 else 0
    if granted < wanted:
        log.info("campaign.budget_exhausted", campaign_id=campaign.id, wanted=wanted, got=granted)
    if granted == 0:
        return NO_GRANT
    await session.execute(
        sa.update(CampaignCustomerMonth)
        .where(_month_key(campaign.id, customer_id, at))
        .values(used=col(CampaignCustomerMonth.used) + granted)
        .execution_options(synchronize_session=False)
    )
    return Grant(campaign_id=campaign.id, amount=granted)


async def return_subsidy(
    session: AsyncSession, *, campaign_id: str, customer_id: str, amount: Fen, at: datetime
) -> None:
    """Give a refunded payment's subsidy back to the budget and to the customer's month.

    ``at`` is when the subsidised payment happened, so the month it counted in gets it back.
    Returning more than was drawn is a bug in the caller and raises ``ValueError``.
    """
    if amount < 0:
        raise ValueError("a returned subsidy cannot be negative")
    if amount == 0:
        return
    used = col(CampaignCustomerMonth.used)
    month = await session.scalar(
        sa.update(CampaignCustomerMonth)
        .where(_month_key(campaign_id, customer_id, at), used >= amount)
        .values(used=used - amount)
        .returning(used)
        .execution_options(synchronize_session=False)
    )
    if month is None:
        raise ValueError(f"{campaign_id} never granted {customer_id} {amount} fen that month")
    # ``spent`` includes every month's ``used``, so it covers this too (and the CHECK holds it).
    spent = col(Campaign.spent)
    await session.execute(
        sa.update(Campaign)
        .where(col(Campaign.id) == campaign_id)
        .values(spent=spent - amount)
        .execution_options(synchronize_session=False)
    )
