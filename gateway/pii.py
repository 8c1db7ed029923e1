"""Personal data at rest and on screen (DESIGN §3).

Values are encrypted with AES-256-GCM under a key derived from ``GATEWAY_PII_KEY``; the ciphertext
carries its key id so keys can rotate. A keyed blind index (HMAC-SHA256, separate derived key)
allows exact lookups and de-duplication without decrypting. Masking helpers give the forms that
responses, the console and logs show.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class PiiDecryptError(ValueError):
    """The ciphertext is corrupt or was sealed under a key this vault does not hold."""


@dataclass(frozen=True)
class PiiVault:
    """Encrypts and indexes PII. ``retired`` holds older master keys still needed to decrypt."""

    master_key: bytes
    retired: tuple[bytes, ...] = ()
    _keys: dict[str, AESGCM] = field(init=False, repr=False, compare=False)
    _index_key: bytes = field(init=False, repr=False, compare=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        keys: dict[str, AESGCM] = {}
        for master in (self.master_key, *self.retired):
            enc = _derive(master, b"gateway pii encryption v1")
            keys[hashlib.sha256(enc).hexdigest()[:8]] = AESGCM(enc)
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "key_id", next(iter(keys)))
        object.__setattr__(
            self, "_index_key", _derive(self.master_key, b"gateway pii blind index v1")
        )

    def encrypt(self, value: str, *, context: str = "") -> str:
        """``kid.nonce.ciphertext`` (base64url); ``context`` binds the value to its column."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.key_id].encrypt(nonce, value.encode(), context.encode())
        return f"{self.key_id}.{_b64(nonce)}.{_b64(sealed)}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        try:
            kid, nonce, sealed = token.split(".")
            return self._keys[kid].decrypt(_unb64(nonce), _unb64(sealed), context.encode()).decode()
        except (ValueError, KeyError, Exception) as e:
            raise PiiDecryptError("cannot decrypt PII value") from e

    def blind_index(self, kind: str, value: str) -> str:
        """Deterministic keyed digest of a normalised value, for equality lookups only."""
        message = f"{kind}:{normalise(value)}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def normalise(value: str) -> str:
    return "".join(value.split()).upper()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mask_keep(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + (value[-tail:] if tail else "")


def mask_id_number(value: str) -> str:
    """Resident ID: first 1 + last 1 (``1****************X``)."""
    return mask_keep(value, 1, 1)


def mask_phone(value: str) -> str:
    """Mobile: first 3 + last 2 (``138******34``)."""
    return mask_keep(value, 3, 2)


def mask_account(value: str) -> str:
    """Account or card number: first 6 + last 4."""
    return mask_keep(value, 6, 4)


def mask_name(value: str) -> str:
    """Chinese names keep the surname (``张*``); Latin names keep the first letter of each part."""
    value = value.strip()
    if not value:
        return value
    if value.isascii():
        return " ".join(p[:1] + "*" * (len(p) - 1) for p in value.split())
    surname_len = 2 if len(value) >= 4 else 1
    return value[:surname_len] + "*" * (len(value) - surname_len)
