"""Partner applications: the queue, the masked detail, the maker's review, the checker's decision.

The four-eyes rule is shown here (the reviewer sees why the decision buttons are off) but
enforced by :mod:`gateway.partners.service`, which refuses the reviewer whatever the page showed.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlmodel import col

from gateway.console.forms import form_as
from gateway.console.pages import APPLICATIONS, credentials_page, guard, list_page, page
from gateway.deps import AppSettings, DbSession, Staff, Vault
from gateway.partners import service
from gateway.partners.models import ApplicationStatus, PartnerApplication
from gateway.partners.schemas import ApproveCreate, RejectCreate, ReviewCreate
from gateway.partners.views import application_read
from gateway.staff.models import Role
from gateway.staff.service import usernames


@get("/applications", dependencies=APPLICATIONS.guard())
async def application_list(
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
        service.applications_query(status or None),
        col(PartnerApplication.id),
        cursor,
        template="applications/list.html",
        rows_template="applications/_rows.html",
        status=status or "",
        statuses=[s.value for s in ApplicationStatus],
    )


@get("/applications/{application_id:str}", dependencies=APPLICATIONS.guard())
async def application_detail(
    application_id: FromPath[str], db_session: DbSession, staff: Staff, vault: Vault
) -> Template:
    application = await service.get_application(db_session, application_id)
    names = await usernames(db_session, [application.reviewed_by, application.decided_by])
    submitted = application.status == ApplicationStatus.SUBMITTED
    reviewed = application.status == ApplicationStatus.REVIEWED
    return page(
        "applications/detail.html",
        staff,
        app=application_read(application, vault),
        names=names,
        can_review=submitted and staff.has(Role.OPS_MAKER),
        can_decide=reviewed and staff.has(Role.OPS_CHECKER),
        own_review=application.reviewed_by == staff.user_id,
    )


@post("/applications/{application_id:str}/review", dependencies=guard(Role.OPS_MAKER))
async def review_application(
    request: Request[Any, Any, Any],
    application_id: FromPath[str],
    db_session: DbSession,
    staff: Staff,
) -> Redirect:
    data = await form_as(request, ReviewCreate)
    await service.review(db_session, application_id, staff, data.recommendation, data.note)
    return Redirect(f"{APPLICATIONS.path}/{application_id}", status_code=303)


@post("/applications/{application_id:str}/approve", dependencies=guard(Role.OPS_CHECKER))
async def approve_application(
    request: Request[Any, Any, Any],
    application_id: FromPath[str],
    db_session: DbSession,
    staff: Staff,
    settings: AppSettings,
) -> Template:
    """Approve and show the new credentials once: the secret is never stored in clear."""
    data = await form_as(request, ApproveCreate)
    partner, secret = await service.approve(db_session, settings, application_id, staff, data.note)
    return credentials_page(staff, partner.id, partner.client_id, secret)


@post("/applications/{application_id:str}/reject", dependencies=guard(Role.OPS_CHECKER))
async def reject_application(
    request: Request[Any, Any, Any],
    application_id: FromPath[str],
    db_session: DbSession,
    staff: Staff,
) -> Redirect:
    data = await form_as(request, RejectCreate)
    await service.reject(db_session, application_id, staff, data.reason)
    return Redirect(f"{APPLICATIONS.path}/{application_id}", status_code=303)


ROUTES = [
    application_list,
    application_detail,
    review_application,
    approve_application,
    reject_application,
]
