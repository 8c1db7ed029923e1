from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.errors import Conflict, FieldError, TooManyRequests, Unauthorized, ValidationFailed
from gateway.ids import new_id
from gateway.ratelimit import LimitStore
from gateway.settings import Settings
from gateway.staff.models import Role, StaffUser

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
_TOKEN_TYPE = "staff+jwt"  # noqa: S105  (a JWT "typ", not a secret)
MIN_PASSWORD_LENGTH = 8


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    user_id: str
    username: str
    roles: frozenset[str]

    def has(self, *roles: Role) -> bool:
        return Role.ADMIN in self.roles or any(r in self.roles for r in roles)

    @property
    def actor(self) -> str:
        return f"staff:{self.username}"


def parse_roles(values: list[str]) -> list[str]:
    valid = {r.value for r in Role}
    bad = [v for v in values if v not in valid]
    if bad or not values:
        raise ValidationFailed(
            errors=[FieldError("roles", "invalid", f"roles must be among {sorted(valid)}")]
        )
    return sorted(set(values))


async def add_user(
    session: AsyncSession,
    username: str,
    roles: list[str],
    password: str,
    *,
    oidc_subject: str | None = None,
) -> StaffUser:
    """A local account; ``oidc_subject`` links it to the identity provider's user (ADR 0018)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            errors=[
                FieldError("password", "too_short", f"at least {MIN_PASSWORD_LENGTH} characters")
            ]
        )
    existing = await session.scalar(select(StaffUser).where(col(StaffUser.username) == username))
    if existing is not None:
        raise Conflict(f"user {username} already exists", code="user_exists")
    user = StaffUser(
        id=new_id("usr"),
        username=username,
        password_hash=_hasher.hash(password),
        roles=parse_roles(roles),
        oidc_subject=oidc_subject,
    )
    session.add(user)
    audit.record(
        session,
        actor="cli",
        action="staff.user_added",
        subject_type="staff_user",
        subject_id=user.id,
        after={"username": username, "roles": user.roles, "oidc_subject": oidc_subject},
    )
    await session.flush()
    return user


def _token_key(settings: Settings) -> OctKey:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway staff sessions v1"
    ).derive(settings.secret_key_bytes)
    return OctKey.import_key(derived)


def issue_token(settings: Settings, user: StaffUser) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.public_url,
        "aud": "staff",
        "sub": user.id,
        "name": user.username,
        "roles": user.roles,
        "iat": now,
        "exp": now + settings.staff_token_ttl_seconds,
    }
    return jwt.encode({"alg": "HS256", "typ": _TOKEN_TYPE}, claims, _token_key(settings))


def verify_token(settings: Settings, token: str) -> StaffIdentity:
    try:
        decoded = jwt.decode(token, _token_key(settings), algorithms=["HS256"])
    except (JoseError, ValueError) as e:
        raise Unauthorized("The staff token is not valid.", code="invalid_token") from e
    claims: dict[str, Any] = decoded.claims
    if decoded.header.get("typ") != _TOKEN_TYPE or claims.get("aud") != "staff":
        raise Unauthorized("The staff token is not valid.", code="invalid_token")
    if int(claims.get("exp", 0)) <= time.time():
        raise Unauthorized("The staff token has expired.", code="token_expired")
    return StaffIdentity(
        str(claims["sub"]), str(claims["name"]), frozenset(claims.get("roles", []))
    )


async def authenticate(
    session: AsyncSession, limits: LimitStore, settings: Settings, username: str, password: str
) -> StaffUser:
    """Check a password; unknown users and wrong passwords fail identically and are throttled."""
    throttle_key = f"login:{username.lower()}"
    if await limits.count(throttle_key) >= settings.login_max_failures:
        raise TooManyRequests(
            "Too many failed sign-ins; try again later.",
            headers={"Retry-After": str(settings.login_lockout_seconds)},
        )
    user = await session.scalar(select(StaffUser).where(col(StaffUser.username) == username))
    stored = user.password_hash if user and user.active and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password) and stored is not _DUMMY_HASH
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        await limits.incr(throttle_key, settings.login_lockout_seconds)
        raise InvalidCredentials("The username or password is wrong.")
    await limits.reset(throttle_key)
    return user


async def by_oidc_subject(session: AsyncSession, subject: str) -> StaffUser | None:
    """The active staff account an identity provider's subject is linked to, if any."""
    user = await session.scalar(select(StaffUser).where(col(StaffUser.oidc_subject) == subject))
    return user if user is not None and user.active else None


async def usernames(session: AsyncSession, user_ids: Iterable[str | None]) -> dict[str, str]:
    """Who a recorded user id is, for pages that show who reviewed or decided something."""
    wanted = {i for i in user_ids if i}
    if not wanted:
        return {}
    rows = await session.execute(
        select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(wanted))
    )
    return dict(rows.all())
