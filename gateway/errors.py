"""One error base class and one handler: every failure answers RFC 9457 problem+json (DESIGN §3).

Each context declares its own errors next to its service by subclassing :class:`GatewayError`
(or calling it with a ``code``); the handler here renders all of them, Litestar's own HTTP
exceptions, and anything unexpected, always with the request id and never a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from sqlalchemy import exc as sa_exc

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://errors.gateway.bank/"
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    code: str
    message: str


class GatewayError(Exception):
    """Base of every error the gateway answers on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status or type(self).status  # type: ignore[misc]
        self.code = code or type(self).code  # type: ignore[misc]
        self.detail = detail or HTTPStatus(self.status).phrase
        self.errors = errors or []
        self.headers = headers or {}
        super().__init__(self.detail)


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    code = "state_conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"


class BusinessRuleViolation(GatewayError):
    """A request that breaks a business rule (a cap, a limit, a mismatch): 422 with its code."""

    status = 422
    code = "business_rule_violation"


class ValidationFailed(GatewayError):
    status = 422
    code = "validation_error"


class TooManyRequests(GatewayError):
    status = 429
    code = "rate_limited"


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "state_conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def problem_body(
    status: int,
    code: str,
    detail: str,
    request_id: str | None,
    errors: list[FieldError] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = [{"field": e.field, "code": e.code, "message": e.message} for e in errors]
    return body


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    out: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        key = str(item.get("key", ""))
        where = message.rsplit(" - at `", 1)
        field = where[1].rstrip("`").removeprefix("$.") if len(where) == 2 else key
        code = "unknown_field" if "unknown field" in message else "invalid"
        if "missing required field" in message:
            code = "required"
            field = message.split("`")[1] if "`" in message else field
        elif "unknown field" in message and "`" in message:
            field = message.split("`")[1]
        out.append(FieldError(field=field or key, code=code, message=where[0]))
    return out


def _is_json(request: Request[Any, Any, Any]) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def request_id_of(request: Request[Any, Any, Any]) -> str:
    from gateway.middleware import ensure_request_id  # noqa: PLC0415  (middleware imports errors' peers)

    return ensure_request_id(request.scope)


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        content=problem_body(status, code, detail, request_id_of(request), errors),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """The single exception handler registered on the app."""
    if isinstance(exc, GatewayError):
        return problem_response(request, exc.status, exc.code, exc.detail, exc.errors, exc.headers)
    if isinstance(exc, ValidationException):
        return problem_response(
            request,
            422,
            "validation_error",
            "The request did not validate.",
            _validation_errors(exc),
        )
    if isinstance(exc, NotAuthorizedException):
        return problem_response(request, 401, "unauthorized", exc.detail)
    if isinstance(exc, HTTPException) and str(exc.detail).startswith("JSON is malformed"):
        if not _is_json(request):
            return problem_response(
                request, 415, "unsupported_media_type", "Send the body as application/json."
            )
        return problem_response(
            request, 400, "malformed_body", "The request body is not valid JSON."
        )
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status >= 500:
            log.error(
                "request.server_error", path=request.url.path, method=request.method, exc_info=exc
            )
        code = _STATUS_CODES.get(status, "http_error")
        detail = exc.detail if status < 500 else HTTPStatus(status).phrase
        headers = dict(exc.headers or {})
        return problem_response(request, status, code, detail, headers=headers or None)
    if _database_unavailable(exc):
        log.error(
            "request.db_unavailable", path=request.url.path, method=request.method, exc_info=exc
        )
        return problem_response(
            request,
            503,
            "database_unavailable",
            "The gateway's database is busy or unreachable; retry shortly.",
            headers={"Retry-After": "1"},
        )
    log.error("request.unhandled_error", path=request.url.path, method=request.method, exc_info=exc)
    return problem_response(request, 500, "internal_error", "An unexpected error occurred.")


# SQLSTATE classes of a database that cannot take the request now: connection exceptions,
# insufficient resources ("too many clients"), operator intervention (shutting down, starting up).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def _database_unavailable(exc: Exception) -> bool:
    """A database that refused or dropped the connection, or a pool with none free: the request
    did nothing and a retry may well succeed, so it is a 503, not a 500."""
    if isinstance(exc, sa_exc.TimeoutError | ConnectionRefusedError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
        return (
            exc.connection_invalidated
            or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
            or "database is locked" in str(exc.orig)  # SQLite's writer stayed busy too long
        )
    return False
