"""Signing in and out of the console, the language switch and the landing page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

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
from gateway.errors import TooManyRequests
from gateway.staff.service import InvalidCredentials, authenticate, issue_token

HOME = PREFIX + "/"


def local_target(value: str | None) -> str:
    """Where to go after a form: a console path only, so ``next`` cannot send anyone off-site."""
    if value and (value == PREFIX or value.startswith(HOME)) and "\\" not in value:
        return value
    return HOME


@get("/login")
async def login_form(
    next_: Annotated[str | None, QueryParameter(name="next")] = None,
) -> Template:
    return page("login.html", None, next=local_target(next_), error=None, username="")


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
        return page(
            "login.html",
            None,
            status_code=e.status,
            next=target,
            error=e.code,
            username=username,
        )
    cookie = session_cookie(settings, issue_token(settings, user))
    return Redirect(target, status_code=303, cookies=[cookie])


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


ROUTES = [login_form, login, logout, switch_language, home]
