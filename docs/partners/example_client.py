"""A partner's first integration with the gateway: token, then signed calls.

Needs: httpx, authlib, joserfc and http-message-signatures. Configure with environment variables:
GATEWAY_URL (e.g. https://gateway.example), PARTNER_CLIENT_ID, PARTNER_PRIVATE_JWK (path to your
private key as a JWK with its "kid"). Prints your partner profile and sets your webhook URL.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import uuid
from pathlib import Path

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms
from joserfc.jwk import import_key

ALGORITHMS = {
    "OKP": algorithms.ED25519,
    "EC": algorithms.ECDSA_P256_SHA256,
    "RSA": algorithms.RSA_V1_5_SHA256,
}
JWT_ALGORITHMS = {"OKP": "Ed25519", "EC": "ES256", "RSA": "RS256"}


class OneKey(HTTPSignatureKeyResolver):
    def __init__(self, private_key: object) -> None:
        self.private_key = private_key

    def resolve_private_key(self, key_id: str) -> object:
        return self.private_key


def sign(request: httpx.Request, jwk: dict[str, str], base_url: str) -> None:
    """Sign a request per RFC 9421 with the covered components the gateway requires."""
    body = request.read()
    # With a body the library adds Content-Digest (RFC 9530, sha-256) and covers it.
    covered = ["@method", "@target-uri", *(["content-type"] if body else [])]
    key = import_key(jwk).private_key  # a cryptography private key object
    signer = HTTPMessageSigner(signature_algorithm=ALGORITHMS[jwk["kty"]], key_resolver=OneKey(key))
    # @target-uri must be the gateway's public URL + path + query exactly as sent.
    request.url = httpx.URL(base_url + request.url.raw_path.decode())
    signer.sign(
        request,
        key_id=jwk["kid"],
        created=datetime.datetime.now(datetime.UTC),
        nonce=uuid.uuid4().hex,
        label="sig1",
        covered_component_ids=covered,
        body=body or None,
    )


async def main(base_url: str, client_id: str, jwk: dict[str, str]) -> int:
    token_url = f"{base_url}/v1/oauth/token"

    # 1. A token with private_key_jwt (RFC 7523): no shared secret travels.
    async with AsyncOAuth2Client(
        client_id=client_id,
        client_secret=import_key(jwk),
        token_endpoint_auth_method=PrivateKeyJWT(token_url, alg=JWT_ALGORITHMS[jwk["kty"]]),
    ) as oauth:
        token = await oauth.fetch_token(token_url, grant_type="client_credentials")

    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token['access_token']}"}
    ) as api:
        # 2. A signed GET.
        request = api.build_request("GET", "/v1/partners/me")
        sign(request, jwk, base_url)
        me = await api.send(request)
        me.raise_for_status()
        print(json.dumps(me.json(), ensure_ascii=False, indent=2))

        # 3. A signed PUT with a body (Content-Digest and Content-Type are covered too).
        body = {
            "webhook_url": os.environ.get("PARTNER_WEBHOOK_URL", "https://partner.example/hooks")
        }
        request = api.build_request("PUT", "/v1/partners/me/webhook", json=body)
        sign(request, jwk, base_url)
        updated = await api.send(request)
        updated.raise_for_status()
        print("webhook:", updated.json()["webhook_url"])
    return 0


if __name__ == "__main__":
    private_jwk = json.loads(Path(os.environ["PARTNER_PRIVATE_JWK"]).read_text())
    sys.exit(
        asyncio.run(
            main(
                os.environ["GATEWAY_URL"].rstrip("/"), os.environ["PARTNER_CLIENT_ID"], private_jwk
            )
        )
    )
