"""Channel incentives: bounties, tiers and revenue shares, held and clawed back (DESIGN §7).

For risk: :func:`~gateway.channels.incentives.service.claw_back` ``(session, customer_id,
reason)`` and :func:`~gateway.channels.incentives.service.register_hold_check`.
"""
