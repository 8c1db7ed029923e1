"""Typed dependency markers shared by every route module (provided once on the app)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.staff.service import StaffIdentity

DbSession = NamedDependency[AsyncSession]
Staff = NamedDependency[StaffIdentity]
