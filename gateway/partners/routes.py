"""Partner onboarding routes: the public application form, bank operations, partner self-service."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col

from gateway.deps import AppSettings, CurrentPartner, DbSession, Staff, Vault
from gateway.errors import TooManyRequests, ValidationFailed
from gateway.net import check_outbound_url
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners import service
from gateway.partners.models import Partner, PartnerApplication
from gateway.partners.schemas import (
    ApplicationCreate,
    ApplicationRead,
    ApplicationStatusRead,
    ApproveCreate,
    Credentials,
    Jwks,
    PartnerRead,
    ReasonBody,
    RejectCreate,
    ReviewCreate,
    WebhookUpdate,
)
from gateway.partners.validation import jwks_errors, validate_application
from gateway.partners.views import application_read, partner_read
from gateway.staff.guards import require_role
from gateway.staff.models import Role

APPLICATION_BODY_LIMIT = 64 * 1024
APPLICATIONS_PER_MINUTE = 30
_ops = {"staff": Provide(require_role(Role.OPS_MAKER, Role.OPS_CHECKER, Role.AUDITOR))}
_maker = {"staff": Provide(require_role(Role.OPS_MAKER))}
_checker = {"staff": Provide(require_role(Role.OPS_CHECKER))}


async def _limit_applicant(request: Request[Any, Any, Any]) -> None:
    client = request.client.host if request.client else "unknown"
    decision = await request.app.state.limits.take(
        f"apply:{client}", APPLICATIONS_PER_MINUTE / 60, APPLICATIONS_PER_MINUTE
    )
    if not decision.allowed:
        raise TooManyRequests(
            "Too many applications from this address.", headers=decision.headers()
        )


@post(
    "/v1/partner-applications",
    tags=["onboarding"],
    summary="Apply to become a partner (no authentication; rate limited per IP)",
    request_max_body_size=APPLICATION_BODY_LIMIT,
)
async def submit_application(
    request: Request[Any, Any, Any],
    data: JSONBody[ApplicationCreate],
    db_session: DbSession,
    vault: Vault,
    settings: AppSettings,
) -> ApplicationStatusRead:
    await _limit_applicant(request)
    await validate_application(data, settings)
    application = await service.submit_application(db_session, vault, data)
    return ApplicationStatusRead(id=application.id, status=application.status)


@get(
    "/v1/partner-applications/{application_id:str}",
    tags=["onboarding"],
    summary="Status of an application",
)
async def application_status(
    application_id: FromPath[str], db_session: DbSession
) -> ApplicationStatusRead:
    application = await service.get_application(db_session, application_id)
    return ApplicationStatusRead(id=application.id, status=application.status)


@get(
    "/admin/v1/partner-applications",
    tags=["onboarding"],
    dependencies=_ops,
    summary="List applications",
)
async def list_applications(
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
    status: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[ApplicationRead]:
    rows, next_cursor = await paginate(
        db_session,
        service.applications_query(status),
        col(PartnerApplication.id),
        limit=limit,
        cursor=cursor,
    )
    return Page(data=[application_read(r, vault) for r in rows], next_cursor=next_cursor)


@get("/admin/v1/partner-applications/{application_id:str}", tags=["onboarding"], dependencies=_ops)
async def get_application(
    application_id: FromPath[str], db_session: DbSession, staff: Staff, vault: Vault
) -> ApplicationRead:
    return application_read(await service.get_application(db_session, application_id), vault)


@post(
    "/admin/v1/partner-applications/{application_id:str}/review",
    tags=["onboarding"],
    dependencies=_maker,
    status_code=200,
    summary="Maker's review with a recommendation",
)
async def review_application(
    application_id: FromPath[str],
    data: JSONBody[ReviewCreate],
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
) -> ApplicationRead:
    application = await service.review(
        db_session, application_id, staff, data.recommendation, data.note
    )
    return application_read(application, vault)


@post(
    "/admin/v1/partner-applications/{application_id:str}/approve",
    tags=["onboarding"],
    dependencies=_checker,
    status_code=200,
    summary="Checker's approval (not the reviewer): creates the partner and its credentials",
)
async def approve_application(
    application_id: FromPath[str],
    data: JSONBody[ApproveCreate],
    db_session: DbSession,
    staff: Staff,
    settings: AppSettings,
) -> Credentials:
    partner, secret = await service.approve(db_session, settings, application_id, staff, data.note)
    return Credentials(partner_id=partner.id, client_id=partner.client_id, client_secret=secret)


@post(
    "/admin/v1/partner-applications/{application_id:str}/reject",
    tags=["onboarding"],
    dependencies=_checker,
    status_code=200,
)
async def reject_application(
    application_id: FromPath[str],
    data: JSONBody[RejectCreate],
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
) -> ApplicationRead:
    return application_read(
        await service.reject(db_session, application_id, staff, data.reason), vault
    )


@get("/admin/v1/partners", tags=["partners"], dependencies=_ops)
async def list_partners(
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
    status: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[PartnerRead]:
    rows, next_cursor = await paginate(
        db_session, service.partners_query(status), col(Partner.id), limit=limit, cursor=cursor
    )
    data = [partner_read(p, await service.keys_of(db_session, p.id), vault) for p in rows]
    return Page(data=data, next_cursor=next_cursor)


@get("/admin/v1/partners/{partner_id:str}", tags=["partners"], dependencies=_ops)
async def get_partner(
    partner_id: FromPath[str], db_session: DbSession, staff: Staff, vault: Vault
) -> PartnerRead:
    partner = await service.get_partner(db_session, partner_id)
    return partner_read(partner, await service.keys_of(db_session, partner_id), vault)


async def _lifecycle(
    action: str,
    partner_id: FromPath[str],
    reason: str | None,
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
) -> PartnerRead:
    partner = await service.change_status(db_session, partner_id, staff, action, reason)
    return partner_read(partner, await service.keys_of(db_session, partner_id), vault)


@post(
    "/admin/v1/partners/{partner_id:str}/suspend",
    tags=["partners"],
    dependencies=_checker,
    status_code=200,
)
async def suspend_partner(
    partner_id: FromPath[str],
    data: JSONBody[ReasonBody],
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
) -> PartnerRead:
    return await _lifecycle("suspend", partner_id, data.reason, db_session, staff, vault)


@post(
    "/admin/v1/partners/{partner_id:str}/reactivate",
    tags=["partners"],
    dependencies=_checker,
    status_code=200,
)
async def reactivate_partner(
    partner_id: FromPath[str], db_session: DbSession, staff: Staff, vault: Vault
) -> PartnerRead:
    return await _lifecycle("reactivate", partner_id, None, db_session, staff, vault)


@post(
    "/admin/v1/partners/{partner_id:str}/terminate",
    tags=["partners"],
    dependencies=_checker,
    status_code=200,
)
async def terminate_partner(
    partner_id: FromPath[str],
    data: JSONBody[ReasonBody],
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
) -> PartnerRead:
    return await _lifecycle("terminate", partner_id, data.reason, db_session, staff, vault)


@post(
    "/admin/v1/partners/{partner_id:str}/rotate-secret",
    tags=["partners"],
    dependencies=_checker,
    status_code=200,
)
async def rotate_secret(
    partner_id: FromPath[str], db_session: DbSession, staff: Staff, settings: AppSettings
) -> Credentials:
    secret = await service.rotate_secret(db_session, settings, partner_id, staff)
    partner = await service.get_partner(db_session, partner_id)
    return Credentials(partner_id=partner_id, client_id=partner.client_id, client_secret=secret)


@get("/partners/me", tags=["partners"], summary="The calling partner")
async def me(partner: CurrentPartner, request: Request[Any, Any, Any]) -> PartnerRead:
    # The vault comes from the app state, not as a second dependency: Litestar resolves two
    # dependencies in an anyio task group, ~90 µs of a ~1 ms signed read (docs/performance.md).
    return partner_read(partner.partner, partner.keys, request.app.state.vault)


@put(
    "/partners/me/jwks",
    tags=["partners"],
    summary="Rotate signing keys (old keys get a grace period)",
)
async def replace_jwks(
    data: JSONBody[Jwks], partner: CurrentPartner, db_session: DbSession, vault: Vault
) -> PartnerRead:
    errors = jwks_errors({"keys": data.keys})
    if errors:
        raise ValidationFailed("The key set did not validate.", code="jwks_invalid", errors=errors)
    fresh = await service.get_partner(db_session, partner.id, for_update=True)
    keys = await service.replace_jwks(db_session, fresh, data.keys)
    return partner_read(fresh, keys, vault)


@put("/partners/me/webhook", tags=["partners"], summary="Set or clear the webhook URL")
async def update_webhook(
    data: JSONBody[WebhookUpdate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    settings: AppSettings,
) -> PartnerRead:
    if data.webhook_url is not None:
        await check_outbound_url(data.webhook_url, settings, field="webhook_url")
    fresh = await service.get_partner(db_session, partner.id, for_update=True)
    await service.update_webhook(db_session, fresh, data.webhook_url)
    return partner_read(fresh, await service.keys_of(db_session, partner.id), vault)


@get("/.well-known/jwks.json", tags=["oauth"], summary="The gateway's public signing keys")
async def gateway_jwks(request: Request[Any, Any, Any]) -> dict[str, Any]:
    jwks: dict[str, Any] = request.app.state.key_ring.jwks()
    return jwks


ADMIN_ROUTES = [
    list_applications,
    get_application,
    review_application,
    approve_application,
    reject_application,
    list_partners,
    get_partner,
    suspend_partner,
    reactivate_partner,
    terminate_partner,
    rotate_secret,
]
PUBLIC_ROUTES = [submit_application, application_status, gateway_jwks]
PARTNER_ROUTES = [me, replace_jwks, update_webhook]
