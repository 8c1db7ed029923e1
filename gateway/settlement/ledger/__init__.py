"""The double-entry ledger every money movement the gateway instructs posts to (DESIGN §10).

It owns journals and entries (``models``), the account code scheme and sign convention
(``accounts``), posting and balances (``service``) and the trial balance (``routes``). Balances are
never stored: they are sums of entries, computed by the database. See docs/adr/0005-ledger.md.
"""
