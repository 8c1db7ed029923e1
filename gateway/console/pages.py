"""How console pages are rendered: the Jinja environment, the navigation and the ``page`` helper.

A new console area (risk, channels, settlement) adds one :class:`Section` to ``SECTIONS``, guards
its pages with ``section.guard()`` and its narrower actions with ``guard(role)``, and registers its
routes in ``router.py``: the menu a person sees and the pages they may open share the same roles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from gateway.console.i18n import ERROR_MESSAGES, LABELS, LOCALES, N_, locale_of, translations
from gateway.console.session import PREFIX, console_staff
from gateway.money import yuan
from gateway.pagination import paginate
from gateway.staff.models import Role
from gateway.staff.service import StaffIdentity

# The bank's staff read times in China Standard Time (no daylight saving, so a fixed offset).
CHINA_TIME = timezone(timedelta(hours=8), "UTC+8")
ASSETS = Path(__file__).parent / "assets"
HTMX_DIST = ASSETS / "node_modules" / "htmx.org" / "dist"
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Section:
    """One entry of the navigation and the roles that may open its pages."""

    path: str
    label: str
    roles: tuple[Role, ...]

    def guard(self) -> dict[str, Provide]:
        return guard(*self.roles)


def guard(*roles: Role) -> dict[str, Provide]:
    """Route dependencies for console pages open to ``roles`` (none: anyone signed in)."""
    return {"staff": Provide(console_staff(*roles))}


OPS_READERS = (Role.OPS_MAKER, Role.OPS_CHECKER, Role.AUDITOR)
APPLICATIONS = Section(f"{PREFIX}/applications", N_("Partner applications"), OPS_READERS)
PARTNERS = Section(f"{PREFIX}/partners", N_("Partners"), OPS_READERS)
AUDIT = Section(f"{PREFIX}/audit", N_("Audit log"), (Role.AUDITOR,))
FINANCE_READERS = (Role.FINANCE, Role.AUDITOR)
SETTLEMENTS = Section(f"{PREFIX}/settlements", N_("Settlements"), FINANCE_READERS)
RECONCILIATION = Section(f"{PREFIX}/reconciliation", N_("Reconciliation"), FINANCE_READERS)
RISK_READERS = (Role.RISK_ANALYST, Role.RISK_LEAD, Role.AUDITOR)
RISK_CASES = Section(f"{PREFIX}/risk/cases", N_("Risk cases"), RISK_READERS)
RISK_RULES = Section(f"{PREFIX}/risk/rules", N_("Risk rules"), RISK_READERS)
CHANNELS = Section(
    f"{PREFIX}/channels", N_("Channels"), (Role.CHANNEL_MANAGER, Role.FINANCE, Role.AUDITOR)
)
SECTIONS = (
    APPLICATIONS,
    PARTNERS,
    RISK_CASES,
    RISK_RULES,
    SETTLEMENTS,
    RECONCILIATION,
    CHANNELS,
    AUDIT,
)


def sections_for(staff: StaffIdentity) -> list[Section]:
    return [s for s in SECTIONS if staff.has(*s.roles)]


def page(
    template: str,
    staff: StaffIdentity | None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """A full page (or an htmx fragment) with what the layout needs: who is signed in, the menu."""
    nav = sections_for(staff) if staff else []
    return Template(
        template_name=template,
        context={"staff": staff, "nav": nav, **context},
        status_code=status_code,
        headers={"Vary": "HX-Request, Cookie", **(headers or {})},
    )


async def list_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    staff: StaffIdentity,
    stmt: sa.Select[Any],
    order_column: Mapped[Any],
    cursor: str | None,
    *,
    template: str,
    rows_template: str,
    **context: Any,
) -> Template:
    """One page of a list ordered by a unique id: the whole page, or for htmx (the "more" button,
    the filters) only ``rows_template``, with the cursor of the page after it."""
    rows, next_cursor = await paginate(
        db_session, stmt, order_column, limit=PAGE_SIZE, cursor=cursor
    )
    name = rows_template if is_htmx(request) else template
    return page(name, staff, rows=rows, next_cursor=next_cursor, **context)


def credentials_page(
    staff: StaffIdentity, partner_id: str, client_id: str, client_secret: str
) -> Template:
    """New client credentials, shown once (approval, secret rotation) and never cached."""
    return page(
        "credentials.html",
        staff,
        headers={"Cache-Control": "no-store"},
        partner_id=partner_id,
        client_id=client_id,
        client_secret=client_secret,
    )


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """An htmx partial update (not a history restore, which needs the whole page)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(locale_of(context["request"])).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(locale_of(context["request"])).ngettext(singular, plural, n)


@pass_context
def _label(context: Context, value: str | None) -> str:
    """The translated name of a stored value (a state, a role, a scenario)."""
    if value is None:
        return ""
    label = LABELS.get(value)
    return _gettext(context, label) if label else value


@pass_context
def _locale(context: Context) -> str:
    return locale_of(context["request"])


def _when(value: datetime | None) -> str:
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") if value else ""


def _yuan(value: int | None) -> str:
    return "" if value is None else yuan(value)


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value else ""


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("gateway.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update({"label": _label, "when": _when, "as_json": _as_json, "yuan": _yuan})
    env.globals.update(
        {
            "locale": _locale,
            "locales": LOCALES,
            "error_messages": ERROR_MESSAGES,
            "htmx": (HTMX_DIST / "htmx.min.js").is_file(),
            "prefix": PREFIX,
        }
    )
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
