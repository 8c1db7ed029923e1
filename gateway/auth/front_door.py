"""The partner API's front door: every authenticated ``/v1/`` call passes through here.

In order: the Bearer token (gateway-signed, 15 min) → the route's scope → the partner's status →
its rate limit → the RFC 9421 signature with one of *its* keys (binding the token to its holder;
single-use nonce) → for POSTs, the idempotency reservation. The handler then reads the caller
with the ``partner`` dependency; the response of a successful POST is stored for replay in the
same transaction as its effects (:func:`store_idempotent_response`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from litestar import MediaType, Request, Response, Router
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.serialization import default_serializer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth.callers import callers
from gateway.auth.signatures import SignatureKeyUnknown, VerifiedSignature, verify_request
from gateway.auth.tokens import InvalidToken, PartnerToken, verify_access_token
from gateway.db import utcnow
from gateway.errors import Forbidden, TooManyRequests, Unauthorized
from gateway.idempotency import service as idempotency
from gateway.partners.models import KeyStatus, Partner, PartnerKey, PartnerStatus
from gateway.partners.service import PartnerSuspended, keys_of
from gateway.settings import Settings
from gateway.staff.guards import bearer_token

# The reservation of the POST being handled, with the request's state (where the request's
# database session lives): ``after_request`` hooks receive only the response.
_pending: contextvars.ContextVar[tuple[idempotency.Reservation, Any] | None] = (
    contextvars.ContextVar("idempotency_pending", default=None)
)


@dataclass(frozen=True, slots=True)
class PartnerContext:
    """The authenticated caller, available to handlers as the ``partner`` dependency."""

    partner: Partner
    token: PartnerToken
    signature: VerifiedSignature
    keys: list[PartnerKey]  # all of them, retired included, as loaded by the front door

    @property
    def id(self) -> str:
        return self.partner.id


def target_uri(settings: Settings, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """``GATEWAY_PUBLIC_URL`` + the raw path and raw query as sent (survives load balancers)."""
    raw_path = connection.scope.get("raw_path") or connection.scope["path"].encode()
    query = connection.scope.get("query_string", b"")
    uri = settings.public_url.rstrip("/") + raw_path.decode("latin-1")
    return uri + ("?" + query.decode("latin-1") if query else "")


async def _note_key_use(session: AsyncSession, keys: list[PartnerKey], kid: str) -> None:
    """First use of a new key ends the grace period of the keys it replaced."""
    used = next((k for k in keys if k.kid == kid), None)
    if used is None or used.first_used_at is not None:
        return
    used.first_used_at = utcnow()
    if used.status == KeyStatus.ACTIVE:
        for key in keys:
            if key.status == KeyStatus.RETIRING:
                key.status = KeyStatus.RETIRED.value
    await session.commit()


def _usable(key: PartnerKey) -> bool:
    if key.status == KeyStatus.RETIRING and key.retire_after is not None:
        return key.retire_after > utcnow()
    return key.status != KeyStatus.RETIRED


async def _caller(
    app_state: Any, partner_id: str, *, fresh: bool = False
) -> tuple[Partner, list[PartnerKey]]:
    """The token holder and its keys, refused when it may no longer call."""
    settings: Settings = app_state.settings
    caller = await callers.get(
        app_state.autocommit_engine, partner_id, settings.partner_cache_seconds, fresh=fresh
    )
    if caller is None or caller[0].status == PartnerStatus.TERMINATED:
        raise InvalidToken("The partner's credentials are revoked.")
    if caller[0].status == PartnerStatus.SUSPENDED:
        raise PartnerSuspended("The partner is suspended.")
    return caller


async def partner_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    app_state = connection.app.state
    settings: Settings = app_state.settings
    raw_token = bearer_token(connection)  # type: ignore[arg-type]
    if raw_token is None:
        raise Unauthorized(
            "Send an access token from /v1/oauth/token as a Bearer token.", code="token_missing"
        )
    token = verify_access_token(app_state.key_ring, settings.public_url, raw_token)
    scope = handler.opt.get("scope")
    if scope and scope not in token.scopes:
        raise Forbidden(f"This call needs the scope {scope!r}.", code="insufficient_scope")

    body = await connection.body() if isinstance(connection, Request) else b""
    partner, keys = await _caller(app_state, token.partner_id)
    decision = await app_state.limits.take(
        f"partner:{partner.id}", partner.rate_limit_per_second, partner.rate_limit_burst
    )
    if not decision.allowed:
        raise TooManyRequests("Rate limit exceeded; slow down.", headers=decision.headers())

    def verify(keys: list[PartnerKey]) -> Awaitable[VerifiedSignature]:
        by_kid = {k.kid: k for k in keys if _usable(k)}
        return verify_request(
            method=connection.scope["method"],  # type: ignore[typeddict-item]
            target_uri=target_uri(settings, connection),
            headers=dict(connection.headers.items()),
            body=body,
            resolve_key=lambda kid: by_kid[kid].jwk if kid in by_kid else None,
            nonces=app_state.nonces,
            nonce_scope=f"sig:{partner.id}",
        )

    try:
        signature = await verify(keys)
    except SignatureKeyUnknown:
        # A key registered since the entry was cached (through another replica): read afresh.
        # The key check comes before the nonce is spent, so verifying again is safe.
        partner, keys = await _caller(app_state, token.partner_id, fresh=True)
        signature = await verify(keys)
    by_kid = {k.kid: k for k in keys}
    sessions: async_sessionmaker[AsyncSession] = app_state.session_factory
    if by_kid[signature.key_id].first_used_at is None:
        async with sessions() as session:
            await _note_key_use(
                session, await keys_of(session, partner.id, usable_only=True), signature.key_id
            )

    connection.state.partner = PartnerContext(partner, token, signature, keys)
    structlog.contextvars.bind_contextvars(partner_id=partner.id)
    _pending.set(None)
    if connection.scope["method"] == "POST" and handler.opt.get("idempotent", True):  # type: ignore[typeddict-item]
        key = idempotency.check_key(connection.headers.get(idempotency.HEADER))
        print_ = idempotency.fingerprint(
            "POST",
            connection.scope["path"],
            connection.scope.get("query_string", b"").decode("latin-1"),
            body,
        )
        reservation = await idempotency.begin(
            sessions, app_state.autocommit_engine, partner.id, key, print_
        )
        _pending.set((reservation, connection.state))


async def provide_partner(request: Request[Any, Any, Any]) -> PartnerContext:
    context = request.state.get("partner")
    if not isinstance(context, PartnerContext):
        raise Unauthorized("This route needs partner authentication.", code="token_missing")
    return context


async def store_idempotent_response(response: Response[Any]) -> Response[Any]:
    """``after_request`` of the partner router: runs before the request's commit."""
    pending = _pending.get()
    if pending is None:
        return response
    _pending.set(None)
    reservation, state = pending
    session: AsyncSession | None = state.get("db_session")
    if session is None:
        raise RuntimeError("idempotent partner POST handlers must take db_session")
    declared = response.media_type or MediaType.JSON
    media_type = declared.value if isinstance(declared, MediaType) else str(declared)
    body = response.render(response.content, media_type, default_serializer)
    status = response.status_code or 200
    stored = idempotency.StoredResponse(status, {"content-type": media_type}, body)
    await idempotency.complete(session, reservation, stored)
    return response


async def release_reservation(exc: Exception, scope: Any) -> None:
    """``after_exception`` hook: a failed POST frees its key so a retry runs it afresh."""
    pending = _pending.get()
    if pending is None:
        return
    _pending.set(None)
    await idempotency.release(scope["app"].state.session_factory, pending[0])


def partner_router(path: str, handlers: Sequence[Any]) -> Router:
    """A router whose every route passes the front door (and stores idempotent responses)."""
    return Router(
        path=path,
        route_handlers=list(handlers),
        guards=[partner_guard],
        after_request=store_idempotent_response,
        dependencies={"partner": Provide(provide_partner)},
        security=[{"partnerToken": []}],
    )


def replay_response(
    _: Request[Any, Any, Any], exc: idempotency.IdempotentReplay
) -> Response[bytes]:
    stored = exc.response
    return Response(
        stored.body,
        status_code=stored.status,
        media_type=stored.headers.get("content-type", "application/json"),
        headers={idempotency.REPLAYED_HEADER: "true"},
    )
