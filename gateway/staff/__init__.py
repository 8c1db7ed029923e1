"""Bank staff identity: local accounts, session tokens and role guards (DESIGN §4 Staff)."""
