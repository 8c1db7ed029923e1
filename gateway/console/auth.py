"""Signing in and out of the console (a local password, or single sign-on when configured), the
language switch and the landing page."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from litestar import Request, Response, get, post
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from gateway import audit
from gateway.console import oidc
from gateway.console.forms import form_field
from gateway.console.i18n import LANG_COOKIE, LOCALES
from gateway.console.pages import guard, page, sections_for
from gateway.console.session import (
    LANG_MAX_AGE,
    PREFIX,
    SESSION_COOKIE,
    console_cookie,
    session_cookie,
)
from gateway.deps import AppSettings, DbSession, Staff
from gateway.errors import NotFound, TooManyRequests
from gateway.settings import Settings
from gateway.staff.service import InvalidCredentials, authenticate, by_oidc_subject, issue_token

log = structlog.get_logger(__name__)
HOME = PREFIX + "/"
UNKNOWN_SUBJECT = "oidc_unknown_subject"


def local_target(value: str | None) -> str:
    """Where to go after a form: a console path only, so ``next`` cannot send anyone off-site."""
    if value and (value == PREFIX or value.startswith(HOME)) and "\\" not in value:
        return value
    return HOME


def login_page(
    settings: Settings,
    target: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
    cookies: list[Any] | None = None,
) -> Template:
    template = page(
        "login.html",
        None,
        status_code=status_code,
        next=target,
        error=error,
        username=username,
        sso=settings.oidc_enabled,
    )
    template.cookies = [*template.cookies, *(cookies or [])]
    return template


@get("/login")
async def login_form(
    settings: AppSettings,
    next_: Annotated[str | None, QueryParameter(name="next")] = None,
) -> Template:
    return login_page(settings, local_target(next_))


@post("/login")
async def login(
    request: Request[Any, Any, Any], db_session: DbSession, settings: AppSettings
) -> Response[Any]:
    username = await form_field(request, "username")
    target = local_target(await form_field(request, "next"))
    try:
        user = await authenticate(
            db_session,
            request.app.state.limits,
            settings,
            username,
            await form_field(request, "password"),
        )
    except (InvalidCredentials, TooManyRequests) as e:
        return login_page(settings, target, status_code=e.status, error=e.code, username=username)
    cookie = session_cookie(settings, issue_token(settings, user))
    return Redirect(target, status_code=303, cookies=[cookie])


@get("/login/oidc")
async def sso_start(
    settings: AppSettings,
    next_: Annotated[str | None, QueryParameter(name="next")] = None,
) -> Response[Any]:
    """Send the browser to the identity provider, remembering this flow in a sealed cookie."""
    if not settings.oidc_enabled:
        raise NotFound("Single sign-on is not configured.")
    flow = oidc.new_flow(local_target(next_))
    try:
        url = await oidc.authorization_url(settings, flow)
    except oidc.ProviderUnavailable as e:
        log.warning("console.oidc_unavailable", detail=e.detail)
        return login_page(settings, flow.next, status_code=e.status, error=e.code)
    sealed = console_cookie(
        settings, oidc.FLOW_COOKIE, oidc.seal(settings, flow), oidc.FLOW_SECONDS
    )
    return Redirect(url, status_code=303, cookies=[sealed])


@get("/login/oidc/callback")
async def sso_callback(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    settings: AppSettings,
    state_: Annotated[str | None, QueryParameter(name="state")] = None,
    code: FromQuery[str | None] = None,
    error: FromQuery[str | None] = None,
) -> Response[Any]:
    """Finish single sign-on: a valid ID token whose subject is linked to an active account.

    Answers that fail verification are logged, not audited: anyone can call this URL, and the
    audit log is not for unauthenticated noise. A valid token for an unlinked subject is
    audited, since the provider vouched for a real person who was turned away.
    """
    if not settings.oidc_enabled:
        raise NotFound("Single sign-on is not configured.")
    clear = console_cookie(settings, oidc.FLOW_COOKIE, "", 0)
    target = HOME
    try:
        flow = oidc.unseal(settings, request.cookies.get(oidc.FLOW_COOKIE))
        target = flow.next
        if error:
            raise oidc.SignOnFailed(f"The identity provider answered {error!r}.")
        subject = await oidc.subject_of(settings, flow, state_, code)
    except (oidc.SignOnFailed, oidc.ProviderUnavailable) as e:
        log.warning("console.oidc_refused", code=e.code, detail=e.detail)
        return login_page(settings, target, status_code=e.status, error=e.code, cookies=[clear])
    user = await by_oidc_subject(db_session, subject)
    if user is None:
        audit.record(
            db_session,
            actor=f"oidc:{subject}",
            action="staff.sign_in_refused",
            subject_type="oidc_subject",
            subject_id=subject,
            after={"method": "oidc", "issuer": settings.oidc_issuer, "reason": UNKNOWN_SUBJECT},
        )
        return login_page(settings, target, status_code=403, error=UNKNOWN_SUBJECT, cookies=[clear])
    audit.record(
        db_session,
        actor=f"staff:{user.username}",
        action="staff.signed_in",
        subject_type="staff_user",
        subject_id=user.id,
        after={"method": "oidc", "issuer": settings.oidc_issuer, "subject": subject},
    )
    session = session_cookie(settings, issue_token(settings, user))
    return Redirect(target, status_code=303, cookies=[session, clear])


@post("/logout")
async def logout(settings: AppSettings) -> Redirect:
    clear = console_cookie(settings, SESSION_COOKIE, "", 0)
    return Redirect(f"{PREFIX}/login", status_code=303, cookies=[clear])


@post("/language")
async def switch_language(request: Request[Any, Any, Any], settings: AppSettings) -> Redirect:
    """Remember the chosen language in a cookie; it works before signing in too."""
    lang = await form_field(request, "lang")
    back = local_target(await form_field(request, "next"))
    cookies = [console_cookie(settings, LANG_COOKIE, lang, LANG_MAX_AGE)] if lang in LOCALES else []
    return Redirect(back, status_code=303, cookies=cookies)


@get("/", dependencies=guard())
async def home(staff: Staff) -> Response[Any]:
    """Open the first area the person's roles allow; say so when there is none yet."""
    sections = sections_for(staff)
    if sections:
        return Redirect(sections[0].path, status_code=303)
    return page("home.html", staff)


ROUTES = [login_form, login, sso_start, sso_callback, logout, switch_language, home]
