"""The adapter protocol and its registry.

An adapter is a small immutable object: its key, its routes (mounted under
``/v1/scenarios/<slug>/`` behind the partner front door, requiring scope ``scenario:<key>``), a
hook for customers opened through it, the risk features it contributes and how its transactions
settle. Core modules only ever talk to the registry; they never import an adapter. Built-in
adapters are listed in :data:`BUILTIN` and loaded by :func:`load`; a deployment (or a test) adds
its own with :func:`register` before the app is created.

Two hooks are optional, so an adapter that has no use for them does not carry stubs: an adapter
that is a :class:`ChecksOpenings` may refuse a row before anything is opened (its attributes are
wrong, or they collide with another person's), and one that is an :class:`ExcludesFromCredit`
names customers no credit product may be offered to (campus students, DESIGN §9). Core modules
reach them through :func:`opening_refusal` and :func:`credit_excluded`.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from litestar import Router
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.customers.rules import RowError

BUILTIN = (
    "gateway.scenarios.community",
    "gateway.scenarios.fuel",
    "gateway.scenarios.stored_value",
    "gateway.scenarios.campus",
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


@dataclass(frozen=True, slots=True)
class ProposedOpening:
    """A row about to be opened through a scenario, before the core is asked for anything.

    ``customer_id`` is the person already at the bank when the ID number is recognised, else
    the id the new customer will get (``None`` only where no id is known yet);
    ``credit_campaign`` says the opening names a credit-card or consumer-loan campaign.
    """

    partner_id: str
    sub_channel: str | None
    customer_id: str | None
    attributes: Mapping[str, Any]
    credit_campaign: bool = False


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


@runtime_checkable
class ChecksOpenings(Protocol):
    async def check_opening(
        self, session: AsyncSession, opening: ProposedOpening
    ) -> RowError | None:
        """Why this row must not be opened (the row's outcome), or ``None``; reads only."""
        ...


@runtime_checkable
class ExcludesFromCredit(Protocol):
    async def credit_excluded(
        self, session: AsyncSession, customer_ids: Collection[str]
    ) -> set[str]:
        """Those of ``customer_ids`` no credit product may be marketed or granted to."""
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


async def opening_refusal(
    session: AsyncSession, scenario: str, opening: ProposedOpening
) -> RowError | None:
    """Ask the scenario's adapter whether it refuses a row (``None`` when it has no such hook)."""
    adapter = _ADAPTERS.get(scenario)
    if isinstance(adapter, ChecksOpenings):
        return await adapter.check_opening(session, opening)
    return None


async def credit_excluded(session: AsyncSession, customer_ids: Collection[str]) -> set[str]:
    """Customers excluded from every credit list, campaign and grant, by any adapter's rule."""
    excluded: set[str] = set()
    if not customer_ids:
        return excluded
    for adapter in _ADAPTERS.values():
        if isinstance(adapter, ExcludesFromCredit):
            excluded |= await adapter.credit_excluded(session, customer_ids)
    return excluded


async def is_credit_excluded(session: AsyncSession, customer_id: str) -> bool:
    return customer_id in await credit_excluded(session, (customer_id,))


def unregister(key: str) -> None:
    """Remove an adapter (tests that register their own)."""
    _ADAPTERS.pop(key, None)
    _ADMIN_ROUTES.pop(key, None)
