"""Imports every table so the metadata is complete (Alembic, tests). Core contexts only."""

from gateway.audit.models import AuditRecord
from gateway.jobs.models import Job
from gateway.staff.models import StaffUser

__all__ = ["AuditRecord", "Job", "StaffUser"]
