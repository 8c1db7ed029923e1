"""Ledger account codes: ``<type>[:<qualifier>…]``, a stable string per account.

Accounts are not rows: an account exists once an entry names it, and its balance is the sum of its
entries. The code says what the account is, so a prefix selects a family (``partner_payable:ptn_…:``
is every scenario of one partner). Amounts are signed fen, **debit positive, credit negative**; a
balance is the plain sum, so a credit-normal account (money the bank owes or has earned) normally
shows a negative balance.

- ``customer_funds`` (debit): what the gateway had the core take from customers' accounts
  (payments, top-ups) less what it gave back (refunds, reversals);
- ``core_clearing`` (credit): what was paid out through the core to accounts outside the ledger
  (partners' settlement accounts);
- ``partner_payable:<partner_id>:<scenario>`` (credit): owed to a partner for one scenario until
  settled and paid;
- ``merchant_escrow:<partner_id>`` (credit): prepaid (stored-value) money held under supervision
  for a merchant;
- ``card_float:<partner_id>`` (credit): money customers moved onto a partner's closed-loop cards
  (campus cards), owed to the cardholders until spent at the partner's merchants or withdrawn;
- ``subsidy_budget:<campaign_id>`` (debit): what a campaign has spent on subsidies and incentives,
  so what is left is the campaign's budget less this balance;
- ``incentive_payable:<partner_id>`` (credit): incentives accrued to a partner and not yet paid
  (a clawback reverses them);
- ``incentive_expense:<partner_id>`` (debit): what the bank has spent on a partner's channel
  incentives, net of clawbacks (the other side of ``incentive_payable``);
- ``fee_income`` (credit): fees the bank earned on partner settlements;
- ``suspense`` (either side): reconciliation differences parked until finance resolves them.

Customers have one control account rather than one each: the core bank keeps customer balances,
each journal names its transaction, and the trial balance stays a page long, not a million rows.
"""

from __future__ import annotations

import re
from enum import StrEnum


class AccountType(StrEnum):
    CUSTOMER_FUNDS = "customer_funds"
    CORE_CLEARING = "core_clearing"
    PARTNER_PAYABLE = "partner_payable"
    MERCHANT_ESCROW = "merchant_escrow"
    CARD_FLOAT = "card_float"
    SUBSIDY_BUDGET = "subsidy_budget"
    INCENTIVE_PAYABLE = "incentive_payable"
    INCENTIVE_EXPENSE = "incentive_expense"
    FEE_INCOME = "fee_income"
    SUSPENSE = "suspense"


# What qualifies each type, in order; a code must carry exactly these.
QUALIFIERS: dict[AccountType, tuple[str, ...]] = {
    AccountType.CUSTOMER_FUNDS: (),
    AccountType.CORE_CLEARING: (),
    AccountType.PARTNER_PAYABLE: ("partner_id", "scenario"),
    AccountType.MERCHANT_ESCROW: ("partner_id",),
    AccountType.CARD_FLOAT: ("partner_id",),
    AccountType.SUBSIDY_BUDGET: ("campaign_id",),
    AccountType.INCENTIVE_PAYABLE: ("partner_id",),
    AccountType.INCENTIVE_EXPENSE: ("partner_id",),
    AccountType.FEE_INCOME: (),
    AccountType.SUSPENSE: (),
}
MAX_CODE_LENGTH = 120
# Lower case only: SQLite's LIKE ignores ASCII case, so mixed case would blur prefix queries.
_QUALIFIER = re.compile(r"[a-z0-9_]+")


def account(kind: AccountType, *qualifiers: str) -> str:
    """The code of an account, e.g. ``account(AccountType.MERCHANT_ESCROW, "ptn_…")``."""
    code = ":".join((kind.value, *qualifiers))
    account_type(code)
    return code


def account_type(code: str) -> AccountType:
    """Parse and check a code: a known type with exactly its qualifiers; ``ValueError`` if not."""
    head, *qualifiers = code.split(":")
    try:
        kind = AccountType(head)
    except ValueError:
        raise ValueError(f"unknown account type in {code!r}") from None
    expected = QUALIFIERS[kind]
    if len(qualifiers) != len(expected):
        raise ValueError(f"{kind.value} accounts are qualified by ({', '.join(expected)})")
    if not all(_QUALIFIER.fullmatch(q) for q in qualifiers) or len(code) > MAX_CODE_LENGTH:
        raise ValueError(f"malformed account code {code!r}")
    return kind
