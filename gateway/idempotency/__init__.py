"""Idempotency keys for partner POSTs (DESIGN §4): replay, reuse detection, in-flight conflicts."""
