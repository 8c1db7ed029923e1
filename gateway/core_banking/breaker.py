"""A circuit breaker for the core-banking client: while the core is down, fail fast.

After ``failure_threshold`` consecutive technical failures the circuit opens and calls raise
:class:`CircuitOpen` without touching the network; after ``reset_after`` seconds one probe call is
let through (half-open): its success closes the circuit, its failure opens it again. A business
answer or a refusal counts as success: the core answered. The state is per process on purpose:
each replica protects itself and no other replica needs it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

import structlog

from gateway.core_banking.port import CoreBankingRejected, CoreBankingUnavailable

T = TypeVar("T")
log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(CoreBankingUnavailable):
    """Raised instead of calling the core while the circuit is open; nothing was sent."""


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "core_banking",
        failures: tuple[type[Exception], ...] = (CoreBankingUnavailable,),
        answers: tuple[type[Exception], ...] = (CoreBankingRejected,),
    ) -> None:
        """``failures`` are the technical errors that count against the circuit, ``answers``
        the errors that prove the counterparty answered; ``name`` prefixes the log events (the
        biller client reuses this breaker with its own errors)."""
        if failure_threshold < 1 or reset_after < 0:
            raise ValueError("failure_threshold must be ≥ 1 and reset_after ≥ 0")
        self._threshold = failure_threshold
        self._reset_after = reset_after
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._name = name
        self._failure_types = failures
        self._answer_types = answers

    def _event(self, what: str) -> str:
        return f"{self._name}.circuit_{what}"

    @property
    def state(self) -> BreakerState:
        return self._state

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` if the circuit lets it through, recording how the core answered."""
        probe = self._admit()
        try:
            result = await fn()
        except self._failure_types:
            self._on_failure()
            raise
        except self._answer_types:
            self._on_success()
            raise
        else:
            self._on_success()
            return result
        finally:
            if probe:
                self._probing = False

    def _admit(self) -> bool:
        """Let a call through, or raise; ``True`` when the call is the half-open probe."""
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._reset_after:
                raise CircuitOpen(f"The {self._name} circuit is open.")
            self._state = BreakerState.HALF_OPEN
            log.info(self._event("half_open"))
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                raise CircuitOpen(f"The {self._name} circuit is half-open; a probe is in flight.")
            self._probing = True
            return True
        return False

    def _on_success(self) -> None:
        if self._state is not BreakerState.CLOSED:
            log.info(self._event("closed"))
        self._state = BreakerState.CLOSED
        self._failures = 0

    def _on_failure(self) -> None:
        self._failures += 1
        if self._state is BreakerState.OPEN:
            return  # a call admitted before the circuit opened; the cool-down stands
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            log.warning(self._event("opened"), failures=self._failures)
