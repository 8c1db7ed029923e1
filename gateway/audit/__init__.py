"""Append-only audit trail of staff decisions and of changes that move money or access."""

from gateway.audit.service import record

__all__ = ["record"]
