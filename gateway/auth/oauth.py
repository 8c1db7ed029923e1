"""``POST /v1/oauth/token``: client credentials on Authlib (DESIGN §4).

Authlib's server is synchronous, so the route loads the calling client asynchronously first (its
id comes from the Basic header or the unverified ``sub`` of the client assertion) and then runs a
per-request Authlib server over that one preloaded client. Client assertions (RFC 7523,
``private_key_jwt``) are verified by Authlib; their ``jti`` is claimed in the shared nonce store
afterwards, and the token is only released when that claim is the first.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from litestar import Request, Response, post
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.auth.keys import KeyRing
from gateway.auth.nonces import NonceStore
from gateway.auth.tokens import ACCESS_TOKEN_TTL, issue_access_token
from gateway.deps import DbSession
from gateway.partners import credentials
from gateway.partners.models import Partner, PartnerKey, PartnerStatus
from gateway.partners.service import keys_of, scopes_for
from gateway.settings import Settings

TOKEN_PATH = "/v1/oauth/token"  # noqa: S105  (a path)
MAX_ASSERTION_LIFETIME = 3600
ASSERTION_ALGORITHMS = ["Ed25519", "EdDSA", "ES256", "RS256", "PS256", "PS512"]
PRIVATE_KEY_JWT = "private_key_jwt"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    partner: Partner
    keys: list[PartnerKey]
    settings: Settings

    def get_client_id(self) -> str:
        return self.partner.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return credentials.check_secret(
            self.settings, client_secret, self.partner.client_secret_hash
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in {"client_secret_basic", PRIVATE_KEY_JWT}

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = scopes_for(self.partner.scenarios)
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)


class _FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data = dict(pairs)
        self._list: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in pairs:
            self._list[k].append(v)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._list


class _TokenRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(self, uri: str, headers: Mapping[str, str], pairs: list[tuple[str, str]]) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = _FormPayload(pairs)

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def args(self) -> dict[str, str]:
        return {}


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]


@dataclass
class _PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client authentication with the partner's registered keys."""

    audience: str
    seen_jti: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(leeway=30)
        self.CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def get_audiences(self) -> list[str]:
        return [self.audience]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        """Authlib's own check, limited to the algorithms partner keys may use (DESIGN §4)."""
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except JoseError as e:
            raise InvalidClientError(description=e.description) from e
        self.verify_claims(token.claims)
        return token.claims

    def resolve_client_public_key(self, client: _Client) -> KeySet:
        return KeySet.import_key_set({"keys": [k.jwk for k in client.keys]})

    def verify_claims(self, claims: Any) -> None:
        super().verify_claims(claims)
        issued = int(claims.get("iat", time.time()))
        if (
            int(claims["exp"]) - issued > MAX_ASSERTION_LIFETIME
            or int(claims["exp"]) > time.time() + MAX_ASSERTION_LIFETIME
        ):
            raise InvalidClientError(description="The assertion may live at most 60 minutes.")

    def validate_jti(self, claims: Any, jti: str) -> bool:
        self.seen_jti.append(str(jti))
        return True


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, client: _Client | None, ring: KeyRing, issuer: str) -> None:
        super().__init__(scopes_supported=scopes_for(client.partner.scenarios) if client else [])
        self._client = client
        self._ring = ring
        self._issuer = issuer
        self.register_token_generator("default", self._token)

    def query_client(self, client_id: str) -> _Client | None:
        return self._client if self._client and self._client.get_client_id() == client_id else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Access tokens are self-contained JWTs; nothing to store."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal listeners."""

    def create_oauth2_request(self, request: _TokenRequest) -> _TokenRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        return status, dict(body), dict(headers)

    def _token(self, client: _Client, scope: str | None, **_: Any) -> dict[str, Any]:
        granted = client.get_allowed_scope(scope).split()
        token = issue_access_token(
            self._ring, self._issuer, client.partner.id, client.get_client_id(), granted
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL,
            "scope": " ".join(granted),
        }


def _claimed_client_id(headers: Mapping[str, str], form: dict[str, str]) -> str | None:
    """Which client the request says it is; verified later by Authlib, never trusted here."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    assertion = form.get("client_assertion")
    if assertion:
        try:
            sub = json.loads(jws.extract_compact(assertion.encode()).payload).get("sub")
        except (JoseError, ValueError, AttributeError):
            return None
        return sub if isinstance(sub, str) else None
    return form.get("client_id")


async def _load_client(
    session: AsyncSession, settings: Settings, client_id: str | None
) -> _Client | None:
    if not client_id:
        return None
    partner = await session.scalar(select(Partner).where(col(Partner.client_id) == client_id))
    if partner is None or partner.status != PartnerStatus.ACTIVE:
        return None
    return _Client(partner, await keys_of(session, partner.id, usable_only=True), settings)


def _oauth_error(error: str, description: str, status: int = 400) -> Response[dict[str, str]]:
    return Response(
        {"error": error, "error_description": description}, status_code=status, headers=_NO_STORE
    )


@post(
    TOKEN_PATH,
    tags=["oauth"],
    summary="Client credentials token (client_secret_basic or private_key_jwt)",
    status_code=200,
    request_max_body_size=16 * 1024,
)
async def token_endpoint(
    request: Request[Any, Any, Any], db_session: DbSession
) -> Response[dict[str, Any]]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return _oauth_error("invalid_request", "Send the request form-encoded.")
    try:
        pairs = parse_qsl(
            (await request.body()).decode(), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        return _oauth_error("invalid_request", "The form is not UTF-8.")
    settings: Settings = request.app.state.settings
    headers = request.headers  # case-insensitive, as Authlib expects of a framework's headers
    form = dict(pairs)
    client = await _load_client(db_session, settings, _claimed_client_id(headers, form))
    token_url = settings.public_url.rstrip("/") + TOKEN_PATH
    server = _Server(client, request.app.state.key_ring, settings.public_url)
    assertion_auth = _PrivateKeyJwt(audience=token_url)
    server.register_client_auth_method(PRIVATE_KEY_JWT, assertion_auth)
    server.register_grant(_ClientCredentials)
    status, body, out_headers = server.create_token_response(
        _TokenRequest(token_url, headers, pairs)
    )
    if body.get("error") == "invalid_client":
        status = 401
    elif status == 200 and assertion_auth.seen_jti and client is not None:
        nonces: NonceStore = request.app.state.nonces
        if not await nonces.claim(
            f"jti:{client.get_client_id()}", assertion_auth.seen_jti[0], MAX_ASSERTION_LIFETIME * 2
        ):
            return _oauth_error("invalid_client", "The client assertion was already used.", 401)
    return Response(body, status_code=status, headers={**out_headers, **_NO_STORE})
