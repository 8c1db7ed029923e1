"""Group commit: each caller gets its own result; a failed batch fails only its own callers."""

from __future__ import annotations

import asyncio

import pytest

from gateway.batching import GroupSender


class Recorder:
    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail_first = fail_first

    async def send(self, batch: list[int]) -> list[int]:
        self.batches.append(batch)
        await asyncio.sleep(0.01)  # a round trip, during which more callers arrive
        if self.fail_first and len(self.batches) == 1:
            raise ConnectionError("lost the connection")
        return [n * 10 for n in batch]


async def test_a_lone_call_is_sent_alone() -> None:
    recorder = Recorder()
    sender = GroupSender(recorder.send, max_batch=10)

    assert await sender(1) == 10
    assert await sender(2) == 20
    assert recorder.batches == [[1], [2]]


async def test_calls_arriving_during_a_round_trip_go_together_in_order() -> None:
    recorder = Recorder()
    sender = GroupSender(recorder.send, max_batch=10)

    results = await asyncio.gather(*(sender(n) for n in range(25)))

    assert results == [n * 10 for n in range(25)]
    assert recorder.batches == [list(range(0, 10)), list(range(10, 20)), list(range(20, 25))]


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_goes_ahead() -> None:
    recorder = Recorder(fail_first=True)
    sender = GroupSender(recorder.send, max_batch=10)

    first = asyncio.create_task(sender(1))
    await asyncio.sleep(0)
    later = [asyncio.create_task(sender(n)) for n in (2, 3)]

    with pytest.raises(ConnectionError):
        await first
    assert [await t for t in later] == [20, 30]


async def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    recorder = Recorder()
    sender = GroupSender(recorder.send, max_batch=10)

    first = asyncio.create_task(sender(1))
    await asyncio.sleep(0)
    quitter, stayer = asyncio.create_task(sender(2)), asyncio.create_task(sender(3))
    await asyncio.sleep(0)
    quitter.cancel()

    assert await first == 10
    assert await stayer == 30
    assert quitter.cancelled()
