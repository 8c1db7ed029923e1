"""HTML forms read into the staff API's own request schemas, so both validate the same way."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from gateway.errors import FieldError, ValidationFailed

T = TypeVar("T")
CSRF_FIELD = "_csrf_token"  # checked by the CSRF middleware, not part of any schema


async def form_as(
    request: Request[Any, Any, Any],
    schema: type[T],
    *,
    lists: tuple[str, ...] = (),
    numbers: tuple[str, ...] = (),
) -> T:
    """``lists`` names fields sent once per value (a group of checkboxes), read as lists;
    ``numbers`` names number inputs, whose text is read as an integer."""
    form = await request.form()
    fields: dict[str, Any] = {key: form.get(key) for key in form if key != CSRF_FIELD}
    for key in lists:
        fields[key] = form.getall(key) if key in form else []
    for key in numbers:
        value = fields.get(key)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            fields[key] = int(value)
    try:
        return msgspec.convert(fields, schema)
    except msgspec.ValidationError as e:
        message, _, where = str(e).partition(" - at `$.")
        field = where.rstrip("`") or "form"
        raise ValidationFailed(errors=[FieldError(field, "invalid", message)]) from e


async def form_field(request: Request[Any, Any, Any], name: str) -> str:
    """One text field of a form that no API schema describes (sign-in, language)."""
    value = (await request.form()).get(name)
    return value if isinstance(value, str) else ""
