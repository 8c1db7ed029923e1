"""Partner access tokens: short-lived JWTs signed with the gateway's key (DESIGN §4)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from gateway.auth.keys import ALGORITHM, KeyRing
from gateway.errors import Unauthorized
from gateway.ids import new_id

ACCESS_TOKEN_TTL = 900
TOKEN_TYPE = "at+jwt"  # noqa: S105  (RFC 9068 token type, not a secret)


class InvalidToken(Unauthorized):
    code = "invalid_token"


@dataclass(frozen=True, slots=True)
class PartnerToken:
    partner_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: int


def issue_access_token(
    ring: KeyRing, issuer: str, partner_id: str, client_id: str, scopes: list[str]
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": issuer,
        "sub": partner_id,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ACCESS_TOKEN_TTL,
        "jti": new_id("evt")[4:],
    }
    return jwt.encode(
        {"alg": ALGORITHM, "kid": ring.kid, "typ": TOKEN_TYPE}, claims, ring.private, [ALGORITHM]
    )


def verify_access_token(ring: KeyRing, issuer: str, token: str) -> PartnerToken:
    """The token's claims once its signature, type, issuer and audience check out.

    A partner presents the same token on every call for its 15 minutes, so a verified token is
    remembered (per process, per key ring and issuer) and later calls only check its expiry: the
    JWS parse and Ed25519 verification were a tenth of a signed read's CPU (docs/performance.md).
    A new key ring (rotation, revocation) is a new object, and its tokens are verified afresh.
    """
    hit = _verified.get((issuer, token))
    if hit is not None and hit[0] is ring:
        claims = hit[1]
    else:
        claims = _verify(ring, issuer, token)
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[(issuer, token)] = (ring, claims)
    if claims.expires_at <= time.time():
        raise Unauthorized("The access token has expired.", code="token_expired")
    return claims


_VERIFIED_MAX = 10_000  # about 5 MB; a full cache starts over rather than tracking use
_verified: dict[tuple[str, str], tuple[KeyRing, PartnerToken]] = {}


def _verify(ring: KeyRing, issuer: str, token: str) -> PartnerToken:
    try:
        decoded = jwt.decode(token, ring.public, algorithms=[ALGORITHM])
    except (JoseError, ValueError) as e:
        raise InvalidToken("The access token is not valid.") from e
    claims: dict[str, Any] = decoded.claims
    if (
        decoded.header.get("typ") != TOKEN_TYPE
        or claims.get("iss") != issuer
        or claims.get("aud") != issuer
    ):
        raise InvalidToken("The access token is not valid.")
    return PartnerToken(
        partner_id=str(claims["sub"]),
        client_id=str(claims["client_id"]),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        expires_at=int(claims.get("exp", 0)),
    )
