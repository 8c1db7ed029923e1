"""Console errors as pages: signed-out visitors go to the sign-in form, others read what failed.

The status, code and detail come from the app's one exception handler
(:func:`gateway.errors.handle_exception`), which also logs server errors, so the console and the
API never disagree about what an error means.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import PermissionDeniedException
from litestar.response import Redirect

from gateway.console.pages import is_htmx, page
from gateway.console.session import PREFIX, SESSION_COOKIE, console_cookie
from gateway.errors import Unauthorized, handle_exception

CSRF_FAILED = "csrf_failed"


def to_login(request: Request[Any, Any, Any]) -> Response[Any]:
    """Send a visitor without a valid session to sign in, and back here afterwards."""
    back = PREFIX + "/"
    if request.method == "GET":
        query = request.url.query
        back = f"{request.url.path}?{query}" if query else request.url.path
    location = f"{PREFIX}/login?{urlencode({'next': back})}"
    clear = console_cookie(request.app.state.settings, SESSION_COOKIE, "", 0)
    if is_htmx(request):
        return Response(None, headers={"HX-Redirect": location}, cookies=[clear])
    return Redirect(location, status_code=303, cookies=[clear])


def render_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, Unauthorized):
        return to_login(request)
    problem = handle_exception(request, exc).content
    # Inside the console the only PermissionDeniedException is the CSRF middleware's refusal;
    # role and four-eyes refusals are GatewayErrors with codes of their own.
    code = CSRF_FAILED if isinstance(exc, PermissionDeniedException) else problem["code"]
    # After a refused action, offer the page the form was on (``…/{id}/approve`` → ``…/{id}``).
    back = request.url.path.rsplit("/", 1)[0] if request.method == "POST" else None
    return page(
        "error.html",
        getattr(request.state, "staff", None),
        status_code=problem["status"],
        code=code,
        detail=problem["detail"],
        errors=problem.get("errors", []),
        request_id=problem["request_id"],
        back=back,
    )
