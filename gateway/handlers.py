"""Every module that registers job handlers, imported by whichever process runs workers."""

from __future__ import annotations

import importlib

HANDLER_MODULES = (
    "gateway.notifications.service",
    "gateway.customers.batches",
    "gateway.settlement.runs",
    "gateway.settlement.payouts",
    "gateway.channels.lifecycle.jobs",
)


def register_all() -> None:
    for module in HANDLER_MODULES:
        importlib.import_module(module)
