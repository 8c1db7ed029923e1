"""Customers: single and batch account opening through the core bank, with a PII vault (DESIGN §6)."""
