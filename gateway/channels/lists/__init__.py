"""Marketing lists (名单制), customer value tiers (客户分层) and the daily moments of truth."""
