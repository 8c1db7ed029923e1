"""Partner onboarding logic: applications under maker-checker, partner lifecycle, credentials."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway import audit
from gateway.db import utcnow
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.ids import new_id
from gateway.partners import credentials
from gateway.partners.models import (
    ApplicationStatus,
    KeyStatus,
    Partner,
    PartnerApplication,
    PartnerKey,
    PartnerStatus,
)
from gateway.partners.schemas import ApplicationCreate
from gateway.pii import PiiVault
from gateway.settings import Settings
from gateway.settlement.contracts import create_default_contract
from gateway.staff.service import StaffIdentity

BASE_SCOPES = (
    "accounts:write",
    "accounts:read",
    "channels:read",
    "settlement:read",
    "webhooks:manage",
)
KEY_OVERLAP = timedelta(hours=24)
_PII_CONTEXT = "partner.pii"


class FourEyesViolation(Forbidden):
    code = "four_eyes_violation"


class PartnerSuspended(Forbidden):
    code = "partner_suspended"


def scopes_for(scenarios: list[str]) -> list[str]:
    return [*BASE_SCOPES, *(f"scenario:{s}" for s in scenarios)]


def seal_pii(vault: PiiVault, data: ApplicationCreate) -> str:
    payload = {
        "legal_representative": data.legal_representative,
        "contact": {
            "name": data.contact.name,
            "phone": data.contact.phone,
            "email": data.contact.email,
        },
        "settlement_account_no": data.settlement_account.account_no,
    }
    return vault.encrypt(json.dumps(payload, ensure_ascii=False), context=_PII_CONTEXT)


def open_pii(vault: PiiVault, sealed: str) -> dict[str, Any]:
    opened: dict[str, Any] = json.loads(vault.decrypt(sealed, context=_PII_CONTEXT))
    return opened


async def submit_application(
    session: AsyncSession, vault: PiiVault, data: ApplicationCreate
) -> PartnerApplication:
    application = PartnerApplication(
        id=new_id("pap"),
        legal_name=data.legal_name,
        uscc=data.uscc.upper(),
        scenarios=list(data.scenarios),
        cooperation_mode=data.cooperation_mode.value,
        settlement_account_name=data.settlement_account.account_name,
        webhook_url=data.webhook_url,
        jwks={"keys": data.jwks.keys},
        scenario_profile=data.scenario_profile,
        pii=seal_pii(vault, data),
    )
    session.add(application)
    audit.record(
        session,
        actor="applicant",
        action="partner_application.submitted",
        subject_type="partner_application",
        subject_id=application.id,
        after={"legal_name": data.legal_name, "scenarios": data.scenarios},
    )
    await session.flush()
    return application


async def get_application(session: AsyncSession, application_id: str) -> PartnerApplication:
    application = await session.get(PartnerApplication, application_id)
    if application is None:
        raise NotFound("No such application.")
    return application


def applications_query(status: str | None) -> SelectOfScalar[PartnerApplication]:
    """Applications, optionally in one status: the list the API and the console both show."""
    stmt = select(PartnerApplication)
    return stmt.where(col(PartnerApplication.status) == status) if status else stmt


async def _transition(
    session: AsyncSession, application_id: str, expected: ApplicationStatus, values: dict[str, Any]
) -> None:
    """Move an application on only if it is still in ``expected``; the loser of a race gets 409."""
    result = await session.execute(
        sa.update(PartnerApplication)
        .where(
            col(PartnerApplication.id) == application_id,
            col(PartnerApplication.status) == expected.value,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"The application is no longer {expected.value}.", code="state_conflict")


async def review(
    session: AsyncSession, application_id: str, staff: StaffIdentity, recommendation: str, note: str
) -> PartnerApplication:
    application = await get_application(session, application_id)
    await _transition(
        session,
        application_id,
        ApplicationStatus.SUBMITTED,
        {
            "status": ApplicationStatus.REVIEWED.value,
            "review_recommendation": recommendation,
            "review_note": note,
            "reviewed_by": staff.user_id,
            "reviewed_at": utcnow(),
        },
    )
    audit.record(
        session,
        actor=staff.actor,
        action="partner_application.reviewed",
        subject_type="partner_application",
        subject_id=application_id,
        before={"status": ApplicationStatus.SUBMITTED.value},
        after={"status": ApplicationStatus.REVIEWED.value, "recommendation": recommendation},
    )
    await session.refresh(application)
    return application


def _check_four_eyes(application: PartnerApplication, staff: StaffIdentity) -> None:
    if application.status != ApplicationStatus.REVIEWED:
        raise Conflict(
            f"The application is {application.status}, not reviewed.", code="state_conflict"
        )
    if application.reviewed_by == staff.user_id:
        raise FourEyesViolation("The person who reviewed an application cannot also decide it.")


async def approve(
    session: AsyncSession, settings: Settings, application_id: str, staff: StaffIdentity, note: str
) -> tuple[Partner, str]:
    """Approve a reviewed application: create the partner, its keys and its credentials."""
    application = await get_application(session, application_id)
    _check_four_eyes(application, staff)
    partner_id = new_id("ptn")
    await _transition(
        session,
        application_id,
        ApplicationStatus.REVIEWED,
        {
            "status": ApplicationStatus.APPROVED.value,
            "decision_note": note,
            "decided_by": staff.user_id,
            "decided_at": utcnow(),
            "partner_id": partner_id,
        },
    )
    secret = credentials.new_secret()
    partner = Partner(
        id=partner_id,
        application_id=application.id,
        legal_name=application.legal_name,
        uscc=application.uscc,
        scenarios=application.scenarios,
        cooperation_mode=application.cooperation_mode,
        webhook_url=application.webhook_url,
        scenario_profile=application.scenario_profile,
        settlement_account_name=application.settlement_account_name,
        pii=application.pii,
        client_id=new_id("cli"),
        client_secret_hash=credentials.hash_secret(settings, secret),
    )
    session.add(partner)
    await session.flush()
    await create_default_contract(session, partner, staff.actor)
    for jwk in application.jwks["keys"]:
        session.add(PartnerKey(id=new_id("key"), partner_id=partner_id, kid=jwk["kid"], jwk=jwk))
    audit.record(
        session,
        actor=staff.actor,
        action="partner_application.approved",
        subject_type="partner_application",
        subject_id=application_id,
        before={"status": ApplicationStatus.REVIEWED.value},
        after={"status": ApplicationStatus.APPROVED.value, "partner_id": partner_id},
    )
    await session.flush()
    return partner, secret


async def reject(
    session: AsyncSession, application_id: str, staff: StaffIdentity, reason: str
) -> PartnerApplication:
    application = await get_application(session, application_id)
    _check_four_eyes(application, staff)
    await _transition(
        session,
        application_id,
        ApplicationStatus.REVIEWED,
        {
            "status": ApplicationStatus.REJECTED.value,
            "decision_note": reason,
            "decided_by": staff.user_id,
            "decided_at": utcnow(),
        },
    )
    audit.record(
        session,
        actor=staff.actor,
        action="partner_application.rejected",
        subject_type="partner_application",
        subject_id=application_id,
        before={"status": ApplicationStatus.REVIEWED.value},
        after={"status": ApplicationStatus.REJECTED.value, "reason": reason},
    )
    await session.refresh(application)
    return application


async def get_partner(
    session: AsyncSession, partner_id: str, *, for_update: bool = False
) -> Partner:
    stmt = select(Partner).where(col(Partner.id) == partner_id)
    if for_update:
        stmt = stmt.with_for_update()
    partner = await session.scalar(stmt)
    if partner is None:
        raise NotFound("No such partner.")
    return partner


def partners_query(status: str | None) -> SelectOfScalar[Partner]:
    stmt = select(Partner)
    return stmt.where(col(Partner.status) == status) if status else stmt


_LIFECYCLE: dict[str, tuple[set[PartnerStatus], PartnerStatus]] = {
    "suspend": ({PartnerStatus.ACTIVE}, PartnerStatus.SUSPENDED),
    "reactivate": ({PartnerStatus.SUSPENDED}, PartnerStatus.ACTIVE),
    "terminate": ({PartnerStatus.ACTIVE, PartnerStatus.SUSPENDED}, PartnerStatus.TERMINATED),
}


async def change_status(
    session: AsyncSession, partner_id: str, staff: StaffIdentity, action: str, reason: str | None
) -> Partner:
    """Suspend, reactivate or terminate; termination also revokes credentials and keys."""
    allowed_from, target = _LIFECYCLE[action]
    partner = await get_partner(session, partner_id, for_update=True)
    before = partner.status
    if PartnerStatus(before) not in allowed_from:
        raise Conflict(f"A {before} partner cannot be {target.value}.", code="state_conflict")
    partner.status = target.value
    partner.status_reason = reason
    partner.updated_at = utcnow()
    if target is PartnerStatus.TERMINATED:
        partner.client_secret_hash = credentials.REVOKED
        await session.execute(
            sa.update(PartnerKey)
            .where(col(PartnerKey.partner_id) == partner_id)
            .values(status=KeyStatus.RETIRED.value)
        )
    audit.record(
        session,
        actor=staff.actor,
        action=f"partner.{target.value}",
        subject_type="partner",
        subject_id=partner_id,
        before={"status": before},
        after={"status": target.value, "reason": reason},
    )
    await session.flush()
    return partner


async def rotate_secret(
    session: AsyncSession, settings: Settings, partner_id: str, staff: StaffIdentity
) -> str:
    partner = await get_partner(session, partner_id, for_update=True)
    if partner.status == PartnerStatus.TERMINATED:
        raise Conflict("A terminated partner has no credentials.", code="state_conflict")
    secret = credentials.new_secret()
    partner.client_secret_hash = credentials.hash_secret(settings, secret)
    partner.updated_at = utcnow()
    audit.record(
        session,
        actor=staff.actor,
        action="partner.secret_rotated",
        subject_type="partner",
        subject_id=partner_id,
    )
    await session.flush()
    return secret


_PARTNERS: sa.Table = Partner.__table__  # type: ignore[attr-defined]
_KEYS: sa.Table = PartnerKey.__table__  # type: ignore[attr-defined]
# Built once: the front door runs it on every signed call (SQLAlchemy caches its compiled form).
_CALLER = (
    sa.select(_PARTNERS, _KEYS)
    .select_from(sa.outerjoin(_PARTNERS, _KEYS, _KEYS.c.partner_id == _PARTNERS.c.id))
    .where(_PARTNERS.c.id == sa.bindparam("partner_id"))
    .order_by(_KEYS.c.created_at)
)


async def load_caller(
    connection: AsyncConnection, partner_id: str
) -> tuple[Partner, list[PartnerKey]] | None:
    """The partner and all its keys in one round trip, on SQLAlchemy Core.

    The front door runs this on every signed call, where ORM loading through a session cost
    several times as much (docs/performance.md). The objects come back detached, like those of a
    closed session, and are only read.
    """
    rows = (await connection.execute(_CALLER, {"partner_id": partner_id})).all()
    if not rows:
        return None
    width = len(_PARTNERS.columns)
    partner = Partner(**dict(zip(_PARTNERS.columns.keys(), rows[0][:width], strict=True)))
    keys = [
        PartnerKey(**dict(zip(_KEYS.columns.keys(), row[width:], strict=True)))
        for row in rows
        if row[width] is not None
    ]
    return partner, keys


async def keys_of(
    session: AsyncSession, partner_id: str, *, usable_only: bool = False
) -> list[PartnerKey]:
    stmt = select(PartnerKey).where(col(PartnerKey.partner_id) == partner_id)
    if usable_only:
        stmt = stmt.where(col(PartnerKey.status) != KeyStatus.RETIRED.value)
    return list((await session.scalars(stmt.order_by(col(PartnerKey.created_at)))).all())


async def replace_jwks(
    session: AsyncSession, partner: Partner, keys: list[dict[str, Any]]
) -> list[PartnerKey]:
    """Register a new key set; keys that leave the set keep working for a grace period.

    A departing key becomes ``retiring``: still accepted until one of the new keys is first used
    or 24 hours pass, so a partner can roll its fleet without a window of rejected calls.
    """
    current = {k.kid: k for k in await keys_of(session, partner.id)}
    new_kids = {k["kid"] for k in keys}
    retire_after = utcnow() + KEY_OVERLAP
    for kid, key in current.items():
        if kid not in new_kids and key.status == KeyStatus.ACTIVE:
            key.status = KeyStatus.RETIRING.value
            key.retire_after = retire_after
    for jwk in keys:
        existing = current.get(jwk["kid"])
        if existing is None:
            session.add(
                PartnerKey(id=new_id("key"), partner_id=partner.id, kid=jwk["kid"], jwk=jwk)
            )
        elif existing.jwk != jwk:
            raise Conflict(
                f"kid {jwk['kid']!r} is registered with different key material.",
                code="kid_conflict",
            )
        else:
            existing.status = KeyStatus.ACTIVE.value
            existing.retire_after = None
    audit.record(
        session,
        actor=f"partner:{partner.id}",
        action="partner.keys_replaced",
        subject_type="partner",
        subject_id=partner.id,
        before={"kids": sorted(current)},
        after={"kids": sorted(new_kids)},
    )
    await session.flush()
    return await keys_of(session, partner.id)


async def update_webhook(session: AsyncSession, partner: Partner, webhook_url: str | None) -> None:
    before = partner.webhook_url
    partner.webhook_url = webhook_url
    partner.updated_at = utcnow()
    audit.record(
        session,
        actor=f"partner:{partner.id}",
        action="partner.webhook_updated",
        subject_type="partner",
        subject_id=partner.id,
        before={"webhook_url": before},
        after={"webhook_url": webhook_url},
    )
    await session.flush()
