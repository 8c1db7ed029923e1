"""Partner contracts (DESIGN §10): fee rates per scenario, the settlement cycle, the incentive
scheme and the settlement account, versioned with the business date each version takes effect.

A contract is never edited: a change is a new version, audited, effective from a date that has
not been settled yet, so a settled day always keeps the terms it was settled under.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.clock import business_date_of
from gateway.db import utcnow
from gateway.errors import FieldError, NotFound, ValidationFailed
from gateway.ids import new_id
from gateway.partners.models import Partner
from gateway.pii import PiiVault
from gateway.settlement.models import PartnerContract
from gateway.settlement.schedule import start_schedule
from gateway.settlement.schemas import ContractUpdate

DEFAULT_FEE_BPS = 30
# The incentive scheme each cooperation mode starts with (DESIGN §7).
SCHEMES = {"most_favored": "tiered_bounty", "joint_operation": "revenue_share"}
DEFAULT_SCHEME = "bounty"
ACCOUNT_CONTEXT = "contract.settlement_account_no"


def default_contract(partner: Partner, actor: str) -> PartnerContract:
    return PartnerContract(
        id=new_id("ctr"),
        partner_id=partner.id,
        version=1,
        fee_bps=dict.fromkeys(partner.scenarios, DEFAULT_FEE_BPS),
        incentive_scheme=SCHEMES.get(partner.cooperation_mode, DEFAULT_SCHEME),
        effective_from=business_date_of(partner.created_at),
        created_by=actor,
    )


async def _partner(session: AsyncSession, partner_id: str) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("No such partner.")
    return partner


async def create_default_contract(session: AsyncSession, partner: Partner, actor: str) -> None:
    """Version 1, written when the partner is approved (flush only); the first partner starts
    the daily settlement schedule."""
    session.add(default_contract(partner, actor))
    await session.flush()
    await start_schedule(session)


async def contract_in_force(session: AsyncSession, partner_id: str, on: date) -> PartnerContract:
    """The version in force on ``on``; a partner approved before contracts existed gets its
    default version 1 the first time one is needed."""
    contract = await session.scalar(
        select(PartnerContract)
        .where(
            col(PartnerContract.partner_id) == partner_id,
            col(PartnerContract.effective_from) <= on,
        )
        .order_by(col(PartnerContract.version).desc())
        .limit(1)
    )
    if contract is not None:
        return contract
    first = await session.scalar(
        select(PartnerContract)
        .where(col(PartnerContract.partner_id) == partner_id)
        .order_by(col(PartnerContract.version))
        .limit(1)
    )
    if first is not None:  # every version starts later: the first one governs the days before
        return first
    contract = default_contract(await _partner(session, partner_id), "system")
    contract.effective_from = date.min
    session.add(contract)
    await session.flush()
    return contract


async def contract_versions(session: AsyncSession, partner_id: str) -> list[PartnerContract]:
    await _partner(session, partner_id)
    return list(
        (
            await session.scalars(
                select(PartnerContract)
                .where(col(PartnerContract.partner_id) == partner_id)
                .order_by(col(PartnerContract.version).desc())
            )
        ).all()
    )


async def change_contract(
    session: AsyncSession, vault: PiiVault, partner_id: str, data: ContractUpdate, actor: str
) -> PartnerContract:
    """A new version of the partner's contract (role ``ops_checker``), audited."""
    partner = await _partner(session, partner_id)
    today = business_date_of(utcnow())
    effective = data.effective_from or today
    errors = [
        FieldError(f"fee_bps.{s}", "scenario_not_enabled", "Not one of the partner's scenarios.")
        for s in data.fee_bps
        if s not in partner.scenarios
    ]
    if effective < today:
        errors.append(
            FieldError("effective_from", "effective_date_past", "A settled past stays as it is.")
        )
    if errors:
        raise ValidationFailed("The contract did not validate.", errors=errors)
    current = await contract_in_force(session, partner_id, effective)
    latest = await session.scalar(
        select(sa.func.max(PartnerContract.version)).where(
            col(PartnerContract.partner_id) == partner_id
        )
    )
    account = data.settlement_account
    contract = PartnerContract(
        id=new_id("ctr"),
        partner_id=partner_id,
        version=int(latest or 0) + 1,
        fee_bps={**current.fee_bps, **data.fee_bps},
        cycle_days=data.cycle_days or current.cycle_days,
        incentive_scheme=data.incentive_scheme or current.incentive_scheme,
        settlement_account_name=account.account_name
        if account
        else current.settlement_account_name,
        settlement_account_no=(
            vault.encrypt(account.account_no, context=ACCOUNT_CONTEXT)
            if account
            else current.settlement_account_no
        ),
        effective_from=effective,
        created_by=actor,
    )
    session.add(contract)
    audit.record(
        session,
        actor=actor,
        action="partner_contract.changed",
        subject_type="partner",
        subject_id=partner_id,
        before={"version": current.version, "fee_bps": current.fee_bps},
        after={
            "version": contract.version,
            "fee_bps": contract.fee_bps,
            "cycle_days": contract.cycle_days,
            "incentive_scheme": contract.incentive_scheme,
            "settlement_account_changed": account is not None,
            "effective_from": effective.isoformat(),
        },
    )
    await session.flush()
    return contract
