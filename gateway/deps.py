"""Typed dependency markers shared by every route module (provided once on the app)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.front_door import PartnerContext
from gateway.pii import PiiVault
from gateway.settings import Settings
from gateway.staff.service import StaffIdentity

DbSession = NamedDependency[AsyncSession]
Staff = NamedDependency[StaffIdentity]
CurrentPartner = NamedDependency[PartnerContext]
Vault = NamedDependency[PiiVault]
AppSettings = NamedDependency[Settings]
