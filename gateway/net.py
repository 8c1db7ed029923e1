"""Server-side request forgery guard for partner-supplied URLs (webhooks, biller APIs).

Checked at registration and again before every delivery, because DNS can change. In production a
URL must be https and every address its host resolves to must be public (not loopback, private,
link-local, carrier-grade NAT, multicast, reserved or a cloud metadata address) unless its host is
allowlisted. In development loopback http is allowed and hosts that do not resolve are accepted
(they fail at delivery instead).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from gateway.errors import FieldError, ValidationFailed
from gateway.settings import Settings

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
MAX_URL_LENGTH = 2048


def _is_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not (
        addr in _METADATA
        or addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or (isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT)
    )


def _reject(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, code="url_not_allowed", errors=[FieldError(field, "url_not_allowed", message)]
    )


async def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def check_outbound_url(url: str, settings: Settings, *, field: str = "url") -> None:
    """Raise 422 ``url_not_allowed`` unless ``url`` may be called by the gateway."""
    if len(url) > MAX_URL_LENGTH:
        raise _reject(field, "The URL is too long.")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise _reject(field, "The URL cannot be parsed.") from e
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host or parts.username or parts.password:
        raise _reject(field, "Give an absolute http(s) URL without credentials.")
    if host in {h.lower() for h in settings.ssrf_allowlist}:
        return
    if settings.is_production and parts.scheme != "https":
        raise _reject(field, "Only https URLs are accepted.")
    try:
        addresses = await _resolve(host, port)
    except (OSError, UnicodeError) as e:
        if settings.is_production:
            raise _reject(field, "The URL's host does not resolve.") from e
        return
    if settings.is_production:
        if not addresses or not all(_is_public(a) for a in addresses):
            raise _reject(field, "The URL points at a non-public address.")
        return
    if not all(_is_public(a) or a.is_loopback for a in addresses):
        raise _reject(field, "The URL points at a private, link-local or metadata address.")
