"""RFC 9421 request signatures: what verifies, and the code of every rejection (DESIGN §4)."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth.nonces import DatabaseNonceStore, NonceStore
from gateway.auth.signatures import (
    MAX_SKEW_SECONDS,
    VerifiedSignature,
    algorithm_for,
    public_key_from_jwk,
    sign_request,
    verify_request,
)
from gateway.errors import Unauthorized

URL = "https://gw.example.com/v1/customers?scenario=community&page=2"
BODY = '{"name": "张三", "amount": 100}'.encode()
JSON = {"Content-Type": "application/json"}
SCOPE = "sig:ptn_a"
T0 = 1_763_000_000  # a fixed signing time, for tests that move the server clock


@dataclass(frozen=True)
class PartnerKey:
    kid: str
    private: dict[str, Any]
    public: dict[str, Any]

    def private_key(self) -> Any:
        return JWKRegistry.import_key(self.private).private_key


@cache
def partner_key(kind: str, kid: str | None = None) -> PartnerKey:
    """One generated key per kind (RSA generation is slow), as a partner would register it."""
    make: dict[str, Callable[[], Any]] = {
        "ed25519": lambda: OKPKey.generate_key("Ed25519"),
        "p256": lambda: ECKey.generate_key("P-256"),
        "rs256": lambda: RSAKey.generate_key(2048, parameters={"alg": "RS256"}),
        "ps512": lambda: RSAKey.generate_key(2048, parameters={"alg": "PS512"}),
    }
    key = make[kind]()
    return PartnerKey(kid or f"{kind}-1", key.as_dict(private=True), key.as_dict(private=False))


ED = partner_key("ed25519")


class SeenNonces:
    """An in-test NonceStore (the real stores have their own tests)."""

    def __init__(self) -> None:
        self.claims: list[tuple[str, str, int]] = []

    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        seen = any(c[:2] == (scope, nonce) for c in self.claims)
        self.claims.append((scope, nonce, ttl_seconds))
        return not seen


def signed(
    key: PartnerKey = ED,
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    headers: Mapping[str, str] = JSON,
    **options: Any,
) -> dict[str, str]:
    added = sign_request(
        method=method,
        target_uri=url,
        headers=dict(headers),
        body=body,
        private_jwk=key.private,
        key_id=key.kid,
        **options,
    )
    return {**headers, **added}


async def verify(
    headers: Mapping[str, str],
    *,
    registered: Mapping[str, Mapping[str, Any]] | None = None,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    nonces: NonceStore | None = None,
    scope: str = SCOPE,
    now: float | None = None,
) -> VerifiedSignature:
    keys = {ED.kid: ED.public} if registered is None else registered
    return await verify_request(
        method=method,
        target_uri=url,
        headers=headers,
        body=body,
        resolve_key=keys.get,
        nonces=nonces or SeenNonces(),
        nonce_scope=scope,
        now=now,
    )


async def rejected(code: str, headers: Mapping[str, str], **options: Any) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        await verify(headers, **options)
    assert (info.value.status, info.value.code) == (401, code), info.value.detail
    return info.value


def library_signed(
    *covered: str, key: PartnerKey = ED, nonce: str | None = "n-1", **options: Any
) -> dict[str, str]:
    """Sign with the library itself, to build signatures sign_request would never make."""
    request = httpx.Request("POST", URL, content=BODY, headers=JSON)
    signer = HTTPMessageSigner(
        signature_algorithm=options.pop("algorithm", algorithms.ED25519),
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key.kid: key.private_key()}),
    )
    signer.sign(
        request, key_id=key.kid, nonce=nonce, covered_component_ids=covered, body=BODY, **options
    )
    return dict(request.headers)


def b64url(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- what verifies ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "p256", "rs256", "ps512"])
async def test_each_registered_key_type_signs_and_verifies(kind: str) -> None:
    key = partner_key(kind)
    headers = signed(key, nonce="nonce-1", created=int(time.time()), label="req")

    result = await verify(headers, registered={key.kid: key.public})

    assert result.key_id == key.kid
    assert (result.label, result.nonce) == ("req", "nonce-1")
    assert abs(result.created - time.time()) < 5
    assert result.covered == ("@method", "@target-uri", "content-digest", "content-type")
    assert f'alg="{algorithm_for(key.public)}"' in headers["Signature-Input"]


async def test_a_request_without_body_needs_no_digest_nor_content_type() -> None:
    headers = signed(method="GET", body=b"", headers={})

    assert set(headers) == {"Signature-Input", "Signature"}
    result = await verify(headers, method="GET", body=b"")
    assert result.covered == ("@method", "@target-uri")


async def test_content_digest_is_rfc_9530_sha_256() -> None:
    headers = signed(body=b'{"hello": "world"}')

    # The example in RFC 9530 §2.
    assert headers["Content-Digest"] == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    await verify(headers, body=b'{"hello": "world"}')


async def test_header_names_are_matched_case_insensitively() -> None:
    headers = {name.lower(): value for name, value in signed().items()}

    await verify(headers)


async def test_a_signature_by_the_library_itself_verifies() -> None:
    """Interop: a partner using http-message-signatures on an httpx request, extra components."""
    key = partner_key("p256")
    request = httpx.Request("POST", URL, json={"external_ref": "r-1"})
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ECDSA_P256_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key.kid: key.private_key()}),
    )
    signer.sign(
        request,
        key_id=key.kid,
        nonce="interop-1",
        label="partner",
        covered_component_ids=("@method", "@authority", "@target-uri", "content-type"),
        body=request.content,
    )

    result = await verify_request(
        method=request.method,
        target_uri=str(request.url),
        headers=request.headers,
        body=request.content,
        resolve_key={key.kid: key.public}.get,
        nonces=SeenNonces(),
        nonce_scope=SCOPE,
    )

    assert (result.label, result.nonce) == ("partner", "interop-1")
    assert "@authority" in result.covered


# --- signature_missing -----------------------------------------------------------------------


def _without(name: str) -> Callable[[dict[str, str]], None]:
    def drop(headers: dict[str, str]) -> None:
        del headers[name]

    return drop


def _without_param(param: str) -> Callable[[dict[str, str]], None]:
    def strip(headers: dict[str, str]) -> None:
        headers["Signature-Input"] = re.sub(
            f';{param}=("[^"]*"|\\d+)', "", headers["Signature-Input"]
        )

    return strip


def _set(name: str, value: str) -> Callable[[dict[str, str]], None]:
    return lambda headers: headers.update({name: value})


def _relabel_signature(headers: dict[str, str]) -> None:
    headers["Signature"] = headers["Signature"].replace("sig1=", "sig2=", 1)


def _second_signature(headers: dict[str, str]) -> None:
    other = signed(label="sig2")
    for name in ("Signature-Input", "Signature"):
        headers[name] = f"{headers[name]}, {other[name]}"


@pytest.mark.parametrize(
    "damage",
    [
        _without("Signature"),
        _without("Signature-Input"),
        _set("Signature-Input", 'sig1=("@method" "@target-uri"'),
        _set("Signature", "sig1=not-bytes"),
        _set("Signature-Input", "sig1=1"),
        _set("Signature-Input", "签名"),
        _set("Signature-Input", ""),
        _relabel_signature,
        _second_signature,
        _without_param("created"),
        _without_param("keyid"),
        _without_param("nonce"),
    ],
    ids=[
        "no-signature",
        "no-signature-input",
        "unparsable-input",
        "signature-not-bytes",
        "input-not-a-list",
        "non-ascii",
        "empty-input",
        "labels-differ",
        "two-signatures",
        "no-created",
        "no-keyid",
        "no-nonce",
    ],
)
async def test_missing_or_malformed_signature(damage: Callable[[dict[str, str]], None]) -> None:
    headers = signed()
    damage(headers)

    await rejected("signature_missing", headers)


@pytest.mark.parametrize("nonce", ["", "n" * 201])
async def test_nonce_must_be_present_and_fit_the_store(nonce: str) -> None:
    await rejected("signature_missing", signed(nonce=nonce))


async def test_a_duplicate_label_is_malformed() -> None:
    headers = signed()
    headers["Signature-Input"] += ", " + headers["Signature-Input"]
    headers["Signature"] += ", " + headers["Signature"]

    await rejected("signature_missing", headers)


@pytest.mark.parametrize(
    "covered",
    [
        ("@method", "@authority", "@path", "@query", "content-type"),  # no @target-uri
        ("@target-uri", "content-type"),  # no @method
        ("@method", "@target-uri"),  # a body without content-type
        ("@method", "@target-uri", '"content-type";bs'),  # a parameterised field is not it
    ],
)
async def test_required_components_must_be_covered(covered: tuple[str, ...]) -> None:
    await rejected("signature_missing", library_signed(*covered))


async def test_a_body_sent_with_a_bodyless_signature_is_not_covered() -> None:
    headers = signed(method="POST", body=b"", headers=JSON)

    error = await rejected("signature_missing", headers)
    assert "content-digest" in error.detail


# --- signature_key_unknown --------------------------------------------------------------------


async def test_an_unregistered_key_id_is_unknown() -> None:
    await rejected("signature_key_unknown", signed(), registered={})


async def test_another_partners_key_is_unknown() -> None:
    other = partner_key("ed25519", "ptn_b-key")

    await rejected("signature_key_unknown", signed(other))


async def test_an_unusable_registered_key_is_unknown() -> None:
    await rejected("signature_key_unknown", signed(), registered={ED.kid: ED.private})
    x25519 = OKPKey.generate_key("X25519").as_dict(private=False)
    await rejected("signature_key_unknown", signed(), registered={ED.kid: x25519})


# --- invalid_signature -----------------------------------------------------------------------


def _digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


@pytest.mark.parametrize(
    "options",
    [
        {"body": BODY.replace(b"100", b"999")},
        {"url": URL.replace("page=2", "page=3")},
        {"url": URL.replace("/customers", "/customers/")},
        {"url": URL.replace("gw.example.com", "gw.example.net")},
        {"method": "PUT"},
    ],
    ids=["body-altered", "query-changed", "path-changed", "host-changed", "method-changed"],
)
async def test_a_request_changed_after_signing_is_invalid(options: dict[str, Any]) -> None:
    await rejected("invalid_signature", signed(), **options)


async def test_a_body_altered_with_a_recomputed_digest_is_invalid() -> None:
    tampered = BODY.replace(b"100", b"999")
    headers = {**signed(), "Content-Digest": _digest(tampered)}

    await rejected("invalid_signature", headers, body=tampered)


async def test_content_type_changed_after_signing_is_invalid() -> None:
    headers = {**signed(), "Content-Type": "text/csv"}

    await rejected("invalid_signature", headers)


async def test_a_missing_content_digest_is_invalid() -> None:
    headers = signed()
    del headers["Content-Digest"]

    await rejected("invalid_signature", headers)


async def test_only_sha_256_digests_are_taken() -> None:
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    headers = signed(headers={**JSON, "Content-Digest": f"sha-512=:{sha512}:"})

    error = await rejected("invalid_signature", headers)
    assert "sha-256" in error.detail


async def test_a_signature_by_a_different_key_with_the_same_id_is_invalid() -> None:
    impostor = partner_key("ed25519", ED.kid + "-impostor")
    headers = signed(PartnerKey(ED.kid, impostor.private, impostor.public))

    await rejected("invalid_signature", headers)


async def test_corrupted_signature_bytes_are_invalid() -> None:
    headers = signed()
    headers["Signature"] = "sig1=:" + base64.b64encode(b"\0" * 64).decode() + ":"

    await rejected("invalid_signature", headers)


class _Ed25519LabelledRsa(algorithms.ED25519):
    algorithm_id = "rsa-v1_5-sha256"


async def test_an_alg_parameter_that_does_not_match_the_key_is_invalid() -> None:
    """Signed with the Ed25519 key itself, so only the ``alg`` check can refuse it."""
    headers = library_signed(
        "@method", "@target-uri", "content-type", algorithm=_Ed25519LabelledRsa
    )
    assert 'alg="rsa-v1_5-sha256"' in headers["signature-input"]

    await rejected("invalid_signature", headers)


# --- signature_expired -----------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-MAX_SKEW_SECONDS - 1, MAX_SKEW_SECONDS + 1])
async def test_created_too_far_from_the_server_clock_is_expired(offset: int) -> None:
    await rejected("signature_expired", signed(created=T0), now=T0 - offset)


@pytest.mark.parametrize("offset", [-MAX_SKEW_SECONDS, MAX_SKEW_SECONDS])
async def test_created_at_the_edge_of_the_window_is_accepted(offset: int) -> None:
    await verify(signed(created=T0), now=T0 - offset)


async def test_created_in_the_future_by_the_real_clock_is_expired() -> None:
    await rejected("signature_expired", signed(created=int(time.time()) + MAX_SKEW_SECONDS + 5))


async def test_a_signature_past_its_own_expires_is_expired() -> None:
    headers = library_signed(
        "@method",
        "@target-uri",
        "content-type",
        expires=datetime.fromtimestamp(time.time() - 10, UTC),
    )

    await rejected("signature_expired", headers)


# --- signature_replayed ----------------------------------------------------------------------


async def test_a_nonce_is_spent_once_per_scope_for_twice_the_window() -> None:
    nonces = SeenNonces()
    headers = signed(nonce="once")

    await verify(headers, nonces=nonces)
    await rejected("signature_replayed", headers, nonces=nonces)
    await verify(headers, nonces=nonces, scope="sig:ptn_other")

    assert nonces.claims[0] == (SCOPE, "once", 2 * MAX_SKEW_SECONDS)


async def test_a_refused_request_does_not_spend_its_nonce() -> None:
    nonces = SeenNonces()
    headers = signed(nonce="kept")

    await rejected("invalid_signature", headers, nonces=nonces, body=b"tampered")
    await verify(headers, nonces=nonces)


async def test_a_replay_to_another_replica_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    headers = signed()

    await verify(headers, nonces=DatabaseNonceStore(sessions.kw["bind"]))
    await rejected("signature_replayed", headers, nonces=DatabaseNonceStore(sessions.kw["bind"]))


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jwk", "algorithm"),
    [
        ({"kty": "OKP", "crv": "Ed25519"}, "ed25519"),
        ({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA"}, "ed25519"),
        ({"kty": "EC", "crv": "P-256"}, "ecdsa-p256-sha256"),
        ({"kty": "EC", "crv": "P-256", "alg": "ES256"}, "ecdsa-p256-sha256"),
        ({"kty": "RSA"}, "rsa-v1_5-sha256"),
        ({"kty": "RSA", "alg": "RS256"}, "rsa-v1_5-sha256"),
        ({"kty": "RSA", "alg": "PS512"}, "rsa-pss-sha512"),
    ],
)
def test_the_algorithm_follows_the_key(jwk: dict[str, str], algorithm: str) -> None:
    assert algorithm_for(jwk) == algorithm


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "OKP", "crv": "X25519"},
        {"kty": "OKP", "crv": "Ed448"},
        {"kty": "EC", "crv": "P-384"},
        {"kty": "EC", "crv": "P-256", "alg": "ES384"},
        {"kty": "RSA", "alg": "RS512"},
        {"kty": "RSA", "alg": "PS256"},
        {"kty": "oct"},
        {},
    ],
)
def test_other_algorithms_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="unsupported key"):
        algorithm_for(jwk)


@pytest.mark.parametrize(
    ("kind", "key_type"),
    [
        ("ed25519", ed25519.Ed25519PublicKey),
        ("p256", ec.EllipticCurvePublicKey),
        ("rs256", rsa.RSAPublicKey),
        ("ps512", rsa.RSAPublicKey),
    ],
)
def test_public_jwks_become_verification_keys(kind: str, key_type: type) -> None:
    assert isinstance(public_key_from_jwk(partner_key(kind).public), key_type)


@pytest.mark.parametrize("kind", ["ed25519", "p256", "rs256"])
def test_private_jwks_are_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="private key material"):
        public_key_from_jwk(partner_key(kind).private)


def test_rsa_keys_under_2048_bits_are_refused() -> None:
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505  (refusing it is the point)
    numbers = weak.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64url(numbers.n), "e": b64url(numbers.e)}

    with pytest.raises(ValueError, match="2048"):
        public_key_from_jwk(jwk)


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519"},
        {"kty": "EC", "crv": "P-256", "x": ED.public["x"], "y": ED.public["x"]},
        {"kty": "RSA", "e": "AQAB"},
    ],
    ids=["p384", "short-x", "no-x", "off-curve", "no-n"],
)
def test_malformed_or_unsupported_jwks_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        public_key_from_jwk(jwk)


def test_signing_needs_a_private_jwk() -> None:
    with pytest.raises(ValueError, match="private JWK"):
        signed(PartnerKey(ED.kid, ED.public, ED.public))
