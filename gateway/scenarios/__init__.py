"""Scenario adapters: one module per scenario behind one protocol and a registry (DESIGN §2)."""
