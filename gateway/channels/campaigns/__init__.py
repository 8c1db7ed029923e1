"""Campaigns: budgets that fund what scenarios give away, and the rules of what counts.

Scenarios ask :func:`~gateway.channels.campaigns.service.active_campaign` which campaign funds a
payment and take its subsidy with :func:`~gateway.channels.campaigns.service.draw_subsidy`, which
never lets a budget go below zero, even under concurrent payments.
"""
