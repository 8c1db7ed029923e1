"""Client credentials: high-entropy secrets shown once and stored as a keyed hash.

Secrets are 256-bit random values, so a keyed HMAC-SHA256 (pepper derived from the gateway secret)
is as safe to store as a slow password hash and keeps the token endpoint fast.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.settings import Settings

REVOKED = "revoked"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _pepper(settings: Settings) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway client secrets v1"
    ).derive(settings.secret_key_bytes)


def hash_secret(settings: Settings, secret: str) -> str:
    return "hmac-sha256$" + hmac.new(_pepper(settings), secret.encode(), hashlib.sha256).hexdigest()


def check_secret(settings: Settings, secret: str, stored: str) -> bool:
    if stored == REVOKED:
        return False
    return hmac.compare_digest(hash_secret(settings, secret), stored)
