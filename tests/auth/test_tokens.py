"""Partner access tokens: verified once per process, still refused once expired or re-keyed."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import KeySet, OKPKey

from gateway.auth.keys import ALGORITHM, KeyRing
from gateway.auth.tokens import ACCESS_TOKEN_TTL, issue_access_token, verify_access_token
from gateway.errors import Unauthorized

ISSUER = "https://gateway.example"


def _ring(kid: str) -> KeyRing:
    key = OKPKey.generate_key("Ed25519", parameters={"alg": ALGORITHM, "use": "sig", "kid": kid})
    return KeyRing(kid=kid, private=key, public=KeySet([key]))


def _code(ring: KeyRing, issuer: str, token: str) -> str:
    with pytest.raises(Unauthorized) as refused:
        verify_access_token(ring, issuer, token)
    return refused.value.code


def test_a_token_verifies_and_carries_its_claims() -> None:
    ring = _ring("k1")
    token = issue_access_token(ring, ISSUER, "ptn_1", "cli_1", ["scenario:fuel", "partner"])

    for _ in range(2):  # the second answer comes from the per-process cache
        claims = verify_access_token(ring, ISSUER, token)
        assert (claims.partner_id, claims.client_id) == ("ptn_1", "cli_1")
        assert claims.scopes == {"scenario:fuel", "partner"}


def test_a_verified_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = _ring("k1")
    token = issue_access_token(ring, ISSUER, "ptn_1", "cli_1", [])
    verify_access_token(ring, ISSUER, token)

    later = time.time() + ACCESS_TOKEN_TTL + 1
    monkeypatch.setattr(time, "time", lambda: later)

    assert _code(ring, ISSUER, token) == "token_expired"


def test_a_new_key_ring_verifies_afresh() -> None:
    old = _ring("k-old")
    token = issue_access_token(old, ISSUER, "ptn_1", "cli_1", [])
    verify_access_token(old, ISSUER, token)

    assert _code(_ring("k-new"), ISSUER, token) == "invalid_token"


def test_a_token_verified_for_one_issuer_is_refused_for_another() -> None:
    ring = _ring("k1")
    token = issue_access_token(ring, ISSUER, "ptn_1", "cli_1", [])
    verify_access_token(ring, ISSUER, token)

    assert _code(ring, "https://other.example", token) == "invalid_token"


def test_a_tampered_token_is_refused() -> None:
    ring = _ring("k1")
    header, payload, signature = issue_access_token(ring, ISSUER, "ptn_1", "cli_1", []).split(".")
    tail = "AA" if signature[-2:] != "AA" else "BB"
    forged = ".".join((header, payload, signature[:-2] + tail))

    assert _code(ring, ISSUER, forged) == "invalid_token"
