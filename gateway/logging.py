"""structlog configuration: JSON in production, console in development, PII masked always.

The request id, partner id and actor are bound per request into contextvars by middleware, so
every event carries them without being passed around. :func:`mask_pii` runs last before
rendering: it masks values under known PII keys and any 18-character resident ID or 11-digit
mobile number that appears inside other strings (including exception text).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from gateway.pii import mask_account, mask_id_number, mask_name, mask_phone

_ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d)\d{16}([\dXx])(?![0-9A-Za-z])")
_PHONE_PATTERN = re.compile(r"(?<!\d)(1[3-9]\d)\d{6}(\d{2})(?!\d)")
_KEY_MASKS = {
    "id_number": mask_id_number,
    "phone": mask_phone,
    "mobile": mask_phone,
    "account_no": mask_account,
    "card_no": mask_account,
    "name": mask_name,
    "holder_name": mask_name,
    "legal_representative": mask_name,
}
_SECRET_KEYS = frozenset(
    {"password", "client_secret", "secret", "token", "authorization", "pii_key", "secret_key"}
)


def mask_text(text: str) -> str:
    text = _ID_PATTERN.sub(lambda m: m.group(1) + "*" * 16 + m.group(2), text)
    return _PHONE_PATTERN.sub(lambda m: m.group(1) + "*" * 6 + m.group(2), text)


def _mask_value(key: str, value: Any) -> Any:
    lowered = key.lower()
    if lowered in _SECRET_KEYS:
        return "[redacted]"
    if isinstance(value, str):
        masker = _KEY_MASKS.get(lowered)
        return masker(value) if masker else mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    return value


def mask_pii(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = _mask_value(key, event_dict[key])
    return event_dict


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_pii,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
