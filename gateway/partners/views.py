"""Response shapes built from the tables, with personal data masked."""

from __future__ import annotations

from gateway.partners.models import Partner, PartnerApplication, PartnerKey
from gateway.partners.schemas import ApplicationRead, KeyRead, PartnerRead
from gateway.partners.service import open_pii, scopes_for
from gateway.pii import PiiVault, mask_account, mask_name, mask_phone


def _mask_email(value: str) -> str:
    user, _, domain = value.partition("@")
    return f"{user[:1]}***@{domain}"


def application_read(app: PartnerApplication, vault: PiiVault) -> ApplicationRead:
    pii = open_pii(vault, app.pii)
    review = (
        {
            "recommendation": app.review_recommendation,
            "note": app.review_note,
            "by": app.reviewed_by,
            "at": app.reviewed_at,
        }
        if app.reviewed_by
        else None
    )
    decision = (
        {"note": app.decision_note, "by": app.decided_by, "at": app.decided_at}
        if app.decided_by
        else None
    )
    return ApplicationRead(
        id=app.id,
        status=app.status,
        legal_name=app.legal_name,
        uscc=app.uscc,
        legal_representative=mask_name(pii["legal_representative"]),
        contact={
            "name": mask_name(pii["contact"]["name"]),
            "phone": mask_phone(pii["contact"]["phone"]),
            "email": _mask_email(pii["contact"]["email"]),
        },
        scenarios=app.scenarios,
        cooperation_mode=app.cooperation_mode,
        settlement_account={
            "account_name": app.settlement_account_name,
            "account_no": mask_account(pii["settlement_account_no"]),
        },
        webhook_url=app.webhook_url,
        scenario_profile=app.scenario_profile,
        jwks_kids=[k["kid"] for k in app.jwks["keys"]],
        review=review,
        decision=decision,
        partner_id=app.partner_id,
        created_at=app.created_at,
    )


def partner_read(partner: Partner, keys: list[PartnerKey], vault: PiiVault) -> PartnerRead:
    pii = open_pii(vault, partner.pii)
    return PartnerRead(
        id=partner.id,
        legal_name=partner.legal_name,
        uscc=partner.uscc,
        status=partner.status,
        scenarios=partner.scenarios,
        scopes=scopes_for(partner.scenarios),
        cooperation_mode=partner.cooperation_mode,
        webhook_url=partner.webhook_url,
        scenario_profile=partner.scenario_profile,
        settlement_account={
            "account_name": partner.settlement_account_name,
            "account_no": mask_account(pii["settlement_account_no"]),
        },
        client_id=partner.client_id,
        keys=[KeyRead(kid=k.kid, status=k.status, retire_after=k.retire_after) for k in keys],
        rate_limit={
            "per_second": partner.rate_limit_per_second,
            "burst": float(partner.rate_limit_burst),
        },
        created_at=partner.created_at,
    )
