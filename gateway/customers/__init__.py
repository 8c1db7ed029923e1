"""Customers: single and batch account opening through the core bank (DESIGN §6)."""
