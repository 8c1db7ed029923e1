"""The circuit breaker: opens on consecutive failures, fails fast, probes when half-open."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core_banking import (
    CircuitBreaker,
    CircuitOpen,
    CoreBankingRejected,
    CoreBankingUnavailable,
)
from gateway.core_banking.breaker import BreakerState


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Core:
    """Stands in for one call to the core, counting how often it was really made."""

    def __init__(self) -> None:
        self.calls = 0

    async def up(self) -> str:
        self.calls += 1
        return "answered"

    async def down(self) -> str:
        self.calls += 1
        raise CoreBankingUnavailable("down")

    async def refuses(self) -> str:
        self.calls += 1
        raise CoreBankingRejected("no", reason="validation_error")


async def _fail(breaker: CircuitBreaker, core: Core, times: int) -> None:
    for _ in range(times):
        with pytest.raises(CoreBankingUnavailable):
            await breaker.call(core.down)


async def test_opens_after_consecutive_failures_and_then_fails_fast() -> None:
    clock, core = Monotonic(), Core()
    breaker = CircuitBreaker(failure_threshold=3, reset_after=10, clock=clock)

    await _fail(breaker, core, 2)
    assert await breaker.call(core.up) == "answered"  # not consecutive: the count restarts
    await _fail(breaker, core, 2)
    assert breaker.state is BreakerState.CLOSED
    await _fail(breaker, core, 1)
    assert breaker.state is BreakerState.OPEN

    clock.now = 9.9
    with pytest.raises(CircuitOpen):
        await breaker.call(core.up)
    assert core.calls == 6  # the last call never reached the core


async def test_a_business_answer_counts_as_the_core_being_up() -> None:
    core = Core()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=10, clock=Monotonic())

    await _fail(breaker, core, 1)
    with pytest.raises(CoreBankingRejected):
        await breaker.call(core.refuses)
    await _fail(breaker, core, 1)

    assert breaker.state is BreakerState.CLOSED


async def test_half_open_probe_closes_on_success_and_reopens_on_failure() -> None:
    clock, core = Monotonic(), Core()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=10, clock=clock)
    await _fail(breaker, core, 1)

    clock.now = 10
    await _fail(breaker, core, 1)  # the probe failed: open again, cool-down restarts
    assert breaker.state is BreakerState.OPEN
    clock.now = 19
    with pytest.raises(CircuitOpen):
        await breaker.call(core.up)

    clock.now = 20
    assert await breaker.call(core.up) == "answered"
    assert breaker.state is BreakerState.CLOSED
    assert core.calls == 3


async def test_half_open_lets_one_probe_through_at_a_time() -> None:
    clock, core = Monotonic(), Core()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=5, clock=clock)
    await _fail(breaker, core, 1)
    clock.now = 5
    release = asyncio.Event()

    async def slow_probe() -> str:
        await release.wait()
        return "answered"

    probe = asyncio.create_task(breaker.call(slow_probe))
    await asyncio.sleep(0)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        await breaker.call(core.up)
    release.set()
    assert await probe == "answered"
    assert breaker.state is BreakerState.CLOSED


async def test_a_cancelled_probe_frees_the_probe_slot() -> None:
    clock, core = Monotonic(), Core()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=5, clock=clock)
    await _fail(breaker, core, 1)
    clock.now = 5

    probe = asyncio.create_task(breaker.call(asyncio.Event().wait))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    assert await breaker.call(core.up) == "answered"


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
