"""Scenario-finance partner gateway."""

__version__ = "0.1.0"
