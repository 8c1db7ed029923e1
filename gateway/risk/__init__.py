"""Risk: rules as CEL data, features over the event log, inline decisions, cases and actions.

What the rest of the gateway calls (DESIGN §8, ADR 0012):

- :func:`assess` ``(session, event_type, event)`` → :class:`Verdict` for ``transaction`` and
  ``release`` events (``verdict.raise_if_blocked()`` answers 422 ``risk_blocked``), then
  :func:`attach_transaction` once the money moved (links the event, holds on ``review``);
- :func:`assess_openings` ``(session, vault, channel, applicants)`` for account-opening rows,
  in row order (:func:`assess_candidates` ``(session, channel, candidates)`` for rows that
  passed the rules and carry their blind indexes), and :func:`rejected_opening` for a row it
  blocked;
- :func:`held_transaction_ids` for settlement;
- :func:`pending_clawbacks` for the incentive work (confirmed-fraud clawbacks to carry out).
"""

from gateway.risk.cases import pending_clawbacks
from gateway.risk.engine import (
    RiskBlocked,
    Verdict,
    assess,
    attach_transaction,
    merchant_of,
)
from gateway.risk.holds import held_transaction_ids
from gateway.risk.openings import assess_candidates, assess_openings, rejected_opening

__all__ = [
    "RiskBlocked",
    "Verdict",
    "assess",
    "assess_candidates",
    "assess_openings",
    "attach_transaction",
    "held_transaction_ids",
    "merchant_of",
    "pending_clawbacks",
    "rejected_opening",
]
