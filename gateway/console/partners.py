"""Partners: their status, scopes and keys, and the checker's lifecycle actions."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlmodel import col

from gateway.console.forms import form_as
from gateway.console.pages import PARTNERS, credentials_page, guard, list_page, page
from gateway.deps import AppSettings, DbSession, Staff, Vault
from gateway.partners import service
from gateway.partners.models import Partner, PartnerStatus
from gateway.partners.schemas import ReasonBody
from gateway.partners.views import partner_read
from gateway.staff.models import Role


@get("/partners", dependencies=PARTNERS.guard())
async def partner_list(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff: Staff,
    status: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    return await list_page(
        request,
        db_session,
        staff,
        service.partners_query(status or None),
        col(Partner.id),
        cursor,
        template="partners/list.html",
        rows_template="partners/_rows.html",
        status=status or "",
        statuses=[s.value for s in PartnerStatus],
    )


@get("/partners/{partner_id:str}", dependencies=PARTNERS.guard())
async def partner_detail(
    partner_id: FromPath[str], db_session: DbSession, staff: Staff, vault: Vault
) -> Template:
    partner = await service.get_partner(db_session, partner_id)
    return page(
        "partners/detail.html",
        staff,
        partner=partner_read(partner, await service.keys_of(db_session, partner_id), vault),
        status_reason=partner.status_reason,
        can_act=staff.has(Role.OPS_CHECKER),
    )


async def _change(
    request: Request[Any, Any, Any],
    partner_id: str,
    action: str,
    db_session: DbSession,
    staff: Staff,
) -> Redirect:
    reason = (await form_as(request, ReasonBody)).reason if action != "reactivate" else None
    await service.change_status(db_session, partner_id, staff, action, reason)
    return Redirect(f"{PARTNERS.path}/{partner_id}", status_code=303)


@post("/partners/{partner_id:str}/suspend", dependencies=guard(Role.OPS_CHECKER))
async def suspend_partner(
    request: Request[Any, Any, Any], partner_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Redirect:
    return await _change(request, partner_id, "suspend", db_session, staff)


@post("/partners/{partner_id:str}/reactivate", dependencies=guard(Role.OPS_CHECKER))
async def reactivate_partner(
    request: Request[Any, Any, Any], partner_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Redirect:
    return await _change(request, partner_id, "reactivate", db_session, staff)


@post("/partners/{partner_id:str}/terminate", dependencies=guard(Role.OPS_CHECKER))
async def terminate_partner(
    request: Request[Any, Any, Any], partner_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Redirect:
    return await _change(request, partner_id, "terminate", db_session, staff)


@post("/partners/{partner_id:str}/rotate-secret", dependencies=guard(Role.OPS_CHECKER))
async def rotate_secret(
    partner_id: FromPath[str], db_session: DbSession, staff: Staff, settings: AppSettings
) -> Template:
    """Issue a new client secret and show it once, as approval does."""
    secret = await service.rotate_secret(db_session, settings, partner_id, staff)
    partner = await service.get_partner(db_session, partner_id)
    return credentials_page(staff, partner_id, partner.client_id, secret)


ROUTES = [
    partner_list,
    partner_detail,
    suspend_partner,
    reactivate_partner,
    terminate_partner,
    rotate_secret,
]
