"""Channels, attribution and campaigns: who brought which customers, at what cost (DESIGN §7)."""
