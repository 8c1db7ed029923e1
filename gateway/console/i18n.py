"""Console translations: Babel catalogs read from the ``.po`` files when first needed.

Message ids are the English text, so English needs no catalog and Simplified Chinese (the
default) is one ``messages.po``. The catalog is compiled in memory, so no binary ``.mo`` lives in
the repository and a fresh checkout needs no build step. Update it after changing a string:

    .venv/bin/pybabel extract -F gateway/console/babel.cfg -o /tmp/console.pot gateway/console
    .venv/bin/pybabel update -i /tmp/console.pot -d gateway/console/locale -l zh_CN
"""

from __future__ import annotations

import io
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from litestar.connection import ASGIConnection

LOCALE_DIR = Path(__file__).parent / "locale"
# Each language is offered under its own name, as language switches conventionally are.
LOCALES = {"zh_CN": "简体中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "console_lang"


def N_(message: str) -> str:  # noqa: N802  (the gettext convention Babel extracts by default)
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def locale_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The language chosen with the switch, else the default (staff work in Chinese)."""
    chosen = connection.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def gettext(connection: ASGIConnection[Any, Any, Any, Any], message: str) -> str:
    return translations(locale_of(connection)).gettext(message)


# Stored values shown to people: states, roles, modes and scenarios, keyed by their API value.
LABELS = {
    "submitted": N_("Submitted"),
    "reviewed": N_("Reviewed"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "active": N_("Active"),
    "suspended": N_("Suspended"),
    "terminated": N_("Terminated"),
    "retiring": N_("Retiring"),
    "retired": N_("Retired"),
    "approve": N_("Approve"),
    "reject": N_("Reject"),
    "ops_maker": N_("Operations maker"),
    "ops_checker": N_("Operations checker"),
    "risk_analyst": N_("Risk analyst"),
    "risk_lead": N_("Risk lead"),
    "channel_manager": N_("Channel manager"),
    "finance": N_("Finance"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
    "joint_operation": N_("Joint operation"),
    "customer_referral": N_("Customer referral"),
    "resource_sharing": N_("Resource sharing"),
    "most_favored": N_("Most-favoured channel"),
    "open_agency": N_("Open agency"),
    "community": N_("Community property"),
    "fuel": N_("Fuel stations"),
    "stored_value": N_("Prepaid cards"),
    "campus": N_("Campus"),
    "utilities": N_("Utility bills"),
    "pending": N_("Pending"),
    "paid": N_("Paid"),
    "failed": N_("Failed"),
    "open": N_("Open"),
    "resolved": N_("Resolved"),
    "matched": N_("Matched"),
    "bank_only": N_("Bank only (long)"),
    "partner_only": N_("Partner only (short)"),
    "amount_mismatch": N_("Amount mismatch"),
    "in_review": N_("In review"),
    "closed": N_("Closed"),
    "fraud": N_("Fraud"),
    "not_fraud": N_("Not fraud"),
    "release_hold": N_("Release the hold"),
    "hold_settlement": N_("Keep the settlement held"),
    "clawback_incentives": N_("Claw back incentives"),
    "suspend_sub_channel": N_("Suspend the sub-channel"),
    "suspend_partner": N_("Suspend the partner"),
    "customer": N_("Customer"),
    "partner": N_("Partner"),
    "sub_channel": N_("Sub-channel"),
    "merchant": N_("Merchant"),
    "campaign": N_("Campaign"),
    "scenario": N_("Scenario"),
    "review": N_("Review"),
    "block": N_("Block"),
    "allow": N_("Allow"),
    "draft": N_("Draft"),
    "shadow": N_("Shadow"),
    "published": N_("Published"),
    "account_opening": N_("Account opening"),
    "transaction": N_("Transaction"),
    "release": N_("Release"),
    "week": N_("Week"),
    "month": N_("Month"),
}

# What a person should read for an error code the services raise; others show their detail.
ERROR_MESSAGES = {
    "four_eyes_violation": N_(
        "You reviewed this application, so a different checker must approve or reject it "
        "(four-eyes rule)."
    ),
    "rule_four_eyes": N_(
        "You wrote this version, so a different risk lead must publish it (four-eyes rule)."
    ),
    "state_conflict": N_(
        "This record has changed since the page was shown; reload it to see its current state."
    ),
    "role_required": N_("Your roles do not allow this page or action."),
    "not_found": N_("There is no such record."),
    "validation_error": N_("Some fields are missing or not valid."),
    "csrf_failed": N_(
        "The form could not be verified (it is missing its security token or has expired). "
        "Reload the page and try again."
    ),
    "invalid_credentials": N_("The username or password is wrong."),
    "rate_limited": N_("Too many attempts. Wait a few minutes and try again."),
    "oidc_failed": N_("Single sign-on could not be completed. Start again from this page."),
    "oidc_unavailable": N_("The single sign-on service cannot be reached. Try again later."),
    "oidc_unknown_subject": N_(
        "Your single sign-on account is not linked to a console account. "
        "Ask an administrator to link it."
    ),
    "internal_error": N_("Something went wrong on our side. Quote the request id to support."),
}
