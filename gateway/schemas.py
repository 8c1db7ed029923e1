"""Base request shape: unknown fields are refused so nothing is ever silently stored."""

from __future__ import annotations

import msgspec


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for every request body."""
