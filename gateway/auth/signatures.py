"""RFC 9421 HTTP Message Signatures on partner requests and the gateway's webhooks (DESIGN §4).

The signature base, its components and the cryptography belong to the maintained
``http-message-signatures`` library. This module adds the gateway's policy around it: which
components and parameters a signature must carry, which algorithm a registered JWK implies, the
±300 s window on ``created``, a ``sha-256`` Content-Digest over the raw body, and single-use
nonces. Every rejection is a 401 with its own stable code.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import http_sf
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    MappingKeyResolver,
    VerifyResult,
    algorithms,
)
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key
from joserfc.util import urlsafe_b64decode

from gateway.auth.nonces import NonceStore
from gateway.errors import Unauthorized

MAX_SKEW_SECONDS = 300
# A nonce can only be accepted while its signature's ``created`` is within ±MAX_SKEW_SECONDS of
# the server clock, so remembering it for twice that covers every moment it could be replayed.
NONCE_TTL_SECONDS = 2 * MAX_SKEW_SECONDS
MAX_NONCE_LENGTH = 200  # the width of used_nonces.nonce
MIN_RSA_BITS = 2048

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_ALGORITHMS: dict[str, type[HTTPSignatureAlgorithm]] = {
    "ed25519": algorithms.ED25519,
    "ecdsa-p256-sha256": algorithms.ECDSA_P256_SHA256,
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_SIGNED_ALWAYS = ("@method", "@target-uri")
_SIGNED_WITH_BODY = ("content-digest", "content-type")
_ADDED_HEADERS = frozenset({"content-digest", "signature-input", "signature"})

log = structlog.get_logger(__name__)


class SignatureMissing(Unauthorized):
    code = "signature_missing"


class SignatureKeyUnknown(Unauthorized):
    code = "signature_key_unknown"


class SignatureInvalid(Unauthorized):
    code = "invalid_signature"


class SignatureExpired(Unauthorized):
    code = "signature_expired"


class SignatureReplayed(Unauthorized):
    code = "signature_replayed"


@dataclass(frozen=True)
class VerifiedSignature:
    """What a verified signature vouches for.

    ``covered`` lists the component names in signed order; a component with parameters keeps its
    serialized form (``"@query-param";name="id"``).
    """

    key_id: str
    label: str
    created: int
    nonce: str
    covered: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _SignatureInput:
    label: str
    covered: tuple[str, ...]
    key_id: str
    created: int
    nonce: str
    expires: int | None


@dataclass(frozen=True, slots=True)
class _Message:
    """A request as the library's component resolver reads it."""

    method: str
    url: str
    headers: dict[str, str]


class _Verifier(HTTPMessageVerifier):
    # The library checks ``created`` against its own clock with a 5 s tolerance. The gateway's
    # window is applied first, against an injectable clock, so the library's must not be narrower
    # or a request the gateway accepts would fail here with the wrong code.
    max_clock_skew = timedelta(seconds=MAX_SKEW_SECONDS)


def algorithm_for(jwk: Mapping[str, Any]) -> str:
    """The RFC 9421 algorithm a registered key signs with (DESIGN §4); ValueError if none."""
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if kty == "OKP" and crv == "Ed25519" and alg in (None, "EdDSA", "Ed25519"):
        return "ed25519"
    if kty == "EC" and crv == "P-256" and alg in (None, "ES256"):
        return "ecdsa-p256-sha256"
    if kty == "RSA" and alg in (None, "RS256"):
        return "rsa-v1_5-sha256"
    if kty == "RSA" and alg == "PS512":
        return "rsa-pss-sha512"
    raise ValueError(f"unsupported key: kty={kty!r} crv={crv!r} alg={alg!r}")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """A partner's registered JWK as a verification key; ValueError for anything unacceptable."""
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ValueError("the JWK carries private key material")
    algorithm_for(jwk)
    # Checked before import: joserfc only warns about short RSA keys.
    if jwk["kty"] == "RSA" and _modulus_bits(jwk) < MIN_RSA_BITS:
        raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits")
    key = _import_jwk(jwk).public_key
    if not isinstance(key, PublicKey):
        raise ValueError("unsupported public key type")  # unreachable after algorithm_for
    return key


def _private_key_from_jwk(jwk: Mapping[str, Any]) -> PrivateKey:
    key = _import_jwk(jwk).private_key if "d" in jwk else None
    if not isinstance(key, PrivateKey):
        raise ValueError("signing needs a private JWK of a supported type")
    return key


def _import_jwk(jwk: Mapping[str, Any]) -> Key:
    try:
        return JWKRegistry.import_key(dict(jwk))
    except (JoseError, ValueError, TypeError) as e:
        raise ValueError(f"invalid JWK: {e}") from e


def _modulus_bits(jwk: Mapping[str, Any]) -> int:
    try:
        modulus = urlsafe_b64decode(str(jwk["n"]).encode())
    except (KeyError, ValueError) as e:
        raise ValueError("the RSA JWK has no valid modulus `n`") from e
    return int.from_bytes(modulus, "big").bit_length()


def _required_components(body: bytes) -> tuple[str, ...]:
    return _SIGNED_ALWAYS + _SIGNED_WITH_BODY if body else _SIGNED_ALWAYS


async def verify_request(
    *,
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], Mapping[str, Any] | None],
    nonces: NonceStore,
    nonce_scope: str,
    now: float | None = None,
) -> VerifiedSignature:
    """Verify a partner request's one signature and spend its nonce.

    ``target_uri`` is the public URL plus the raw path and query as sent; ``resolve_key`` only
    knows the token holder's keys, so a valid signature by another partner's key is unknown here.
    The nonce is claimed last, so a request that fails any check does not burn it.
    """
    fields = {name.lower(): value for name, value in headers.items()}
    signature_input = _read_signature_input(fields, body)
    key, algorithm = _resolve_key(resolve_key, signature_input.key_id)
    _check_freshness(signature_input, time.time() if now is None else now)
    result = _verify(_Message(method, target_uri, fields), signature_input.key_id, key, algorithm)
    _check_digest(result, body)
    if not await nonces.claim(nonce_scope, signature_input.nonce, NONCE_TTL_SECONDS):
        raise SignatureReplayed("This nonce was already used; sign every request afresh.")
    return VerifiedSignature(
        key_id=signature_input.key_id,
        label=signature_input.label,
        created=signature_input.created,
        nonce=signature_input.nonce,
        covered=signature_input.covered,
    )


def _read_signature_input(fields: Mapping[str, str], body: bytes) -> _SignatureInput:
    """Parse the one signature's metadata and check that it covers what the gateway requires."""
    label, (members, params) = _single_member(fields, "signature-input")
    signature_label, (signature, _) = _single_member(fields, "signature")
    if label != signature_label or not isinstance(signature, bytes):
        raise SignatureMissing("Signature and Signature-Input must carry the same one label.")
    covered = _covered_components(members)
    missing = [name for name in _required_components(body) if name not in covered]
    if missing:
        raise SignatureMissing(f"The signature must cover {', '.join(missing)}.")
    nonce = _str_param(params, "nonce")
    if len(nonce) > MAX_NONCE_LENGTH:
        raise SignatureMissing(f"The nonce may have at most {MAX_NONCE_LENGTH} characters.")
    expires = params.get("expires")
    if expires is not None and type(expires) is not int:
        raise SignatureMissing("The `expires` parameter must be an integer.")
    return _SignatureInput(
        label=label,
        covered=covered,
        key_id=_str_param(params, "keyid"),
        created=_int_param(params, "created"),
        nonce=nonce,
        expires=expires,
    )


def _single_member(fields: Mapping[str, str], name: str) -> tuple[str, Any]:
    value = fields.get(name)
    if value is None:
        raise SignatureMissing(f"The {name.title()} header is missing.")
    try:
        parsed = http_sf.parse(
            value.encode("ascii"), tltype="dictionary", on_duplicate_key=_reject_duplicate
        )
    except ValueError as e:  # UnicodeEncodeError and StructuredFieldError included
        raise SignatureMissing(f"The {name.title()} header is malformed.") from e
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise SignatureMissing("Send exactly one signature.")
    ((label, member),) = parsed.items()
    return label, member


def _reject_duplicate(key: str, context: str) -> None:
    """A repeated label would let the library and this module read different signatures."""
    if context == "dictionary":
        raise ValueError(f"duplicate label {key!r}")


def _covered_components(members: object) -> tuple[str, ...]:
    if not isinstance(members, list):
        raise SignatureMissing("Signature-Input must list the covered components.")
    names = []
    for value, params in members:
        if not isinstance(value, str):
            raise SignatureMissing("Covered components must be strings.")
        names.append(http_sf.ser((value, params)) if params else value)
    return tuple(names)


def _str_param(params: Mapping[str, object], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise SignatureMissing(f"The signature needs the `{name}` parameter.")
    return value


def _int_param(params: Mapping[str, object], name: str) -> int:
    value = params.get(name)
    if type(value) is not int:
        raise SignatureMissing(f"The signature needs the `{name}` parameter.")
    return value


def _resolve_key(
    resolve_key: Callable[[str], Mapping[str, Any] | None], key_id: str
) -> tuple[PublicKey, str]:
    jwk = resolve_key(key_id)
    if jwk is None:
        raise SignatureKeyUnknown(f"Key {key_id!r} is not one of this partner's keys.")
    try:
        return _verification_key(json.dumps(jwk, sort_keys=True))
    except ValueError as e:
        raise SignatureKeyUnknown(f"Key {key_id!r} cannot verify signatures.") from e


@functools.lru_cache(maxsize=4096)
def _verification_key(jwk_json: str) -> tuple[PublicKey, str]:
    """A registered JWK imported once per process, not on every request it signs."""
    jwk = json.loads(jwk_json)
    return public_key_from_jwk(jwk), algorithm_for(jwk)


def _check_freshness(signature_input: _SignatureInput, now: float) -> None:
    if abs(signature_input.created - now) > MAX_SKEW_SECONDS:
        raise SignatureExpired(
            f"`created` must be within {MAX_SKEW_SECONDS} s of the server's clock."
        )
    if signature_input.expires is not None and signature_input.expires < now:
        raise SignatureExpired("The signature is past its `expires` time.")


def _verify(message: _Message, key_id: str, key: PublicKey, algorithm: str) -> VerifyResult:
    """The library's verification: signature base, ``alg`` match and the signature itself."""
    verifier = _Verifier(
        signature_algorithm=_ALGORITHMS[algorithm],
        key_resolver=MappingKeyResolver(public_keys={key_id: key}, private_keys={}),
    )
    try:
        (result,) = verifier.verify(message, max_age=None)
    except HTTPMessageSignaturesException as e:
        log.info("signature.invalid", key_id=key_id, reason=str(e))
        raise SignatureInvalid("The signature does not verify for this request and key.") from e
    return result


def _check_digest(result: VerifyResult, body: bytes) -> None:
    """Check the signed Content-Digest (RFC 9530) against the raw body; only sha-256 is taken.

    The value checked is the one the library verified, so it is the one the partner signed.
    """
    signed = result.covered_components.get('"content-digest"')
    if signed is None:  # only an empty body may go without one
        return
    try:
        digests = http_sf.parse(
            signed.encode("ascii"), tltype="dictionary", on_duplicate_key=_reject_duplicate
        )
    except ValueError as e:
        raise SignatureInvalid("The Content-Digest header is malformed.") from e
    if not isinstance(digests, dict) or set(digests) != {"sha-256"}:
        raise SignatureInvalid("Content-Digest must hold exactly one sha-256 digest.")
    member = digests["sha-256"]
    digest = member[0] if isinstance(member, tuple) else None
    expected = hashlib.sha256(body).digest()
    if not isinstance(digest, bytes) or not hmac.compare_digest(digest, expected):
        raise SignatureInvalid("Content-Digest does not match the request body.")


def sign_request(
    *,
    method: str,
    target_uri: str,
    headers: dict[str, str],
    body: bytes,
    private_jwk: Mapping[str, Any],
    key_id: str,
    nonce: str | None = None,
    created: int | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """Sign a request the way :func:`verify_request` expects; return the headers to add.

    Those are Content-Digest (sha-256, when there is a body), Signature-Input and Signature.
    ``headers`` is not changed; with a body it must carry Content-Type.
    """
    signer = HTTPMessageSigner(
        signature_algorithm=_ALGORITHMS[algorithm_for(private_jwk)],
        key_resolver=MappingKeyResolver(
            public_keys={}, private_keys={key_id: _private_key_from_jwk(private_jwk)}
        ),
    )
    message = _Message(method, target_uri, dict(headers))
    signer.sign(
        message,
        key_id=key_id,
        created=datetime.fromtimestamp(time.time() if created is None else created, UTC),
        nonce=secrets.token_urlsafe(16) if nonce is None else nonce,
        label=label,
        covered_component_ids=_required_components(body),
        body=body or None,
        use_existing_digest=bool(body),
    )
    return {
        name: value for name, value in message.headers.items() if name.lower() in _ADDED_HEADERS
    }
