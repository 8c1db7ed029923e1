"""Validation of what an applicant submits: identifiers, keys, URLs and scenario profiles."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from gateway.auth.signatures import public_key_from_jwk
from gateway.errors import FieldError, ValidationFailed
from gateway.net import check_outbound_url
from gateway.partners.schemas import ApplicationCreate
from gateway.scenarios.base import known_keys
from gateway.settings import Settings

MOBILE = re.compile(r"^1[3-9]\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACCOUNT_NO = re.compile(r"^\d{8,34}$")
_PROFILE_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "stored_value": {
        "industry": ("education", "fitness", "beauty", "retail", "other"),
        "issuer_class": ("scale", "group", "brand"),
    },
    "utilities": {"biller_type": ("water", "electricity", "gas", "heating")},
}
_PROFILE_OPTIONAL: dict[str, tuple[str, ...]] = {
    "campus": ("school_code",),
    "utilities": ("api_base_url", "credentials"),
}


def valid_uscc(value: str) -> bool:
    try:
        uscc.validate(value)
    except StdnumError:
        return False
    return True


def jwks_errors(jwks: Mapping[str, Any], field: str = "jwks") -> list[FieldError]:
    """Public keys only, each with a unique ``kid``, of a supported type and strength."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        return [FieldError(f"{field}.keys", "jwks_invalid", "Give at least one public key.")]
    for i, key in enumerate(keys):
        where = f"{field}.keys[{i}]"
        kid = key.get("kid") if isinstance(key, dict) else None
        if not isinstance(kid, str) or not 1 <= len(kid) <= 200:
            errors.append(FieldError(where, "jwks_invalid", "Every key needs a kid."))
            continue
        if kid in seen:
            errors.append(FieldError(where, "jwks_invalid", f"Duplicate kid {kid!r}."))
        seen.add(kid)
        try:
            public_key_from_jwk(key)
        except ValueError as e:
            errors.append(FieldError(where, "jwks_invalid", str(e)))
    return errors


def _profile_errors(app: ApplicationCreate) -> list[FieldError]:
    errors: list[FieldError] = []
    for scenario in app.scenario_profile:
        if scenario not in app.scenarios:
            errors.append(
                FieldError(
                    f"scenario_profile.{scenario}",
                    "profile_invalid",
                    "Not an applied-for scenario.",
                )
            )
    for scenario in app.scenarios:
        profile = app.scenario_profile.get(scenario, {})
        choices = _PROFILE_CHOICES.get(scenario, {})
        allowed = set(choices) | set(_PROFILE_OPTIONAL.get(scenario, ()))
        for name in profile:
            if name not in allowed:
                errors.append(
                    FieldError(
                        f"scenario_profile.{scenario}.{name}", "unknown_field", "Unknown field."
                    )
                )
        for name, options in choices.items():
            if profile.get(name) not in options:
                errors.append(
                    FieldError(
                        f"scenario_profile.{scenario}.{name}",
                        "profile_invalid",
                        f"Required, one of: {', '.join(options)}.",
                    )
                )
    if "utilities" in app.scenarios and not isinstance(
        app.scenario_profile.get("utilities", {}).get("api_base_url"), str
    ):
        errors.append(
            FieldError(
                "scenario_profile.utilities.api_base_url",
                "profile_invalid",
                "The biller's API base URL.",
            )
        )
    return errors


async def validate_application(app: ApplicationCreate, settings: Settings) -> None:
    """Collect every problem with an application and raise them together (422)."""
    errors: list[FieldError] = []
    if not valid_uscc(app.uscc):
        errors.append(
            FieldError("uscc", "uscc_invalid", "Not a valid unified social credit code (GB 32100).")
        )
    if not MOBILE.match(app.contact.phone):
        errors.append(FieldError("contact.phone", "phone_invalid", "Not a mainland mobile number."))
    if not EMAIL.match(app.contact.email):
        errors.append(FieldError("contact.email", "email_invalid", "Not an email address."))
    if not ACCOUNT_NO.match(app.settlement_account.account_no):
        errors.append(
            FieldError("settlement_account.account_no", "account_no_invalid", "8 to 34 digits.")
        )
    known = known_keys()
    unknown = [s for s in app.scenarios if s not in known]
    if unknown or len(set(app.scenarios)) != len(app.scenarios):
        errors.append(
            FieldError(
                "scenarios",
                "scenario_unknown",
                f"Scenarios are distinct values of: {', '.join(sorted(known))}.",
            )
        )
    errors += jwks_errors({"keys": app.jwks.keys})
    errors += _profile_errors(app)
    urls = [("webhook_url", app.webhook_url)]
    api_base = app.scenario_profile.get("utilities", {}).get("api_base_url")
    if isinstance(api_base, str):
        urls.append(("scenario_profile.utilities.api_base_url", api_base))
    for field, url in urls:
        if url is not None:
            try:
                await check_outbound_url(url, settings, field=field)
            except ValidationFailed as e:
                errors += e.errors
    if errors:
        raise ValidationFailed(
            "The application did not validate.", code=errors[0].code, errors=errors
        )
