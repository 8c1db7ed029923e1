"""Console single sign-on with OpenID Connect: authorization code flow with PKCE, state and nonce.

Authlib's client builds the authorization URL (with the S256 code challenge) and exchanges the
code; joserfc checks the ID token: its signature against the provider's published keys (JWKS),
``iss``, ``aud`` (and ``azp`` when there are several audiences), ``exp`` and the ``nonce`` this
browser was given. The provider's discovery document and keys are read at each sign-in rather
than cached: sign-ins are rare, and a rotated key then works at once.

Between the redirect to the provider and its callback, the state, nonce, code verifier and the
page to return to travel in a short-lived cookie encrypted with a key derived from the gateway's
secret (JWE ``dir`` + A256GCM), so no server-side store is needed and any replica can finish the
sign-in. Who the person is stays the gateway's business: the token's subject must already be
linked to an active staff account (ADR 0018).
"""

from __future__ import annotations

import hmac
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oauth2 import OAuth2Error
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey
from joserfc.jwt import JWTClaimsRegistry

from gateway.errors import GatewayError
from gateway.settings import Settings

with warnings.catch_warnings():
    # Authlib 1.9 deprecates its httpx integration in favour of httpx2, which is not released for
    # our stack (see pyproject's filterwarnings); the server should not print that at start-up.
    warnings.filterwarnings("ignore", "The httpx module", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

FLOW_COOKIE = "console_oidc"
FLOW_SECONDS = 600  # time to finish signing in at the provider
TIMEOUT = 10.0
SIGNING_ALGORITHMS = ["RS256", "PS256", "ES256"]  # never "none" nor a shared-secret HS*
CLOCK_LEEWAY = 60  # seconds of clock difference tolerated with the provider


class SignOnFailed(GatewayError):
    """The provider's answer cannot be trusted (state, token or signature); nobody signs in."""

    status = 400
    code = "oidc_failed"


class ProviderUnavailable(GatewayError):
    status = 502
    code = "oidc_unavailable"


@dataclass(frozen=True, slots=True)
class Flow:
    """What one browser's sign-in must come back with."""

    state: str
    nonce: str
    verifier: str
    next: str


@dataclass(frozen=True, slots=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def _flow_key(settings: Settings) -> OctKey:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway console oidc v1"
    ).derive(settings.secret_key_bytes)
    return OctKey.import_key(derived)


def seal(settings: Settings, flow: Flow) -> str:
    payload: dict[str, Any] = {
        "state": flow.state,
        "nonce": flow.nonce,
        "verifier": flow.verifier,
        "next": flow.next,
    }
    payload["exp"] = int(time.time()) + FLOW_SECONDS
    header = {"alg": "dir", "enc": "A256GCM"}
    return jwe.encrypt_compact(header, msgspec.json.encode(payload), _flow_key(settings))


def unseal(settings: Settings, sealed: str | None) -> Flow:
    """The flow this browser started; refused when missing, tampered with or expired."""
    if not sealed:
        raise SignOnFailed("No sign-in was started in this browser.")
    try:
        plain = jwe.decrypt_compact(sealed, _flow_key(settings)).plaintext or b""
        data = msgspec.json.decode(plain, type=dict[str, Any])
    except (JoseError, ValueError, msgspec.DecodeError) as e:
        raise SignOnFailed("The sign-in could not be verified.") from e
    if int(data.get("exp", 0)) <= time.time():
        raise SignOnFailed("The sign-in took too long; start again.")
    return Flow(str(data["state"]), str(data["nonce"]), str(data["verifier"]), str(data["next"]))


def new_flow(next_page: str) -> Flow:
    return Flow(generate_token(32), generate_token(32), generate_token(64), next_page)


def _client(settings: Settings) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scope="openid",
        redirect_uri=settings.oidc_redirect,
        code_challenge_method="S256",
        timeout=TIMEOUT,
    )


async def _get_json(client: AsyncOAuth2Client, url: str) -> dict[str, Any]:
    """A public document of the provider (no access token is sent with it)."""
    try:
        resp = await client.request("GET", url, withhold_token=True)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
    except (httpx.HTTPError, ValueError) as e:
        raise ProviderUnavailable(f"The identity provider did not answer: {e}") from e
    return data


async def discover(client: AsyncOAuth2Client, issuer: str) -> Provider:
    """The provider's endpoints from its discovery document, which must name the same issuer."""
    doc = await _get_json(client, issuer.rstrip("/") + "/.well-known/openid-configuration")
    if doc.get("issuer") != issuer:
        raise ProviderUnavailable("The discovery document names another issuer.")
    try:
        return Provider(
            str(doc["authorization_endpoint"]), str(doc["token_endpoint"]), str(doc["jwks_uri"])
        )
    except KeyError as e:
        raise ProviderUnavailable(f"The discovery document lacks {e}.") from e


async def authorization_url(settings: Settings, flow: Flow) -> str:
    """Where to send the browser: the provider's sign-in page for this flow."""
    async with _client(settings) as client:
        provider = await discover(client, str(settings.oidc_issuer))
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint,
            state=flow.state,
            nonce=flow.nonce,
            code_verifier=flow.verifier,
        )
    return str(url)


async def subject_of(settings: Settings, flow: Flow, state: str | None, code: str | None) -> str:
    """Finish the flow: check the state, exchange the code, validate the ID token; its ``sub``."""
    if not state or not hmac.compare_digest(state, flow.state):
        raise SignOnFailed("The sign-in answer does not belong to this browser (state).")
    if not code:
        raise SignOnFailed("The identity provider sent no authorization code.")
    issuer, client_id = str(settings.oidc_issuer), str(settings.oidc_client_id)
    async with _client(settings) as client:
        provider = await discover(client, issuer)
        try:
            token = await client.fetch_token(
                provider.token_endpoint, code=code, code_verifier=flow.verifier
            )
        except OAuth2Error as e:
            raise SignOnFailed(f"The identity provider refused the code: {e.error}.") from e
        except httpx.HTTPError as e:
            raise ProviderUnavailable(f"The identity provider did not answer: {e}") from e
        keys = await _get_json(client, provider.jwks_uri)
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignOnFailed("The identity provider returned no ID token.")
    return validate_id_token(id_token, keys, issuer=issuer, client_id=client_id, nonce=flow.nonce)


def validate_id_token(
    id_token: str, jwks: dict[str, Any], *, issuer: str, client_id: str, nonce: str
) -> str:
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=SIGNING_ALGORITHMS)  # type: ignore[arg-type]
        claims: dict[str, Any] = decoded.claims
        JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except (JoseError, ValueError, KeyError) as e:
        raise SignOnFailed(f"The ID token is not valid: {e}") from e
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SignOnFailed("The ID token was issued to another client (azp).")
    return str(claims["sub"])
