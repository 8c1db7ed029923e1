"""Core-banking port (DESIGN §2): how the gateway instructs the bank's core to move money.

Two implementations of one protocol: the sandbox core on the gateway's own database (the default)
and the HTTP client for ``GATEWAY_CORE_BANKING_URL``. The standalone sandbox app
(:mod:`gateway.core_banking.app`) serves the sandbox over the same wire protocol.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core_banking.breaker import CircuitBreaker, CircuitOpen
from gateway.core_banking.http_client import HttpCoreBanking, RetryPolicy, connect
from gateway.core_banking.port import (
    CLASS_II_DAILY_LIMIT,
    CLASS_II_YEARLY_LIMIT,
    AccountResult,
    CoreBanking,
    CoreBankingRejected,
    CoreBankingUnavailable,
    ErrorCode,
    MoneyResult,
    MoneyStatus,
    ReferenceConflict,
)
from gateway.core_banking.sandbox import AccountState, SandboxCore, fund_account


def core_banking_for(session: AsyncSession, http: HttpCoreBanking | None) -> CoreBanking:
    """The port for one unit of work: the shared HTTP client when a core is configured, else a
    sandbox core on the caller's session (so its movements commit with the caller's change)."""
    return http if http is not None else SandboxCore(session)


__all__ = [
    "CLASS_II_DAILY_LIMIT",
    "CLASS_II_YEARLY_LIMIT",
    "AccountResult",
    "AccountState",
    "CircuitBreaker",
    "CircuitOpen",
    "CoreBanking",
    "CoreBankingRejected",
    "CoreBankingUnavailable",
    "ErrorCode",
    "HttpCoreBanking",
    "MoneyResult",
    "MoneyStatus",
    "ReferenceConflict",
    "RetryPolicy",
    "SandboxCore",
    "connect",
    "core_banking_for",
    "fund_account",
]
