"""The adapter protocol and its registry.

An adapter is a small immutable object: its key, its routes (mounted under
``/v1/scenarios/<slug>/`` behind the partner front door, requiring scope ``scenario:<key>``), a
hook for customers opened through it, the risk features it contributes and how its transactions
settle. Core modules only ever talk to the registry; they never import an adapter. Built-in
adapters are listed in :data:`BUILTIN` and loaded by :func:`load`; a deployment (or a test) adds
its own with :func:`register` before the app is created.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from litestar import Router
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

BUILTIN = (
    "gateway.scenarios.community",
    "gateway.scenarios.fuel",
    "gateway.scenarios.stored_value",
    "gateway.scenarios.utilities",
)
# Scenario keys partners may apply for although their adapter has not shipped yet (DESIGN §1).
CONTRACT_KEYS = ("community", "fuel", "stored_value", "campus", "utilities")


@dataclass(frozen=True, slots=True)
class OpenedCustomer:
    """What an adapter learns about a customer opened (or recognised) through its scenario."""

    partner_id: str
    customer_id: str
    sub_channel: str | None
    attributes: Mapping[str, Any]


class ScenarioAdapter(Protocol):
    @property
    def key(self) -> str:
        """The scenario key (``stored_value``); its URL slug writes ``_`` as ``-``."""
        ...

    def routes(self) -> Sequence[ControllerRouterHandler]:
        """The adapter's partner routes, relative to ``/v1/scenarios/<slug>``."""
        ...

    async def check_sub_channel(
        self, session: AsyncSession, partner_id: str, sub_channel: str | None
    ) -> str | None:
        """Before anything is opened: an error code if ``sub_channel`` is not the partner's."""
        ...

    async def on_customer_opened(self, session: AsyncSession, customer: OpenedCustomer) -> None:
        """Create what the scenario needs for a new or recognised customer (flush only)."""
        ...

    def risk_features(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Scenario features for the risk engine, computed from an event's own data."""
        ...


def slug(key: str) -> str:
    return key.replace("_", "-")


_ADAPTERS: dict[str, ScenarioAdapter] = {}
_ADMIN_ROUTES: dict[str, tuple[ControllerRouterHandler, ...]] = {}


def register(adapter: ScenarioAdapter) -> ScenarioAdapter:
    existing = _ADAPTERS.get(adapter.key)
    if existing is not None and type(existing) is not type(adapter):
        raise ValueError(f"scenario {adapter.key!r} is already registered")
    _ADAPTERS[adapter.key] = adapter
    return adapter


def load() -> dict[str, ScenarioAdapter]:
    """Import the built-in adapters (each registers itself) and return every registered one."""
    for module in BUILTIN:
        importlib.import_module(module)
    return dict(_ADAPTERS)


def adapter_for(key: str) -> ScenarioAdapter | None:
    return _ADAPTERS.get(key)


def known_keys() -> frozenset[str]:
    return frozenset(CONTRACT_KEYS) | frozenset(_ADAPTERS)


def routers() -> list[Router]:
    """One router per adapter; each route requires the ``scenario:<key>`` scope."""
    return [
        Router(
            path=f"/scenarios/{slug(a.key)}",
            route_handlers=list(a.routes()),
            opt={"scope": f"scenario:{a.key}"},
        )
        for a in load().values()
    ]


def register_admin_routes(key: str, handlers: Sequence[ControllerRouterHandler]) -> None:
    """Staff routes of an adapter (absolute ``/admin/v1/…`` paths, each guarding its own role),
    for the few staff actions a scenario owns (a stored-value merchant's wind-down)."""
    _ADMIN_ROUTES[key] = tuple(handlers)


def admin_routes() -> list[ControllerRouterHandler]:
    load()
    return [h for handlers in _ADMIN_ROUTES.values() for h in handlers]


def unregister(key: str) -> None:
    """Remove an adapter (tests that register their own)."""
    _ADAPTERS.pop(key, None)
    _ADMIN_ROUTES.pop(key, None)
