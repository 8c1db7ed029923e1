"""Settlement: the double-entry ledger, daily settlement, statements and reconciliation (§10)."""
