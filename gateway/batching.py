"""Group commit: single operations from concurrent callers, sent together as one.

A caller submits one item and awaits its own result. While a batch is in flight, the items that
arrive queue up and go together as the next batch, so under load one round trip (one SQL
statement, one Redis pipeline) serves many callers, and a caller alone still gets one round trip
of its own. Nothing waits on a timer. The front door claims every request's nonce this way
(docs/performance.md: at 32 concurrent signed calls, a claim per call held a pooled connection
each and overran the pool).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupSender(Generic[T, R]):
    """``await sender(item)`` → that item's result from ``send(batch)``.

    ``send`` takes the queued items in arrival order and returns one result per item, in the same
    order. When it raises, every caller of that batch gets the exception and the next batch goes
    ahead as usual.
    """

    def __init__(self, send: Callable[[list[T]], Awaitable[Sequence[R]]], max_batch: int) -> None:
        self._send = send
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._sending: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        result: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, result))
        if self._sending is None:
            self._sending = asyncio.create_task(self._send_queued())
        return await result

    async def _send_queued(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    results = await self._send([item for item, _ in batch])
                except Exception as e:
                    for _, waiting in batch:
                        if not waiting.done():  # a caller that gave up has a cancelled future
                            waiting.set_exception(e)
                    continue
                for (_, waiting), result in zip(batch, results, strict=True):
                    if not waiting.done():
                        waiting.set_result(result)
        finally:
            self._sending = None
