"""Money is integer fen (1/100 CNY); rounding is half-up per line, then summed (DESIGN §3)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CURRENCY = "CNY"
Fen = int


def round_half_up(value: Decimal) -> Fen:
    """Round a fractional fen amount half-up (away from zero on .5) to whole fen."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def mul_div_half_up(amount: Fen, numerator: int, denominator: int) -> Fen:
    """``amount × numerator ÷ denominator`` rounded half-up, in exact integer arithmetic."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return round_half_up(Decimal(amount) * numerator / denominator)


def basis_points(amount: Fen, bps: int) -> Fen:
    """A fee of ``bps`` basis points on ``amount``, half-up to the fen."""
    return mul_div_half_up(amount, bps, 10_000)


def yuan(amount: Fen) -> str:
    """Human-readable yuan for logs and the console, e.g. ``1234`` → ``"12.34"``."""
    sign = "-" if amount < 0 else ""
    whole, fen = divmod(abs(amount), 100)
    return f"{sign}{whole}.{fen:02d}"
