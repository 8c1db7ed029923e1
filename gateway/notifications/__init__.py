"""Signed webhooks to partners through the outbox, delivered at least once (DESIGN §11)."""

from gateway.notifications.service import emit

__all__ = ["emit"]
