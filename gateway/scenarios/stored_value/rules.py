"""The arithmetic of fund supervision, free of I/O so it can be tested exhaustively.

单用途商业预付卡管理办法 Art. 26 makes an issuer keep a reserve of 20% (scale), 30% (group) or
40% (brand) of its outstanding prepaid balance. The reserve is held against the balance
outstanding when a release is asked for (the regulation fixes it on a past period's balance, not
net of the release itself), so a release may take at most what the escrow holds above it: the
``releasable`` figure. Education is supervised in full (一课一销): only the value of lessons
actually given is released, so its reserve is the whole outstanding balance.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.money import Fen, mul_div_half_up

RESERVE_BP = {"scale": 2_000, "group": 3_000, "brand": 4_000}
FULL_BP = 10_000
EDUCATION = "education"
MAX_LESSONS_PER_CHARGE = 60
MAX_MONTHS_PER_CHARGE = 3


def reserve_bp(industry: str, issuer_class: str) -> int:
    return FULL_BP if industry == EDUCATION else RESERVE_BP[issuer_class]


def required_reserve(outstanding: Fen, bp: int) -> Fen:
    return mul_div_half_up(outstanding, bp, FULL_BP)


def releasable(escrow: Fen, outstanding: Fen, bp: int) -> Fen:
    """What the escrow holds above the reserve on ``outstanding`` (never negative)."""
    return max(0, escrow - required_reserve(outstanding, bp))


def lesson_value(balance: Fen, lessons_remaining: int, lessons: int) -> Fen:
    """The value of ``lessons`` of a package holding ``balance`` for ``lessons_remaining``:
    pro rata, half-up, so consuming the last lesson releases exactly what is left."""
    if not 0 < lessons <= lessons_remaining:
        raise ValueError("lessons must be within what is left of the package")
    return mul_div_half_up(balance, lessons, lessons_remaining)


def lessons_left_after_refund(balance: Fen, lessons_remaining: int, refund: Fen) -> int:
    """A refund gives back lessons in proportion, rounded up so any money left keeps a lesson."""
    left = balance - refund
    if left <= 0 or lessons_remaining == 0:
        return 0
    return -(-lessons_remaining * left // balance)


def pro_rata(balances: Sequence[Fen], available: Fen) -> list[Fen]:
    """Share ``available`` over ``balances`` (all of each when there is enough).

    Cumulative half-up rounding: each share is the rounded running total less the previous
    one, so the shares sum to exactly ``available`` and none exceeds its balance.
    """
    total = sum(balances)
    if available >= total:
        return list(balances)
    shares: list[Fen] = []
    running = paid = 0
    for b in balances:
        running += b
        upto = mul_div_half_up(running, max(available, 0), total)
        shares.append(upto - paid)
        paid = upto
    return shares
