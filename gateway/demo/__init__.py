"""``gateway demo``: add a realistic month across the scenarios to the database (DESIGN §13)."""
