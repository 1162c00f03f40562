"""Concurrent lookups of the same kind share one database round trip.

- `Coalescer`: `get(key, item)`; the first lookup of a key runs at once, those arriving
  meanwhile go together in the next query (at most `MAX_BATCH` items); no timer. Holds
  nothing between lookups: a key's entry goes with its last query (`len`: kinds under way)

Design: docs/design/read-path.md
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
I = TypeVar("I", bound=Hashable)  # noqa: E741
R = TypeVar("R")

# Ids per query at most; more waiting go in the next query.
MAX_BATCH = 100


class Coalescer(Generic[K, I, R]):
    """`await get(key, item)`: `fetch(key, items)`'s result for `item` (None when it has none),
    with the lookups that arrive while one of the same key is running fetched together."""

    def __init__(
        self, fetch: Callable[[K, list[I]], Awaitable[dict[I, R]]], *, max_batch: int = MAX_BATCH
    ) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        # key -> the lookups waiting for the next query of that key; present while one runs.
        self._waiting: dict[K, list[tuple[I, asyncio.Future]]] = {}
        self._tasks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        """The kinds with a lookup under way (or a task still finishing one): 0 when idle, so
        the per-key maps are emptied, not grown, by any number of distinct keys."""
        return max(len(self._waiting), len(self._tasks))

    async def get(self, key: K, item: I) -> R | None:
        waiting = self._waiting.get(key)
        if waiting is not None:
            future = asyncio.get_running_loop().create_future()
            waiting.append((item, future))
            return await future
        # Nothing of this kind running: this lookup is the query, as if there were no batching.
        self._waiting[key] = []
        try:
            found = await self._fetch(key, [item])
        finally:
            self._next(key)
        return found.get(item)

    def _next(self, key: K) -> None:
        """After a query of `key`: the lookups that waited for it go in a query of their own,
        run by a task (the lookup that just finished answers its request at once)."""
        queued = self._waiting[key]
        if not queued:
            del self._waiting[key]
            return
        self._waiting[key] = []
        task = asyncio.create_task(self._run(key, queued))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: K, queued: list[tuple[I, asyncio.Future]]) -> None:
        try:
            while queued:
                batch, queued = queued[: self._max_batch], queued[self._max_batch :]
                await self._answer(key, batch)
                if not queued:
                    queued = self._waiting[key]
                    self._waiting[key] = []
            del self._waiting[key]
        except BaseException:
            # Cancelled (the service is stopping): nobody is left waiting forever.
            for _, future in (*queued, *self._waiting.pop(key, ())):
                future.cancel()
            raise

    async def _answer(self, key: K, batch: list[tuple[I, asyncio.Future]]) -> None:
        live = [(item, future) for item, future in batch if not future.done()]
        if not live:
            return
        try:
            # dict.fromkeys: each item once, in order, however many lookups asked for it.
            found = await self._fetch(key, list(dict.fromkeys(item for item, _ in live)))
        except Exception as exc:
            # Each waiting lookup fails as its own query would have.
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in live:
                future.cancel()
            raise
        for item, future in live:
            if not future.done():
                future.set_result(found.get(item))
