"""Every module that registers job handlers, imported by whichever process runs workers."""

from __future__ import annotations

import importlib

HANDLER_MODULES = (
    "gateway.notifications.service",
    "gateway.customers.batches",
    "gateway.settlement.runs",
    "gateway.settlement.payouts",
    "gateway.channels.lifecycle.jobs",
    "gateway.channels.risk_links",
)


def register_all() -> None:
    from gateway.scenarios.base import load  # noqa: PLC0415

    for module in HANDLER_MODULES:
        importlib.import_module(module)
    # A worker process (`gateway worker`) never builds the app: without the adapters, a batch
    # would open customers without their scenario's hooks (no campus card, no community owner).
    load()
